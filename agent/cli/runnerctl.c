/* SPDX-License-Identifier: GPL-2.0-or-later */
/* runnerctl: one getopt_long parse of every option, wherever it stands on the command line, then the
 * verb table decides which verb runs, whether the options given apply to it and whether it has the
 * right number of operands. */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "escape.h"
#include "expr.h"
#include "fileio.h"
#include "macro.h"
#include "run-options.h"
#include "run.h"
#include "runnerctl.h"
#include "workflow.h"

/* Context files are JSON documents such as the ones `runnerctl status --json` and GitHub's own
 * toJSON(github) print; a few MiB covers a full event payload. */
#define CONTEXT_FILE_MAX (16U * 1024U * 1024U)
#define SECRET_FILE_MAX (1024U * 1024U)

bool arg_verbose = false;
bool arg_json = false;
bool arg_wait = false;
bool arg_follow = false;
bool arg_force = false;
bool arg_if = false;
const char *arg_context = NULL;
char **arg_secrets = NULL;
size_t arg_n_secrets = 0;
const char *arg_event = NULL;
char *arg_event_json = NULL;
char **arg_inputs = NULL, **arg_vars = NULL;
size_t arg_n_inputs = 0, arg_n_vars = 0;
const char *arg_source = NULL;
bool arg_no_source = false;

static void help(void) {
        printf("Usage: runnerctl [OPTIONS] COMMAND ...\n"
               "\n"
               "Submit, inspect and cancel workflow runs of runner-agent; check workflows and\n"
               "expressions offline. Options may come before or after the command and its\n"
               "arguments; -- ends the options.\n"
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
               "  action add OWNER/REPO@REF SOURCE\n"
               "                              Add an action to the agent's action store (root\n"
               "                              only). SOURCE is a directory (its files, without\n"
               "                              .git), a tarball (.tar, .tar.gz, .tar.xz), or a\n"
               "                              git URL (git://, file://, http(s)://, ssh) that\n"
               "                              runnerctl fetches REF from; a tag or branch is\n"
               "                              stored under its commit too.\n"
               "  action list [--json]        List the actions in the store: name, commit, when\n"
               "                              added, source.\n"
               "  action remove OWNER/REPO@REF\n"
               "                              Remove an action from the store (root only).\n"
               "  action resolve [--json] OWNER/REPO@REF\n"
               "                              Print the action's directory in the store and its\n"
               "                              commit, fetching it from [Actions] Mirror= first\n"
               "                              when the store does not have it.\n"
               "\n"
               "Commands that need no daemon:\n"
               "  validate WORKFLOW.yml...    Check workflow files. Prints every error as\n"
               "                              FILE:LINE:COLUMN: MESSAGE on standard error and\n"
               "                              exits 1 if there is any, 0 if every file is valid.\n"
               "  eval [--context FILE.json] [--if] EXPRESSION\n"
               "                              Evaluate a GitHub Actions expression and print its\n"
               "                              value as JSON. Text containing ${{ }} is evaluated\n"
               "                              as a string template.\n"
               "  help                        Show this help.\n"
               "\n"
               "Options of the commands above:\n"
               "     --wait           run: wait for the run to complete\n"
               "  -s --secret NAME[=VALUE]\n"
               "                      run: a secret (secrets.NAME); without =VALUE, the value of\n"
               "                      the environment variable NAME. Passed to the agent over\n"
               "                      D-Bus, never in a command line or file, and masked as ***\n"
               "                      in the step logs and the journal\n"
               "     --secret-file FILE\n"
               "                      run: secrets from FILE, one NAME=VALUE a line (blank lines\n"
               "                      and lines starting with # are skipped)\n"
               "     --event NAME     run: github.event_name (default: the first event of on:)\n"
               "     --event-file FILE\n"
               "                      run: github.event, a JSON object of at most 1 MiB\n"
               "     --input NAME=VALUE\n"
               "                      run: inputs.NAME (and github.event.inputs for\n"
               "                      workflow_dispatch)\n"
               "     --var NAME=VALUE run: vars.NAME, a configuration variable\n"
               "     --var-file FILE  run: variables from FILE, as --secret-file reads secrets\n"
               "     --source DIR     run: the run's source is a copy of DIR, made by runnerctl as\n"
               "                      you (default: the HEAD commit of the git work tree the\n"
               "                      workflow file is in)\n"
               "     --no-source      run: the run has no source\n"
               "  -f --follow         run: --wait, printing each step's output as it is written;\n"
               "                      logs: keep printing until the run completes\n"
               "  -f --force          cancel: kill everything of the run at once\n"
               "     --json           status, list, events, action list, action resolve: print\n"
               "                      JSON\n"
               "     --context FILE.json\n"
               "                      eval: a JSON object whose members are the contexts\n"
               "                      (github, env, job, steps, needs, runner, inputs, vars,\n"
               "                      secrets, strategy, matrix); names not given are null.\n"
               "     --if             eval: treat EXPRESSION as an if: condition: ${{ }} is\n"
               "                      optional, a condition without a status function is\n"
               "                      success() && (condition), and the output is true or\n"
               "                      false. success(), failure() and cancelled() read\n"
               "                      job.status from the context (success, failure or\n"
               "                      cancelled; success when absent).\n"
               "An option a command does not take is a usage error.\n"
               "\n"
               "General options:\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "  -v --verbose         When the agent or the bus refuses a request, also print\n"
               "                       the D-Bus error name and message\n"
               "\n"
               "Names, ids, messages and sources that come from a workflow or a step are printed\n"
               "with control characters escaped (newline as \\n, tab as \\t, ESC as \\x1b, other\n"
               "control bytes and invalid UTF-8 as \\xNN), so that they cannot act on the\n"
               "terminal. --json prints them exactly, as JSON strings. The steps' own output\n"
               "(logs, and run --follow) is printed as the steps wrote it, byte for byte.\n"
               "\n"
               "Exit status:\n"
               "  0  success; run --wait/--follow: the run concluded success\n"
               "  1  the workflow or expression is invalid or cannot be evaluated, or the agent\n"
               "     refused or failed the request; run --wait/--follow: the run concluded\n"
               "     failure\n"
               "  2  usage error\n"
               "  3  run --wait/--follow: the run concluded cancelled\n"
               "  4  access denied: not root and not a member of runner-admin (action add and\n"
               "     action remove: not root)\n"
               "  7  runner-agent is not running, or the system bus cannot be reached\n");
}

