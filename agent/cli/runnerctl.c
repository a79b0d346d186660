/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>

#include "expr.h"
#include "fileio.h"
#include "macro.h"
#include "runnerctl.h"
#include "workflow.h"

/* Context files are JSON documents such as the ones `runnerctl status --json` and GitHub's own
 * toJSON(github) print; a few MiB covers a full event payload. */
#define CONTEXT_FILE_MAX (16U * 1024U * 1024U)

static const char *arg_context = NULL;
static bool arg_if = false;

static void help(void) {
        printf("Usage: runnerctl [OPTIONS] COMMAND ...\n"
               "\n"
               "Submit, inspect and cancel workflow runs of runner-agent; check workflows and\n"
               "expressions offline.\n"
               "\n"
               "Commands that talk to runner-agent (root and members of runner-admin):\n"
               "  run [--wait] [--follow] WORKFLOW.yml\n"
               "                              Submit a workflow and print the run's id. A workflow\n"
               "                              the agent refuses is reported as validate does.\n"
               "                              --wait waits for the run to complete, --follow also\n"
               "                              prints each step's output as it is written.\n"
               "  status [--json] [RUN]       Show a run: jobs, steps, statuses, conclusions,\n"
               "                              units, times. --json prints the documented JSON\n"
               "                              contract (see the README). Without RUN: list.\n"
               "  cancel [--force] RUN        Cancel a run as GitHub does: job and step if:\n"
               "                              conditions re-evaluated, SIGINT to each step to\n"
               "                              cancel, SIGTERM 7.5 s later, its cgroup killed\n"
               "                              2.5 s after that; everything of the run killed\n"
               "                              5 min after the request. --force kills everything\n"
               "                              at once.\n"
               "  list [--json]               List the runs the agent knows.\n"
               "  logs [--follow] RUN [JOB [STEP]]\n"
               "                              Print the output of a run's steps (of one job, of\n"
               "                              one step), complete, from the step log files;\n"
               "                              --follow keeps printing until the run completes.\n"
               "  events [--json] RUN         The run's timeline from the journal: each decision\n"
               "                              of a cancellation (conditions, signals with PID and\n"
               "                              time since the step's cancellation began, kills,\n"
               "                              conclusions); times relative to the cancel request.\n"
               "                              Needs read access to the system journal.\n"
               "\n"
               "Commands that need no daemon:\n"
               "  validate WORKFLOW.yml       Check a workflow file. Prints every error as\n"
               "                              FILE:LINE:COLUMN: MESSAGE on standard error and\n"
               "                              exits 1 if there is any, 0 if the file is valid.\n"
               "  eval [--context FILE.json] [--if] EXPRESSION\n"
               "                              Evaluate a GitHub Actions expression and print its\n"
               "                              value as JSON. Text containing ${{ }} is evaluated\n"
               "                              as a string template.\n"
               "\n"
               "Options of eval:\n"
               "  --context FILE.json  A JSON object whose members are the contexts (github,\n"
               "                       env, job, steps, needs, runner, inputs, vars, secrets,\n"
               "                       strategy, matrix); names not given are null.\n"
               "  --if                 Treat EXPRESSION as an if: condition: ${{ }} is\n"
               "                       optional, a condition without a status function is\n"
               "                       success() && (condition), and the output is true or\n"
               "                       false. success(), failure() and cancelled() read\n"
               "                       job.status from the context (success, failure or\n"
               "                       cancelled; success when absent).\n"
               "\n"
               "General options:\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "\n"
               "Exit status: 0 on success, 1 when the workflow or expression is invalid or\n"
               "cannot be evaluated or the agent refused or failed the request, 2 on a usage\n"
               "error. run --wait and --follow exit 0 when the run concluded success, 1 on\n"
               "failure and 3 when it was cancelled.\n");
}

static int status_from_job(ExprStatus which, void *userdata) {
        const ExprValue *contexts = userdata;
        const ExprValue *job = expr_object_getz(contexts, "job");
        const ExprValue *status = expr_object_getz(job, "status");
        const char *s = "success";

        if (status && status->kind == EXPR_STRING)
                s = status->string.s;
        else if (status && status->kind != EXPR_NULL)
                return -EINVAL;

        if (!IN_SET(true, strcasecmp(s, "success") == 0, strcasecmp(s, "failure") == 0,
                    strcasecmp(s, "cancelled") == 0))
                return -EINVAL;

        switch (which) {
        case EXPR_STATUS_SUCCESS:
                return strcasecmp(s, "success") == 0;
        case EXPR_STATUS_FAILURE:
                return strcasecmp(s, "failure") == 0;
        case EXPR_STATUS_CANCELLED:
                return strcasecmp(s, "cancelled") == 0;
        default:
                return 1;
        }
}

static void print_expr_error(const char *text, const ExprError *e) {
        fprintf(stderr, "runnerctl: column %zu: %s\n", e->offset + 1, e->message);
        /* Point at the column when the expression fits on one terminal line. */
        if (strlen(text) <= 120 && !strchr(text, '\n')) {
                fprintf(stderr, "  %s\n  %*s^\n", text, (int) e->offset, "");
        }
}

