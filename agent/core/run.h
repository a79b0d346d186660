/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "action.h"
#include "annotation.h"
#include "expr-value.h"
#include "mask.h"
#include "workflow.h"

/* One run of a workflow: the coordinator (job graph, job conditions, the parallel-jobs budget, the
 * force deadline) and the executors (per job: step conditions, step results, file commands, the
 * escalation of a step's cancellation) as one pure state machine. Events come in as function calls (a
 * step started, exited, failed to start; its scope is empty; a job's leftovers are gone; a timer
 * fired; the run is cancelled), each with the time; decisions come out as actions for the agent to
 * carry out. No system calls, no clock, no logging: the agent does all of that. The cancellation
 * itself (README, Cancellation) is in cancel.c. */

/* The time of an event on both clocks: realtime for the timestamps people read, monotonic for the
 * deadlines of a cancellation and of timeouts. */
typedef struct RunTime {
        uint64_t realtime;
        uint64_t monotonic;
} RunTime;

typedef enum RunStatus {
        RUN_STATUS_QUEUED,
        RUN_STATUS_IN_PROGRESS,
        RUN_STATUS_COMPLETED,
        _RUN_STATUS_MAX,
} RunStatus;

/* GitHub's words. NONE: not concluded yet. */
typedef enum RunConclusion {
        RUN_CONCLUSION_NONE,
        RUN_CONCLUSION_SUCCESS,
        RUN_CONCLUSION_FAILURE,
        RUN_CONCLUSION_CANCELLED,
        RUN_CONCLUSION_SKIPPED,
        _RUN_CONCLUSION_MAX,
} RunConclusion;

/* Where a step's cancellation stands (README, Cancellation: the escalation of step 2, the force
 * deadline of step 4). */
typedef enum RunCancelStage {
        RUN_CANCEL_NONE,
        RUN_CANCEL_PENDING,   /* decided before the entry process ran: the step waits for it, or its end */
        RUN_CANCEL_INTERRUPT, /* SIGINT sent; SIGTERM at the step's timer */
        RUN_CANCEL_TERMINATE, /* SIGTERM sent; the kill at the step's timer */
        RUN_CANCEL_KILL,      /* the scope's cgroup killed: the step waits for its exit and populated 0 */
        RUN_CANCEL_FORCE,     /* the run's slice was killed (the force deadline) */
} RunCancelStage;

/* Why something is cancelled (README, Cancellation: "Every cancellation says why"). */
typedef enum RunCancelReason {
        RUN_CANCEL_REASON_NONE,
        RUN_CANCEL_REASON_USER,         /* runnerctl cancel */
        RUN_CANCEL_REASON_FORCE,        /* runnerctl cancel --force */
        RUN_CANCEL_REASON_DEADLINE,     /* the force deadline after a cancel request passed */
        RUN_CANCEL_REASON_JOB_TIMEOUT,  /* the job's timeout-minutes */
        RUN_CANCEL_REASON_STEP_TIMEOUT, /* the step's timeout-minutes */
        RUN_CANCEL_REASON_FAIL_FAST,    /* a sibling of a matrix job failed */
        RUN_CANCEL_REASON_AGENT_STOP,   /* systemctl stop runner-agent (not a restart) */
        RUN_CANCEL_REASON_CONCURRENCY,  /* a newer run or job of its concurrency group */
        _RUN_CANCEL_REASON_MAX,
} RunCancelReason;

const char *run_cancel_reason_to_string(RunCancelReason r);   /* NULL for NONE */
RunCancelReason run_cancel_reason_from_string(const char *s); /* NONE if unknown */

/* Where a run or a job stands in its concurrency group (README, "Concurrency groups"). */
typedef enum RunGroupState {
        RUN_GROUP_NONE,    /* no group, or not evaluated yet */
        RUN_GROUP_PENDING, /* waits for the group: counts as not started */
        RUN_GROUP_HELD,    /* holds it */
} RunGroupState;

typedef struct RunGroup {
        char *name; /* evaluated; NULL: none (yet) */
        bool cancel_in_progress;
        RunGroupState state;
} RunGroup;

