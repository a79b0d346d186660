/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expr.h"
#include "workflow-value.h"

/* Workflow files: the GitHub Actions subset runner-agent runs (see runnerctl(1) and the README),
 * loaded from YAML text into a typed model. Pure: the caller reads the file. */

/* Limits, each reported with a clear error when exceeded. GitHub allows 256 jobs per run and 1000
 * steps per job; the rest bound memory and time for any input. */
#define WORKFLOW_MAX_SIZE (1024U * 1024U)
#define WORKFLOW_MAX_JOBS 256U
#define WORKFLOW_MAX_STEPS 1000U
#define WORKFLOW_MAX_DEPTH 32U
#define WORKFLOW_MAX_STRING (256U * 1024U)
#define WORKFLOW_MAX_NODES 100000U /* YAML nodes visited, aliases counted each time they are used */
#define WORKFLOW_MAX_ERRORS 100U
#define WORKFLOW_MAX_ID 100U
#define WORKFLOW_MAX_TIMEOUT_MINUTES 10080U /* one week */
#define WORKFLOW_DEFAULT_JOB_TIMEOUT_MINUTES 360U
#define WORKFLOW_MAX_DISPLAY_NAME \
        1000U /* characters of a script's line in a step's name, as GitHub's runner */

typedef struct WorkflowError {
        WorkflowPos pos;
        char *message;
} WorkflowError;

typedef struct WorkflowErrors {
        WorkflowError *errors; /* sorted by position */
        size_t n;
        bool truncated; /* more than WORKFLOW_MAX_ERRORS; the last one says so */
} WorkflowErrors;

void workflow_errors_done(WorkflowErrors *e);

/* A string that may hold ${{ }}: the text as written and its compiled template. */
typedef struct WorkflowString {
        char *raw;
        ExprTemplate *template;
        WorkflowPos pos;
} WorkflowString;

typedef struct WorkflowVar {
        char *name;
        WorkflowString value;
} WorkflowVar;

typedef struct WorkflowVars {
        WorkflowVar *items; /* in file order */
        size_t n;
} WorkflowVars;

typedef struct WorkflowCondition {
        char *raw;      /* NULL when the key is absent */
        ExprNode *node; /* with the implicit success() applied; success() when absent */
        WorkflowPos pos;
} WorkflowCondition;

typedef enum WorkflowStepKind {
        WORKFLOW_STEP_RUN,      /* run: a script run by a shell */
        WORKFLOW_STEP_CHECKOUT, /* uses: actions/checkout@…, built in (README, "The run's source") */
        WORKFLOW_STEP_ACTION,   /* uses: ./path or owner/repo[/path]@ref (README, "Actions") */
} WorkflowStepKind;

/* What an action step uses, checked when loading: GitHub's owner and repository names, a ref without
 * whitespace or "..", paths without ".." components. */
typedef struct WorkflowActionRef {
        char *owner, *repo; /* NULL for a local action */
        char *path; /* a repository action's sub-directory (NULL: its root); a local action's path as written
                       ("./x/y") */
        char *ref;  /* tag, branch or commit; NULL for a local action */
} WorkflowActionRef;

/* with: of actions/checkout, each raw NULL when absent (may hold ${{ }}). */
typedef struct WorkflowCheckout {
        WorkflowString path;        /* under the workspace; default the workspace */
        WorkflowString clean;       /* true (default) or false */
        WorkflowString fetch_depth; /* commits of history; 0: all; default 1 */
} WorkflowCheckout;