static int verb_help(int argc, char *argv[]) {
        help();
        return 0;
}

int usage_error(const char *format, ...) {
        va_list ap;

        fputs("runnerctl: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputs("\nTry 'runnerctl --help' for more information.\n", stderr);
        return -EINVAL;
}

int parse_run_id(const char *s, uint64_t *ret) {
        _cleanup_free_ char *e = NULL;
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == 0 && end != s && *end == '\0' && v != 0 && s[0] != '-') {
                *ret = v;
                return 0;
        }
        e = escape_for_terminal(s);
        return usage_error("'%s' is not a run id", strna(e));
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
        _cleanup_free_ char *message = escape_for_terminal(e->message);
        bool plain = strlen(text) <= 120;

        fprintf(stderr, "runnerctl: column %zu: %s\n", e->offset + 1, strna(message));
        /* Point at the column when the expression fits on one terminal line, and escaping would not
         * move the column. */
        for (const char *p = text; plain && *p; p++)
                plain = (unsigned char) *p >= 0x20 && *p != 0x7f;
        if (plain)
                fprintf(stderr, "  %s\n  %*s^\n", text, (int) e->offset, "");
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
        _cleanup_(expr_value_unrefp) ExprValue *contexts = NULL, *value = NULL;
        _cleanup_(expr_node_freep) ExprNode *node = NULL;
        _cleanup_(expr_template_freep) ExprTemplate *template = NULL;
        _cleanup_free_ char *json = NULL;
        ExprParseOptions popts = { .allow = EXPR_ALLOW_STATUS };
        ExprError error = {};
        const char *text = argv[1];
        int r;

        r = load_contexts(&contexts);
        if (r < 0)
                return EXIT_FAILED;

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
                        return EXIT_FAILED;
                }
                if (r < 0) {
                        print_expr_error(text, &error);
                        return EXIT_FAILED;
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
                return EXIT_FAILED;
        }
        if (r < 0) {
                print_expr_error(text, &error);
                return EXIT_FAILED;
        }
        puts(json);
        return 0;
}