/* What a step is to its job (README, "Actions"). */
typedef enum RunStepRole {
        RUN_STEP_MAIN, /* a step of the workflow, or of a composite action */
        RUN_STEP_PRE,  /* a JavaScript action's pre:, at the job's start */
        RUN_STEP_POST, /* a JavaScript action's post:, at the job's end, in reverse order */
} RunStepRole;

/* An action the agent loaded for a uses: step (README, "Actions"); shared by the step and its pre and
 * post steps. */
typedef struct RunLoadedAction {
        unsigned n_ref;
        Action *action;
        char *dir;        /* where the step finds it: GITHUB_ACTION_PATH */
        char *repository; /* owner/repo, NULL for a local action */
        char *ref;        /* as in uses:, NULL for a local action */
        char *text;       /* the action.yml as read, kept for a restarted agent */
} RunLoadedAction;

RunLoadedAction *run_loaded_action_ref(RunLoadedAction *a);
RunLoadedAction *run_loaded_action_unref(RunLoadedAction *a);
static inline void run_loaded_action_unrefp(RunLoadedAction **a) {
        if (*a)
                *a = run_loaded_action_unref(*a);
}

typedef struct RunStep {
        const WorkflowStep *def; /* PRE and POST: their action's step's */
        unsigned number;         /* 1-based, unique in the job: s<N> of unit and file names */
        RunStatus status;
        RunConclusion outcome;             /* before continue-on-error */
        RunConclusion conclusion;          /* after it */
        char *name;                        /* the evaluated display name, once started */
        char *unit;                        /* the scope, once the step was started */
        char *message;                     /* why the step failed without an exit status */
        int exit_code;                     /* -1: none */
        int exit_signal;                   /* 0: none */
        uint64_t started_at, completed_at; /* CLOCK_REALTIME µs, 0: not yet */
        ExprValue *outputs;                /* object */
        bool entry_running;                /* run_step_started() came */
        RunCancelStage cancel_stage;
        bool timed_out;          /* cancelled by its timeout-minutes: concludes failure */
        bool exited, emptied;    /* in the KILL stage: which of the two it waits for has come */
        uint64_t cancel_began;   /* monotonic µs */
        uint64_t timer;          /* monotonic µs deadline of the step's timer, 0: none */
        Annotation *annotations; /* ::error:: and friends (README, "Workflow commands") */
        size_t n_annotations;
        RunStepRole role;
        size_t parent;           /* the composite action's step it is a step of; SIZE_MAX: the job's */
        size_t main;             /* PRE and POST: their action's step */
        RunLoadedAction *action; /* a uses: step's action, once loaded; PRE and POST: their step's */
        /* A composite action's step, while its steps run: their inputs context, the env they inherit,
         * their status (success() and failure() see that of their action), and its last step. */
        ExprValue *inputs, *env;
        RunConclusion local_status;
        size_t end;
        ExprValue *state; /* a JavaScript action's step: what its pre and main saved (GITHUB_STATE) */
} RunStep;

typedef enum RunJobPhase {
        RUN_JOB_WAITING,  /* needs not complete: its if: is evaluated when they are */
        RUN_JOB_QUEUED,   /* needs complete and if: true; waits for room under MaxParallelJobs */
        RUN_JOB_STEPPING, /* between steps: the next one is chosen by run_advance() */
        RUN_JOB_STEP,     /* a step was handed to the agent and has not ended */
        RUN_JOB_LOADING,  /* the agent loads the actions of LOAD_ACTION: run_step_action_loaded() */
        RUN_JOB_CLEANUP,  /* steps done; the agent kills what they left, then run_job_cleaned() */
        RUN_JOB_DONE,
} RunJobPhase;

/* One instance of a job definition (README, "Restarts": run-state.json): one for a job without a matrix,
 * one per combination for a matrix job (README, "Matrix jobs"), each with its own steps, state, units and
 * workspace. */