static int load_contexts(ExprValue **ret) {
        _cleanup_free_ char *text = NULL;
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        char message[256];
        int r;

        if (!arg_context)
                return (*ret = expr_value_new_object()) ? 0 : -ENOMEM;

        r = read_full_file_at(AT_FDCWD, arg_context, CONTEXT_FILE_MAX, &text);
        if (r == -EFBIG) {
                fprintf(stderr, "runnerctl: %s: larger than %u bytes\n", arg_context, CONTEXT_FILE_MAX);
                return r;
        }
        if (r < 0) {
                fprintf(stderr, "runnerctl: %s: %s\n", arg_context, strerror(-r));
                return r;
        }
        r = expr_value_from_json(text, (size_t) r, &v, message, sizeof(message));
        if (r < 0) {
                fprintf(stderr, "runnerctl: %s: invalid JSON: %s\n", arg_context,
                        r == -ENOMEM ? strerror(ENOMEM) : message);
                return r;
        }
        if (v->kind != EXPR_OBJECT) {
                fprintf(stderr, "runnerctl: %s: expected a JSON object of contexts, got %s\n", arg_context,
                        expr_kind_to_string(v->kind));
                return -EINVAL;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

static int verb_eval(int argc, char *argv[]) {
        enum { ARG_CONTEXT = 0x100, ARG_IF };
        static const struct option options[] = {
                { "context", required_argument, NULL, ARG_CONTEXT },
                { "if", no_argument, NULL, ARG_IF },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(expr_value_unrefp) ExprValue *contexts = NULL, *value = NULL;
        _cleanup_(expr_node_freep) ExprNode *node = NULL;
        _cleanup_(expr_template_freep) ExprTemplate *template = NULL;
        _cleanup_free_ char *json = NULL;
        ExprParseOptions popts = { .allow = EXPR_ALLOW_STATUS };
        ExprError error = {};
        const char *text;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case ARG_CONTEXT:
                        arg_context = optarg;
                        break;
                case ARG_IF:
                        arg_if = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return 2;
                }
        if (argc - optind != 1) {
                fprintf(stderr, "runnerctl: eval needs exactly one EXPRESSION (quote it for the shell)\n");
                return 2;
        }
        text = argv[optind];

        r = load_contexts(&contexts);
        if (r < 0)
                return 1;

        ExprEvalContext ctx = {
                .contexts = contexts,
                .status = status_from_job,
                .userdata = contexts,
        };

        if (arg_if) {
                bool result;

                r = expr_parse_condition(text, strlen(text), &popts, &node, &error);
                if (r >= 0)
                        r = expr_evaluate_condition(node, &ctx, &result, &error);
                if (r == -ENOMEM) {
                        fprintf(stderr, "runnerctl: %s\n", strerror(ENOMEM));
                        return 1;
                }
                if (r < 0) {
                        print_expr_error(text, &error);
                        return 1;
                }
                puts(result ? "true" : "false");
                return 0;
        }

        if (strstr(text, "${{")) {
                r = expr_template_parse(text, strlen(text), &popts, &template, &error);
                if (r >= 0)
                        r = expr_template_evaluate(template, &ctx, &value, &error);
        } else {
                r = expr_parse(text, strlen(text), &popts, &node, &error);
                if (r >= 0)
                        r = expr_evaluate(node, &ctx, &value, &error);
        }
        if (r >= 0)
                r = expr_value_to_json(value, true, &json, NULL);
        if (r == -ENOMEM) {
                fprintf(stderr, "runnerctl: %s\n", strerror(ENOMEM));
                return 1;
        }
        if (r < 0) {
                print_expr_error(text, &error);
                return 1;
        }
        puts(json);
        return 0;
}

int read_workflow_file(const char *path, char **ret) {
        int r;

        r = read_full_file_at(AT_FDCWD, path, WORKFLOW_MAX_SIZE, ret);
        if (r == -EFBIG)
                fprintf(stderr, "%s:1:1: the file is larger than the limit of %u bytes\n", path,
                        WORKFLOW_MAX_SIZE);
        else if (r < 0)
                fprintf(stderr, "runnerctl: %s: %s\n", path, strerror(-r));
        return r;
}

static int verb_validate(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        _cleanup_free_ char *text = NULL;
        const char *path;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                default:
                        return 2;
                }
        if (argc - optind != 1) {
                fprintf(stderr, "runnerctl: validate needs exactly one WORKFLOW file\n");
                return 2;
        }

        path = argv[optind];

        r = read_workflow_file(path, &text);
        if (r < 0)
                return 1;

        r = workflow_load(text, (size_t) r, &w, &errors);
        for (size_t i = 0; i < errors.n; i++)
                fprintf(stderr, "%s:%u:%u: %s\n", path, errors.errors[i].pos.line,
                        errors.errors[i].pos.column, errors.errors[i].message);
        if (r == -ENOMEM) {
                fprintf(stderr, "runnerctl: %s\n", strerror(ENOMEM));
                return 1;
        }
        if (r < 0)
                return 1;

        size_t steps = 0;
        for (size_t i = 0; i < w->n_jobs; i++)
                steps += w->jobs[i].n_steps;
        printf("%s: valid: %zu job%s, %zu step%s\n", path, w->n_jobs, w->n_jobs == 1 ? "" : "s", steps,
                steps == 1 ? "" : "s");
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct {
                const char *name;
                int (*run)(int argc, char *argv[]);
        } verbs[] = {
                { "cancel", verb_cancel },
                { "eval", verb_eval },
                { "events", verb_events },
                { "list", verb_list },
                { "logs", verb_logs },
                { "run", verb_run },
                { "status", verb_status },
                { "validate", verb_validate },
        };

        if (argc < 2) {
                help();
                return 2;
        }
        if (streq(argv[1], "-h") || streq(argv[1], "--help") || streq(argv[1], "help")) {
                help();
                return 0;
        }
        if (streq(argv[1], "--version")) {
                printf("runnerctl %s\n", PACKAGE_VERSION);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[1], verbs[i].name))
                        return verbs[i].run(argc - 1, argv + 1);

        fprintf(stderr, "runnerctl: unknown command '%s'; see runnerctl --help\n", argv[1]);
        return 2;
}