int read_workflow_file(const char *path, char **ret) {
        _cleanup_free_ char *e = escape_for_terminal(path);
        int r;

        r = read_full_file_at(AT_FDCWD, path, WORKFLOW_MAX_SIZE, ret);
        if (r == -EFBIG)
                fprintf(stderr, "%s:1:1: the file is larger than the limit of %u bytes\n", strna(e),
                        WORKFLOW_MAX_SIZE);
        else if (r < 0)
                fprintf(stderr, "runnerctl: %s: %s\n", strna(e), strerror(-r));
        return r;
}

/* Prints the problems as FILE:LINE:COLUMN: MESSAGE; returns whether the file is valid. */
static bool validate_one(const char *path) {
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        _cleanup_free_ char *text = NULL, *e = NULL;
        size_t steps = 0;
        int r;

        r = read_workflow_file(path, &text);
        if (r < 0)
                return false;

        e = escape_for_terminal(path);
        r = workflow_load(text, (size_t) r, &w, &errors);
        /* The loader's messages quote the workflow's own text. */
        for (size_t i = 0; i < errors.n; i++) {
                _cleanup_free_ char *message = escape_for_terminal(errors.errors[i].message);
                fprintf(stderr, "%s:%u:%u: %s\n", strna(e), errors.errors[i].pos.line,
                        errors.errors[i].pos.column, strna(message));
        }
        if (r == -ENOMEM)
                fprintf(stderr, "runnerctl: %s\n", strerror(ENOMEM));
        if (r < 0)
                return false;

        for (size_t i = 0; i < w->n_jobs; i++)
                steps += w->jobs[i].n_steps;
        printf("%s: valid: %zu job%s, %zu step%s\n", strna(e), w->n_jobs, w->n_jobs == 1 ? "" : "s", steps,
                steps == 1 ? "" : "s");
        return true;
}

static int verb_validate(int argc, char *argv[]) {
        bool valid = true;

        for (int i = 1; i < argc; i++)
                valid = validate_one(argv[i]) && valid;
        return valid ? 0 : EXIT_FAILED;
}

/* ---- secrets (run -s, --secret-file) ---- */

static int push_secret(const char *name, size_t name_len, const char *value, size_t value_len) {
        char **l, *e;

        l = realloc(arg_secrets, (arg_n_secrets + 2) * sizeof(char *));
        if (!l)
                return -ENOMEM;
        arg_secrets = l;
        e = malloc(name_len + value_len + 2);
        if (!e)
                return -ENOMEM;
        memcpy(e, name, name_len);
        e[name_len] = '=';
        memcpy(e + name_len + 1, value, value_len);
        e[name_len + 1 + value_len] = '\0';
        arg_secrets[arg_n_secrets++] = e;
        arg_secrets[arg_n_secrets] = NULL;
        return 1;
}

/* -s NAME=VALUE, or -s NAME: the value of $NAME, as act does. Returns 1, 0 after a usage error. */
static int add_secret_option(const char *arg) {
        const char *eq = strchr(arg, '='), *value;
        size_t len = eq ? (size_t) (eq - arg) : strlen(arg);
        _cleanup_free_ char *name = strndup(arg, len), *e = NULL;

        if (!name)
                return -ENOMEM;
        if (!run_secret_name_valid(name, len)) {
                e = escape_for_terminal(name);
                usage_error(
                        "invalid secret name '%s': letters, digits and _ only, not starting with a digit or GITHUB_",
                        strna(e));
                return 0;
        }
        value = eq ? eq + 1 : getenv(name);
        if (!value) {
                usage_error("-s %s: no variable %s in the environment (give -s %s=VALUE)", name, name, name);
                return 0;
        }
        return push_secret(name, len, value, strlen(value));
}

/* NAME=VALUE lines; blank lines and lines starting with # are skipped; the value is the rest of the
 * line as it stands (a trailing \r dropped). Returns 1, 0 after an error printed as FILE:LINE. */