typedef struct RunJob {
        const WorkflowJob *def;
        size_t def_index;  /* def == &Run.workflow->jobs[def_index] */
        unsigned instance; /* 1-based among the instances of def */
        unsigned number;   /* 1-based among the run's jobs: j<N> of the unit names, "number" in the JSON */
        RunStatus status;
        RunJobPhase phase;
        RunConclusion outcome, conclusion;
        /* The job's status as the step-level status functions see it: success, failure (a step
         * concluded failure), cancelled (the job was cancelled; overrides). */
        RunConclusion local_status;
        ExprValue *matrix;   /* the matrix context of a matrix job's instance, NULL otherwise */
        char *matrix_suffix; /* the values of its display name ("1, linux"), NULL without a matrix */
        bool fail_fast;      /* cancelled because a sibling failed: cancelled() is true for it */
        RunCancelReason cancel_reason; /* why the job was cancelled, NONE if it was not */
        char *cancel_cause;            /* what caused it: the failed sibling's name (fail-fast), the
                                        * newer run's id (concurrency) */
        RunGroup group;                /* its concurrency: group, once evaluated */
        char *name;
        char *message; /* why the job failed outside its steps (condition, outputs) */
        size_t next_step;
        RunStep *steps;
        size_t n_steps;
        size_t post_at;       /* the steps from here on are post steps */
        size_t loading;       /* LOAD_ACTIONs not answered yet */
        bool set_up;          /* the actions its steps name from the action store were asked for */
        bool setting_up;      /* ... and not all answered yet */
        char *load_error;     /* the first action that could not be loaded at the job's start */
        unsigned next_number; /* the last s<N> given to a step */
        ExprValue *env;       /* workflow + job env, then $GITHUB_ENV additions */
        char **path;          /* $GITHUB_PATH additions, latest first */
        size_t n_path;
        ExprValue *outputs; /* object, once completed */
        uint64_t started_at, completed_at;
        uint64_t timer;       /* monotonic µs deadline of the job's timeout-minutes, 0: none */
        MaskList added_masks; /* ::add-mask:: values of its steps (README, "Secrets") */
} RunJob;

/* The durations of README, Cancellation ([Cancel] in agent.conf). */
typedef struct RunCancelSettings {
        uint64_t interrupt_usec; /* SIGINT → SIGTERM */
        uint64_t terminate_usec; /* SIGTERM → cgroup.kill of the step */
        uint64_t force_usec;     /* cancel request → cgroup.kill of the run */
} RunCancelSettings;

typedef struct Run {
        uint64_t id;
        char *source; /* where the workflow came from, as the submitter named it */
        Workflow *workflow;
        char *workspace_root; /* each job works in <workspace_root>/<job id> */
        ExprValue *github;    /* the github context's fixed part, from the agent */
        ExprValue *runner;    /* the runner context */
        RunStatus status;
        RunConclusion conclusion;
        RunCancelSettings cancel; /* GitHub's 7500 ms, 2500 ms, 5 min unless the agent sets others */
        bool cancel_requested;
        bool force_terminated;         /* the force deadline passed: nothing starts any more */
        char *cancelled_by;            /* NULL until cancelled */
        RunCancelReason cancel_reason; /* user or force, once cancelled */
        char *cancel_cause;            /* what caused it: the newer run's id (concurrency) */
        RunGroup group;                /* the workflow's concurrency: group, once evaluated */
        RunCancelReason force_reason;  /* force or deadline, once force-terminated */
        uint64_t cancel_requested_at;  /* monotonic µs */
        uint64_t timer;                /* monotonic µs of the force deadline, 0: none */
        uint64_t created_at, started_at, completed_at;
        RunJob *jobs; /* the instances, grouped by definition in workflow order */
        size_t n_jobs;
        ExprValue *inputs;   /* the inputs context (NULL: empty) */
        ExprValue *vars;     /* the vars context (NULL: empty) */
        char *source_format; /* the run's source snapshot: "git-bundle", "tar", or NULL for none */
        ExprValue *secrets;  /* the secrets context: never written to run-state.json or state.json */
        MaskList masks;      /* what the secrets mask (README, "Secrets") */
        size_t action_text;  /* bytes of the action.yml texts its jobs loaded: RUN_MAX_ACTION_TEXT */
} Run;