typedef struct WorkflowStep {
        unsigned number; /* 1-based, in file order */
        WorkflowStepKind kind;
        char *uses;                /* as written, for a uses: step */
        WorkflowPos uses_pos;      /* of what uses: says */
        WorkflowCheckout checkout; /* WORKFLOW_STEP_CHECKOUT */
        WorkflowActionRef action;  /* WORKFLOW_STEP_ACTION */
        WorkflowVars with;         /* WORKFLOW_STEP_ACTION: its inputs, in file order (may hold ${{ }}) */
        /* as written, or GitHub's generated __run, __run_2, … (run: steps and actions/checkout),
         * __owner_repo, __owner_repo_2, … or __self, __self_2, … (other actions) */
        char *id;
        bool id_generated;
        WorkflowString name; /* raw NULL when absent */
        /* What the step is called until it has started: its name as written, or, like on GitHub, "Run "
         * and the first line of its script or what it uses as written (generated ids stay ids). */
        char *display_name;
        WorkflowCondition condition;
        WorkflowString run;
        char *shell;      /* the command line with {0} for the script file */
        char *shell_name; /* bash, sh, python, pwsh; NULL for a custom command */
        WorkflowVars env;
        WorkflowString working_directory; /* raw NULL: the job's default, else the workspace */
        uint64_t timeout_usec;            /* 0: none but the job's */
        bool continue_on_error;
        WorkflowPos pos;
} WorkflowStep;

/* strategy: (README, "Matrix jobs") */
typedef struct WorkflowStrategy {
        WorkflowValue *matrix; /* NULL without a matrix */
        bool fail_fast;        /* default true */
        unsigned max_parallel; /* 0: no limit */
        /* The combinations of a matrix without ${{ }}, expanded when loading to check it; one with
         * ${{ }} is expanded when its job becomes ready, and this is 0. */
        size_t n_combinations;
        WorkflowPos pos;
} WorkflowStrategy;

/* concurrency: at the workflow's level or a job's (README, the workflow-language table). */
#define WORKFLOW_MAX_CONCURRENCY_GROUP 400U /* characters a group name must stay under */
typedef struct WorkflowConcurrency {
        WorkflowString group;              /* may hold ${{ }} */
        WorkflowString cancel_in_progress; /* raw NULL: false; true, false, or ${{ }} */
        WorkflowPos pos;
} WorkflowConcurrency;

typedef struct WorkflowJob {
        unsigned number; /* 1-based, in file order: j<N> in unit names */
        char *id;
        WorkflowString name;
        char **needs;        /* job ids */
        size_t *needs_index; /* into Workflow.jobs */
        WorkflowPos *needs_pos;
        size_t n_needs;
        WorkflowCondition condition;
        WorkflowVars env;
        WorkflowVars outputs;
        uint64_t timeout_usec; /* GitHub's default of 360 minutes when not given */
        bool continue_on_error;
        char *runs_on;                    /* recorded, not interpreted */
        WorkflowStrategy *strategy;       /* NULL when absent */
        WorkflowConcurrency *concurrency; /* NULL when absent */
        WorkflowStep *steps;
        size_t n_steps;
        WorkflowPos pos;
} WorkflowJob;

typedef struct Workflow {
        char *name; /* NULL when absent */
        char **on;  /* the event names, recorded */
        size_t n_on;
        WorkflowVars env;
        WorkflowConcurrency *concurrency; /* NULL when absent */
        WorkflowJob *jobs;
        size_t n_jobs;
} Workflow;

/* Loads a workflow. Returns 0, or -EINVAL with every problem found in errors (when given), or
 * -ENOMEM. */
int workflow_load(const char *text, size_t len, Workflow **ret, WorkflowErrors *errors);

/* What runner-agent validates but does not run: a matrix without ${{ }} whose
 * combinations were all excluded. Each such place is added to errors (when given) and -EOPNOTSUPP returned.
 * The daemon refuses such a workflow; runnerctl validate accepts it. */
int workflow_check_runnable(const Workflow *w, WorkflowErrors *errors);

Workflow *workflow_free(Workflow *w);
static inline void workflow_freep(Workflow **w) {
        if (*w)
                *w = workflow_free(*w);
}

const WorkflowJob *workflow_find_job(const Workflow *w, const char *id);

/* GitHub's name for a step without one: "Run " and the first line of script, leading whitespace
 * trimmed, cut after WORKFLOW_MAX_DISPLAY_NAME characters (never inside a UTF-8 sequence). */
int workflow_script_display_name(const char *script, char **ret);

/* The parse options for each place an expression may appear, following GitHub's context
 * availability table. */
extern const ExprParseOptions workflow_expr_job_if;
extern const ExprParseOptions workflow_expr_step;
extern const ExprParseOptions workflow_expr_step_if;