static int read_secret_file(const char *path) {
        _cleanup_free_ char *text = NULL, *ep = escape_for_terminal(path);
        unsigned line = 0;
        int r;

        r = read_full_file_at(AT_FDCWD, path, SECRET_FILE_MAX, &text);
        if (r < 0) {
                fprintf(stderr, "runnerctl: %s: %s\n", strna(ep),
                        r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
                return 0;
        }
        if (memchr(text, '\0', (size_t) r)) {
                fprintf(stderr, "runnerctl: %s: the file contains a NUL byte\n", strna(ep));
                return 0;
        }
        for (char *p = text; *p;) {
                size_t n = strcspn(p, "\n"), len = n;
                const char *eq, *s = p;

                line++;
                if (len > 0 && p[len - 1] == '\r')
                        len--;
                while (len > 0 && (*s == ' ' || *s == '\t')) {
                        s++;
                        len--;
                }
                if (len > 0 && *s != '#') {
                        eq = memchr(s, '=', len);
                        if (!eq || !run_secret_name_valid(s, (size_t) (eq - s))) {
                                fprintf(stderr,
                                        "runnerctl: %s:%u: expected NAME=VALUE, NAME of letters, digits and _, not starting with a digit or GITHUB_\n",
                                        strna(ep), line);
                                return 0;
                        }
                        r = push_secret(s, (size_t) (eq - s), eq + 1, len - (size_t) (eq - s) - 1);
                        if (r < 0)
                                return r;
                }
                p += n + (p[n] == '\n');
        }
        return 1;
}

/* ---- contexts (run --event, --event-file, --input, --var, --var-file) ---- */

static int push_assignment(
        char ***l, size_t *n, const char *name, size_t name_len, const char *value, size_t value_len) {
        char **nl, *e;

        nl = realloc(*l, (*n + 2) * sizeof(char *));
        if (!nl)
                return -ENOMEM;
        *l = nl;
        if (asprintf(&e, "%.*s=%.*s", (int) name_len, name, (int) value_len, value) < 0)
                return -ENOMEM;
        nl[(*n)++] = e;
        nl[*n] = NULL;
        return 1;
}

static int add_assignment_option(RunAssignmentKind kind, const char *arg) {
        size_t len;

        if (run_assignment_parse(kind, arg, strlen(arg), &len) < 0) {
                _cleanup_free_ char *e = escape_for_terminal(arg);
                usage_error(kind == RUN_ASSIGNMENT_INPUT
                                ? "--input %s: expected NAME=VALUE, NAME of letters, digits, - and _, starting with a letter or _"
                                : "--var %s: expected NAME=VALUE, NAME of letters, digits and _, not starting with a digit or GITHUB_",
                        strna(e));
                return 0;
        }
        if (kind == RUN_ASSIGNMENT_INPUT)
                return push_assignment(
                        &arg_inputs, &arg_n_inputs, arg, len, arg + len + 1, strlen(arg + len + 1));
        return push_assignment(&arg_vars, &arg_n_vars, arg, len, arg + len + 1, strlen(arg + len + 1));
}

static int push_var(const char *name, size_t name_len, const char *value, size_t value_len, void *userdata) {
        return push_assignment(&arg_vars, &arg_n_vars, name, name_len, value, value_len);
}

static int read_var_file(const char *path) {
        _cleanup_free_ char *text = NULL, *ep = escape_for_terminal(path);
        unsigned line = 0;
        int r;

        r = read_full_file_at(AT_FDCWD, path, RUN_VAR_FILE_MAX, &text);
        if (r < 0) {
                fprintf(stderr, "runnerctl: %s: %s\n", strna(ep),
                        r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
                return 0;
        }
        r = run_var_file_parse(text, (size_t) r, push_var, NULL, &line);
        if (r == -EINVAL) {
                fprintf(stderr,
                        "runnerctl: %s:%u: expected NAME=VALUE, NAME of letters, digits and _, not starting with a digit or GITHUB_\n",
                        strna(ep), line);
                return 0;
        }
        return r < 0 ? r : 1;
}

static int read_event_file(const char *path) {
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        _cleanup_free_ char *text = NULL, *ep = escape_for_terminal(path);
        char why[256] = "";
        int r;

        r = read_full_file_at(AT_FDCWD, path, RUN_EVENT_MAX, &text);
        if (r < 0) {
                fprintf(stderr, "runnerctl: %s: %s\n", strna(ep),
                        r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
                return 0;
        }
        if (memchr(text, 0, (size_t) r) ||
                expr_value_from_json(text, (size_t) r, &v, why, sizeof(why)) < 0 || v->kind != EXPR_OBJECT) {
                fprintf(stderr, "runnerctl: %s: not a JSON object%s%s\n", strna(ep), why[0] ? ": " : "",
                        why);
                return 0;
        }
        free(arg_event_json);
        arg_event_json = TAKE_PTR(text);
        return 1;
}

/* The options that only some verbs take. */
typedef enum VerbOption {
        OPTION_JSON = 1 << 0,
        OPTION_WAIT = 1 << 1,
        OPTION_FOLLOW = 1 << 2,
        OPTION_FORCE = 1 << 3,
        OPTION_CONTEXT = 1 << 4,
        OPTION_IF = 1 << 5,
        OPTION_F = 1 << 6, /* -f: --force for cancel, --follow for run and logs */
        OPTION_SECRET = 1 << 7,
        OPTION_RUN_CONTEXT = 1 << 8,
        OPTION_SOURCE = 1 << 9,
        OPTION_NO_SOURCE = 1 << 10,
} VerbOption;

static const struct {
        VerbOption option;
        const char *name;
} option_names[] = {
        { OPTION_JSON, "--json" },
        { OPTION_WAIT, "--wait" },
        { OPTION_FOLLOW, "--follow" },
        { OPTION_FORCE, "--force" },
        { OPTION_CONTEXT, "--context" },
        { OPTION_IF, "--if" },
        { OPTION_F, "-f" },
        { OPTION_SECRET, "--secret/--secret-file" },
        { OPTION_RUN_CONTEXT, "--event/--event-file/--input/--var/--var-file" },
        { OPTION_SOURCE, "--source" },
        { OPTION_NO_SOURCE, "--no-source" },
};

#define ARGS_ANY UINT_MAX

typedef struct Verb {
        const char *name;
        unsigned min_args, max_args; /* operands after the verb */
        VerbOption options;          /* which of the options above apply */
        int (*dispatch)(int argc, char *argv[]);
        const char *synopsis; /* for the usage error */
} Verb;

static const Verb verbs[] = {
        { "run", 1, 1,
                OPTION_WAIT | OPTION_FOLLOW | OPTION_F | OPTION_SECRET | OPTION_RUN_CONTEXT | OPTION_SOURCE |
                        OPTION_NO_SOURCE,
                verb_run,
                "run [--wait] [--follow] [-s NAME[=VALUE]]... [--secret-file FILE]... [--event NAME] [--event-file FILE] [--input NAME=VALUE]... [--var NAME=VALUE]... [--var-file FILE]... [--source DIR | --no-source] WORKFLOW.yml" },
        { "status", 0, 1, OPTION_JSON, verb_status, "status [--json] [RUN]" },
        { "cancel", 1, 1, OPTION_FORCE | OPTION_F, verb_cancel, "cancel [--force] RUN" },
        { "list", 0, 0, OPTION_JSON, verb_list, "list [--json]" },
        { "logs", 1, 3, OPTION_FOLLOW | OPTION_F, verb_logs, "logs [--follow] RUN [JOB [STEP]]" },
        { "events", 1, 1, OPTION_JSON, verb_events, "events [--json] RUN" },
        { "action", 1, 3, OPTION_JSON, verb_action,
                "action add OWNER/REPO@REF SOURCE | action list [--json] | action remove OWNER/REPO@REF | action resolve [--json] OWNER/REPO@REF" },
        { "validate", 1, ARGS_ANY, 0, verb_validate, "validate WORKFLOW.yml..." },
        { "eval", 1, 1, OPTION_CONTEXT | OPTION_IF, verb_eval,
                "eval [--context FILE.json] [--if] 'EXPRESSION'" },
        { "help", 0, ARGS_ANY, 0, verb_help, "help" },
};

/* Sets arg_verbose and arg_context, collects the verb-specific options given into ret_given (verb_for()
 * turns them into arg_* once the verb is known), and the verb and its operands, in order, into
 * ret_operands. Returns 1 to go on, 0 to exit successfully (--help, --version), -ENOMEM, or -EINVAL
 * after a usage error. */
static int parse_argv(int argc, char *argv[], VerbOption *ret_given, char ***ret_operands, size_t *ret_n) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_WAIT,
                ARG_FOLLOW,
                ARG_FORCE,
                ARG_CONTEXT,
                ARG_IF,
                ARG_SECRET_FILE,
                ARG_EVENT,
                ARG_EVENT_FILE,
                ARG_INPUT,
                ARG_VAR,
                ARG_VAR_FILE,
                ARG_SOURCE,
                ARG_NO_SOURCE,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "verbose", no_argument, NULL, 'v' },
                { "json", no_argument, NULL, ARG_JSON },
                { "wait", no_argument, NULL, ARG_WAIT },
                { "follow", no_argument, NULL, ARG_FOLLOW },
                { "force", no_argument, NULL, ARG_FORCE },
                { "context", required_argument, NULL, ARG_CONTEXT },
                { "if", no_argument, NULL, ARG_IF },
                { "secret", required_argument, NULL, 's' },
                { "secret-file", required_argument, NULL, ARG_SECRET_FILE },
                { "event", required_argument, NULL, ARG_EVENT },
                { "event-file", required_argument, NULL, ARG_EVENT_FILE },
                { "input", required_argument, NULL, ARG_INPUT },
                { "var", required_argument, NULL, ARG_VAR },
                { "var-file", required_argument, NULL, ARG_VAR_FILE },
                { "source", required_argument, NULL, ARG_SOURCE },
                { "no-source", no_argument, NULL, ARG_NO_SOURCE },
                {},
        };
        _cleanup_free_ char **operands = NULL;
        VerbOption given = 0;
        size_t n = 0;
        int c, r;

        operands = calloc((size_t) argc + 1, sizeof(char *));
        if (!operands)
                return -ENOMEM;

        /* "-": operands come back in order as 1, so that options may follow them whatever
         * POSIXLY_CORRECT says; ":": a missing argument is reported as such. We print the errors. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "-:hvfs:", options, NULL)) >= 0)
                switch (c) {
                case 1:
                        operands[n++] = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("runnerctl %s\n", PACKAGE_VERSION);
                        return 0;
                case 'v':
                        arg_verbose = true;
                        break;
                case 'f':
                        given |= OPTION_F;
                        break;
                case ARG_JSON:
                        given |= OPTION_JSON;
                        break;
                case ARG_WAIT:
                        given |= OPTION_WAIT;
                        break;
                case ARG_FOLLOW:
                        given |= OPTION_FOLLOW;
                        break;
                case ARG_FORCE:
                        given |= OPTION_FORCE;
                        break;
                case ARG_CONTEXT:
                        given |= OPTION_CONTEXT;
                        arg_context = optarg;
                        break;
                case ARG_IF:
                        given |= OPTION_IF;
                        break;
                case 's':
                        given |= OPTION_SECRET;
                        r = add_secret_option(optarg);
                        if (r <= 0)
                                return r < 0 ? r : -EINVAL;
                        break;
                case ARG_SECRET_FILE:
                        given |= OPTION_SECRET;
                        r = read_secret_file(optarg);
                        if (r <= 0)
                                return r < 0 ? r : -EINVAL;
                        break;
                case ARG_EVENT:
                        given |= OPTION_RUN_CONTEXT;
                        if (!run_event_name_valid(optarg, strlen(optarg))) {
                                _cleanup_free_ char *e = escape_for_terminal(optarg);
                                return usage_error(
                                        "--event %s: an event name is lowercase letters and _ (push, workflow_dispatch)",
                                        strna(e));
                        }
                        arg_event = optarg;
                        break;
                case ARG_EVENT_FILE:
                case ARG_VAR_FILE:
                        given |= OPTION_RUN_CONTEXT;
                        r = c == ARG_EVENT_FILE ? read_event_file(optarg) : read_var_file(optarg);
                        if (r <= 0)
                                return r < 0 ? r : -EINVAL;
                        break;
                case ARG_INPUT:
                case ARG_VAR:
                        given |= OPTION_RUN_CONTEXT;
                        r = add_assignment_option(
                                c == ARG_INPUT ? RUN_ASSIGNMENT_INPUT : RUN_ASSIGNMENT_VAR, optarg);
                        if (r <= 0)
                                return r < 0 ? r : -EINVAL;
                        break;
                case ARG_SOURCE:
                        given |= OPTION_SOURCE;
                        arg_source = optarg;
                        break;
                case ARG_NO_SOURCE:
                        given |= OPTION_NO_SOURCE;
                        arg_no_source = true;
                        break;
                case ':':
                        return usage_error("option '%s' needs a value", argv[optind - 1]);
                case '?': {
                        /* optopt is the character of an unknown short option, 0 for an unknown long
                         * one, and the value of a long one given a value it does not take. */
                        _cleanup_free_ char *e = NULL;
                        if (optopt > 0x20 && optopt < 0x7f && !strchr("hvfs", optopt))
                                return usage_error("unknown option '-%c'", optopt);
                        if (optopt != 0 && optopt < 0x100 && !strchr("hvfs", optopt))
                                return usage_error("unknown option");
                        /* A long option: getopt_long() has moved past it. */
                        e = escape_for_terminal(argv[optind - 1]);
                        if (optopt == 0)
                                return usage_error("unknown option '%s'", strna(e));
                        return usage_error("option '%s' takes no value", strna(e));
                }
                default:
                        return -EINVAL;
                }
        /* After "--", the rest are operands. */
        for (int i = optind; i < argc; i++)
                operands[n++] = argv[i];

        *ret_given = given;
        *ret_operands = TAKE_PTR(operands);
        *ret_n = n;
        return 1;
}