/* The instances of the workflow's job definition def: the *ret_n jobs from jobs[*ret_first] on whose
 * def_index is def. They are contiguous, except that the instances a matrix computed by ${{ }} adds when it
 * is expanded (README, "Matrix jobs") are appended to the run's jobs then. */
void run_def_instances(const Run *run, size_t def, size_t *ret_first, size_t *ret_n);

/* Takes ownership of workflow. github and runner are referenced (NULL: empty objects). */
int run_new(uint64_t id, const char *source, Workflow *workflow, const char *workspace_root,
        ExprValue *github, ExprValue *runner, RunTime now, Run **ret);
Run *run_free(Run *run);

/* The run's secrets (README, "Secrets"), each "NAME=VALUE"; NAME as run_secret_name_valid() says.
 * Sets the secrets context and the masks. -EINVAL for a bad entry, -E2BIG beyond the limits. */
#define RUN_SECRETS_MAX 1000U
#define RUN_SECRETS_SIZE_MAX (1024U * 1024U)
bool run_secret_name_valid(const char *name, size_t len);
int run_set_secrets(Run *run, char *const *secrets);
/* A value a step of the job asked to mask (::add-mask::): masked in the job's later steps. Up to
 * RUN_JOB_MASKS_MAX values of RUN_JOB_MASKS_SIZE_MAX bytes in all a job (-E2BIG beyond): a step
 * cannot make the agent keep and rewrite more. */
#define RUN_JOB_MASKS_MAX 1000U
#define RUN_JOB_MASKS_SIZE_MAX (256U * 1024U)
int run_job_add_mask(Run *run, size_t job, const char *value, size_t len);
/* What a step of the job masks: the run's secrets and the job's added values, NUL-separated. */
int run_step_masks(const Run *run, size_t job, char **ret, size_t *ret_len);
/* v (NULL, or an object of strings) with every string that contains a value the job masks masked:
 * a new reference to v when there is nothing to mask. */
int run_mask_strings(const Run *run, size_t job, const ExprValue *v, ExprValue **ret);
/* Whether the step debug log is on: the secret ACTIONS_STEP_DEBUG is "true" (ignoring case). */
bool run_step_debug(const Run *run);
static inline void run_freep(Run **r) {
        if (*r)
                *r = run_free(*r);
}

/* What the agent is asked to do. */
typedef enum RunActionType {
        /* Start steps[step] of jobs[job] with spec: the agent creates its scope and shim and later
         * reports run_step_started() (optional), then run_step_exited() or run_step_failed(). */
        RUN_ACTION_START_STEP,
        /* The job's steps are done: kill what they left running, then call run_job_cleaned(). */
        RUN_ACTION_CLEAN_JOB,
        /* Something the agent shows changed (statuses, conclusions); step or job is SIZE_MAX when
         * the change is the job's or the run's own. Persist, signal, log. */
        RUN_ACTION_CHANGED,
        /* Send signal to the running step: to its entry process through the pidfd, or to every process
         * of its scope (SignalTarget=cgroup). usec: time since the step's cancellation began. */
        RUN_ACTION_SIGNAL_STEP,
        /* cgroup.kill the step's scope, then call run_step_emptied() at populated 0. usec as above. */
        RUN_ACTION_KILL_STEP,
        /* The step must not start: if its shim is still held, it is never released (it ends, and
         * run_step_failed() or run_step_exited() follows); if it was released, run_step_started() will
         * come and the escalation starts there. */
        RUN_ACTION_ABORT_STEP,
        /* The force deadline: cgroup.kill the run's slice. usec: time since the cancel request. */
        RUN_ACTION_KILL_RUN,
        /* A decision to put in the journal (what, condition, result, text). */
        RUN_ACTION_EVENT,
        /* The run (job SIZE_MAX) or the job waits for its concurrency group (RunGroup.name): the agent
         * answers with run_group_acquired() or run_group_replaced(), from outside the run's driving. */
        RUN_ACTION_ACQUIRE_GROUP,
        /* Jobs were appended from jobs[job] on (a matrix with ${{ }} was expanded): before any other
         * action about them. */
        RUN_ACTION_JOBS_ADDED,
        /* Load the action of steps[step]'s uses: (README, "Actions") and answer with
         * run_step_action_loaded(). */
        RUN_ACTION_LOAD_ACTION,
        /* usec steps were inserted before jobs[job].steps[step] (an action's): what the agent keeps per
         * step from there on moves by as many. Before any other action about them. */
        RUN_ACTION_STEPS_INSERTED,
} RunActionType;

/* The decisions of a cancellation that the core makes visible; the agent adds its own events for
 * what it does (each signal sent, each cgroup killed). */
typedef enum RunEvent {
        RUN_EVENT_CANCEL_REQUESTED, /* text: by whom; result: --force */
        RUN_EVENT_JOB_CONDITION,    /* a job's if: evaluated under the cancellation: condition, result */
        RUN_EVENT_JOB_CANCELLED,    /* the cancellation message sent to a job; text: why */
        RUN_EVENT_STEP_CONDITION,   /* a step's if: evaluated under the cancellation */
        RUN_EVENT_STEP_TIMED_OUT,   /* text: the timeout */
        RUN_EVENT_FORCE,            /* the force deadline; text: why */
        RUN_EVENT_OUTPUT_DROPPED,   /* a job output contains a secret and was dropped; text: its name */
        _RUN_EVENT_MAX,
} RunEvent;

typedef struct RunStepSpec {
        char *script;            /* the run: text, evaluated */
        char *shell;             /* the command line with {0} for the script file */
        char *working_directory; /* absolute */
        char **env;              /* NAME=VALUE, NULL-terminated: workflow < job < $GITHUB_ENV < step */
        char **path;             /* directories to put in front of PATH, in order */
        uint64_t timeout_usec;   /* 0: none */
        bool checkout;           /* actions/checkout: the run's source is the entry's stdin */
        const char *node;        /* a JavaScript action: its runs.using (node20…); script is the file */
} RunStepSpec;

typedef struct RunAction {
        RunActionType type;
        size_t job, step;
        RunStepSpec *spec;     /* START_STEP */
        int signal;            /* SIGNAL_STEP */
        uint64_t usec;         /* see the types */
        RunEvent event;        /* EVENT */
        const char *condition; /* EVENT: the if: as written (owned by the workflow) */
        bool result;           /* EVENT */
        char *text;            /* EVENT; owned */
} RunAction;

typedef struct RunActions {
        RunAction *actions;
        size_t n, allocated;
} RunActions;

void run_actions_done(RunActions *a);
RunStepSpec *run_step_spec_free(RunStepSpec *s);
static inline void run_step_spec_freep(RunStepSpec **s) {
        if (*s)
                *s = run_step_spec_free(*s);
}

/* Decides everything that can be decided now: jobs whose needs are complete have their if evaluated
 * and are skipped or queued; queued jobs start, at most *budget of them (the budget is decremented,
 * UINT_MAX for no limit), the others stay queued for a later call; running jobs between steps evaluate the
 * next step's if and start or skip it, or finish; the run concludes when all jobs are done. Appends to
 * actions. Returns 0 or -ENOMEM. */
int run_advance(Run *run, RunTime now, unsigned *budget, RunActions *actions);

/* ---- driving a run (run-drive.c) ---- */

/* One effect of an action, carried out by whoever drives the run (the agent, or a test's simulated one).
 * What follows from it at once (the step failed to start, its scope is gone already) goes into more, as
 * the events' actions: the driver handles them in its next round. May take a->spec. */
typedef void (*RunEffect)(void *userdata, RunAction *a, RunActions *more);