static const Verb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

/* Checks the options and operands given against the verb's entry in the table, and sets the arg_*
 * that the options mean for it. Returns the verb, or NULL after a usage error. */
static const Verb *verb_for(VerbOption given, char **operands, size_t n) {
        const Verb *verb;
        size_t args;

        if (n == 0) {
                usage_error("no command given");
                return NULL;
        }
        verb = find_verb(operands[0]);
        if (!verb) {
                _cleanup_free_ char *e = escape_for_terminal(operands[0]);
                usage_error("unknown command '%s'", strna(e));
                return NULL;
        }

        for (size_t i = 0; i < ELEMENTSOF(option_names); i++)
                if ((given & option_names[i].option) && !(verb->options & option_names[i].option)) {
                        usage_error("option '%s' does not apply to %s", option_names[i].name, verb->name);
                        return NULL;
                }
        args = n - 1;
        if (args < verb->min_args) {
                usage_error("too few arguments for %s; usage: runnerctl %s", verb->name, verb->synopsis);
                return NULL;
        }
        if (verb->max_args != ARGS_ANY && args > verb->max_args) {
                usage_error("too many arguments for %s; usage: runnerctl %s", verb->name, verb->synopsis);
                return NULL;
        }

        if ((given & OPTION_SOURCE) && (given & OPTION_NO_SOURCE)) {
                usage_error("--source and --no-source exclude each other");
                return NULL;
        }
        if (given & OPTION_F)
                given |= verb->options & OPTION_FORCE ? OPTION_FORCE : OPTION_FOLLOW;
        arg_json = given & OPTION_JSON;
        arg_wait = given & OPTION_WAIT;
        arg_follow = given & OPTION_FOLLOW;
        arg_force = given & OPTION_FORCE;
        arg_if = given & OPTION_IF;
        return verb;
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char **operands = NULL;
        const Verb *verb;
        VerbOption given = 0;
        size_t n = 0;
        int r;

        r = parse_argv(argc, argv, &given, &operands, &n);
        if (r == -ENOMEM) {
                fprintf(stderr, "runnerctl: %s\n", strerror(ENOMEM));
                return EXIT_FAILED;
        }
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : 0;
        verb = verb_for(given, operands, n);
        if (!verb)
                return EXIT_USAGE;
        return verb->dispatch((int) n, operands);
}