/* What the driver asks of its caller. NULL effects: nothing to do for that action. */
typedef struct RunDriverOps {
        RunTime (*now)(void *userdata); /* the time for run_advance(), read each round */
        /* The room under MaxParallelJobs= for run_advance(), read each round; NULL: no limit. */
        unsigned (*room)(void *userdata);
        /* First, every SIGNAL_STEP and KILL_STEP of a round, in order, with nothing else in between. */
        RunEffect signal_step, kill_step;
        /* Then every action of the round in order; for SIGNAL_STEP and KILL_STEP, what follows the
         * signal or kill (logging it, watching the scope). */
        RunEffect step_signalled, step_killed;
        RunEffect start_step, abort_step, kill_run, clean_job, event, changed, acquire_group, jobs_added,
                load_action, steps_inserted;
} RunDriverOps;

/* Carries out actions (the actions of an event, or none), then run_advance() and its actions, until
 * nothing more is decided. Empties actions. Returns 0, or the first error of run_advance(): the driving
 * goes on regardless with what was decided. */
int run_drive(Run *run, const RunDriverOps *ops, void *userdata, RunActions *actions);

/* The step's scope exists and its entry process runs. */
int run_step_started(Run *run, size_t job, size_t step, RunTime now, RunActions *actions);

/* The entry process ended (exit_signal 0: exited with exit_code). The texts are what the step left in
 * $GITHUB_OUTPUT, $GITHUB_ENV and $GITHUB_PATH (NULL: empty). Call run_advance() afterwards. */
typedef struct RunStepResult {
        int exit_code;
        int exit_signal;
        const char *output, *env, *path;
        size_t output_len, env_len, path_len;
        const char *annotations; /* runner-step's annotations file (annotation.h), NULL: none */
        size_t annotations_len;
        const char *message; /* why it was killed, when the agent knows better than the signal (OOM) */
        const char *state;   /* what it left in $GITHUB_STATE (NULL: empty) */
        size_t state_len;
} RunStepResult;
int run_step_exited(
        Run *run, size_t job, size_t step, const RunStepResult *result, RunTime now, RunActions *actions);

/* The step could not be started (or its result could not be read); message says why. */
int run_step_failed(
        Run *run, size_t job, size_t step, const char *message, RunTime now, RunActions *actions);

/* A restarted agent found the step handed over to its predecessor but never started (its entry never
 * ran, and nothing of it is left): START_STEP again, with the spec evaluated anew — or, if its
 * cancellation was decided meanwhile, the step ends as a step cancelled before it ran. -ESTALE: the
 * step is not in that state. */
int run_step_restart(Run *run, size_t job, size_t step, RunTime now, RunActions *actions);

/* The agent loaded the action of a step's uses: (action, referenced), or could not (action NULL,
 * message says why): after LOAD_ACTION. */
int run_step_action_loaded(Run *run, size_t job, size_t step, RunLoadedAction *action, const char *message,
        RunTime now, RunActions *actions);

/* The job's leftovers are gone: the job completes. */
int run_job_cleaned(Run *run, size_t job, RunTime now, RunActions *actions);

/* ---- cancellation (cancel.c) ---- */

/* The run's cancellation is requested (README, Cancellation): running and queued jobs re-evaluate their if:,
 * jobs to cancel get the cancellation message, steps to cancel escalate (SIGINT, SIGTERM, kill), and the
 * force deadline starts. force: straight to the force deadline (also after an earlier request). Returns
 * -EALREADY for a completed run, 0 when the request changed nothing (asked before, without force). */
int run_cancel(Run *run, const char *by, bool force, RunTime now, RunActions *actions);
/* The same, for a reason other than a user's request (RUN_CANCEL_REASON_AGENT_STOP); force still makes
 * it RUN_CANCEL_REASON_FORCE. */
int run_cancel_because(
        Run *run, RunCancelReason reason, const char *by, bool force, RunTime now, RunActions *actions);

/* As run_cancel_because(), naming what caused it (the newer run's id for concurrency; NULL: nothing). */
int run_cancel_caused(Run *run, RunCancelReason reason, const char *by, const char *cause, RunTime now,
        RunActions *actions);

/* ---- concurrency groups (README, "Concurrency groups") ---- */

/* The run (job SIZE_MAX) or the job holds its group now: it may start. */
int run_group_acquired(Run *run, size_t job, RunTime now, RunActions *actions);
/* The run or the job, pending in its group, was displaced by a newer one (cause: its run's id): it
 * concludes cancelled with GitHub's message, nothing of it having started. */
int run_group_replaced(Run *run, size_t job, const char *cause, RunTime now, RunActions *actions);
/* cancel-in-progress of a newer job (cause: its run's id) cancels the job holding the group: its if: is
 * evaluated again and it is cancelled through the sequence, as if its run was. */
int run_job_cancel_concurrency(Run *run, size_t job, const char *cause, RunTime now, RunActions *actions);
/* GitHub's message for a pending member displaced by a newer one. */
int run_group_replaced_message(const char *group, char **ret);

/* The run's deadlines (RunStep.timer, RunJob.timer, Run.timer): the stages of step cancellations, step and
 * job timeouts, the force deadline. The agent keeps one timer per run, armed at run_next_deadline() after
 * every event (0: none), and calls run_timers_due() when it fires: every deadline due at now is handled in
 * that one call, in the order they fell due, so that stages due together go out together (README,
 * Cancellation). */
uint64_t run_next_deadline(const Run *run);
int run_timers_due(Run *run, RunTime now, RunActions *actions);
/* How many deadlines are due at now (monotonic µs): after a restart, the stages that fell due meanwhile. */
unsigned run_count_due(const Run *run, uint64_t now);
/* One deadline, if due: (SIZE_MAX, SIZE_MAX) the force deadline, (job, SIZE_MAX) the job's timeout, (job,
 * step) the step's timeout or next stage. -ESTALE: not armed, or not due. run_timers_due() calls it for
 * each. */
int run_timer_fired(Run *run, size_t job, size_t step, RunTime now, RunActions *actions);

/* After RUN_ACTION_KILL_STEP: the step's scope holds no process any more. */
int run_step_emptied(Run *run, size_t job, size_t step, RunTime now, RunActions *actions);

const char *run_event_to_string(RunEvent e);
const char *run_cancel_stage_to_string(RunCancelStage s);

bool run_is_idle(const Run *run); /* nothing handed out to the agent is outstanding */

const char *run_status_to_string(RunStatus s);
const char *run_conclusion_to_string(RunConclusion c); /* NULL for NONE */

/* What the step is called in status, events and the journal (RUNNER_STEP_NAME): its name, evaluated once
 * the step has started, or as GitHub does for a step without one, "Run " and the first line of its
 * script. Never NULL; the step's id stays what steps.<id> and the unit names use. */
const char *run_step_display_name(const RunStep *s);

/* The unit names of README, Running workflows. */
int run_step_unit_name(const Run *run, size_t job, size_t step, char **ret);
int run_job_slice_name(const Run *run, size_t job, char **ret);
/* The job's workspace: <workspace_root>/<job id>, for an instance of a matrix <job id>.<instance>. */
int run_job_workspace(const Run *run, size_t job, char **ret);
int run_slice_name(uint64_t id, char **ret);
/* Where systemd puts those slices below the cgroup2 root: "/runner.slice/runner-r<RUN>.slice", and
 * with job_number > 0 "/…/runner-r<RUN>-j<J>.slice" (a dash in a slice name nests it). */
int run_slice_cgroup_path(uint64_t id, unsigned job_number, char **ret);

/* Splits a shell command line ("bash --noprofile -e {0}") into argv, replacing {0} by script (or
 * appending it when the line has no {0}). Quotes as in a POSIX shell's simple words: '…' and "…"
 * with \" and \\. */
int run_shell_argv(const char *shell, const char *script, char ***ret);

/* The run as the JSON of `runnerctl status --json` (README, runnerctl status --json RUN). */
int run_to_json(const Run *run, json_object **ret);

/* ISO 8601 in UTC with milliseconds, as GitHub writes them. */
int run_format_timestamp(uint64_t usec, char *buf, size_t size);

/* A finished run's JSON marked as the agent found it after a crash or restart: every job and step not
 * completed becomes completed/cancelled with message, and the run too. Returns 1 if anything changed. */
int run_json_mark_interrupted(json_object *run, const char *message, uint64_t now);
