/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The workflow loader: every file in workflows/valid loads, every file in workflows/invalid fails with
 * exactly the errors its .expected file lists (LINE:COLUMN: MESSAGE, one a line, in order), and the
 * model holds what the file says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>

#include "fileio.h"
#include "macro.h"
#include "test-util.h"
#include "workflow.h"

static char *fixture(const char *dir, const char *name) {
        char *path;

        assert_int_equal(asprintf(&path, "%s/%s/%s", WORKFLOW_FIXTURES_DIR, dir, name) < 0, 0);
        return path;
}

static char *read_fixture(const char *path, size_t *ret_len) {
        char *text = NULL;
        int r = read_full_file_at(AT_FDCWD, path, 4 * WORKFLOW_MAX_SIZE, &text);

        if (r < 0)
                fail_msg("cannot read %s: %s", path, strerror(-r));
        *ret_len = (size_t) r;
        return text;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

static unsigned for_each_fixture(const char *dir, void (*f)(const char *name)) {
        _cleanup_free_ char *path = fixture(dir, "");
        struct dirent **list = NULL;
        int n = scandir(path, &list, NULL, alphasort);
        unsigned count = 0;

        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                if (has_suffix(list[i]->d_name, ".yml")) {
                        f(list[i]->d_name);
                        count++;
                }
                free(list[i]);
        }
        free(list);
        return count;
}

static void check_valid(const char *name) {
        _cleanup_free_ char *path = fixture("valid", name), *text = NULL;
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        size_t len;
        int r;

        text = read_fixture(path, &len);
        r = workflow_load(text, len, &w, &errors);
        for (size_t i = 0; i < errors.n; i++)
                print_error("%s:%u:%u: %s\n", name, errors.errors[i].pos.line, errors.errors[i].pos.column,
                        errors.errors[i].message);
        assert_int_equal(r, 0);
        assert_int_equal(errors.n, 0);
        assert_non_null(w);
        assert_true(w->n_jobs > 0);
}

static void check_invalid(const char *name) {
        _cleanup_free_ char *path = fixture("invalid", name), *text = NULL, *expected_path = NULL,
                            *expected = NULL, *got = NULL;
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        size_t len, got_len = 0;
        FILE *f;
        int r;

        text = read_fixture(path, &len);
        r = workflow_load(text, len, &w, &errors);
        assert_int_equal(r, -EINVAL);
        assert_null(w);

        f = open_memstream(&got, &got_len);
        assert_non_null(f);
        for (size_t i = 0; i < errors.n; i++)
                fprintf(f, "%u:%u: %s\n", errors.errors[i].pos.line, errors.errors[i].pos.column,
                        errors.errors[i].message);
        assert_int_equal(fclose(f), 0);

        assert_int_equal(asprintf(&expected_path, "%.*s.expected", (int) strlen(path) - 4, path) < 0, 0);
        expected = read_fixture(expected_path, &len);
        if (!streq(expected, got))
                fail_msg("%s: expected errors:\n%s\ngot:\n%s", name, expected, got);
}

static void test_valid_fixtures(void **state) {
        assert_true(for_each_fixture("valid", check_valid) >= 2);
}

static void test_invalid_fixtures(void **state) {
        assert_true(for_each_fixture("invalid", check_invalid) >= 15);
}

static Workflow *load_ok(const char *text) {
        WorkflowErrors errors = {};
        Workflow *w = NULL;
        int r = workflow_load(text, strlen(text), &w, &errors);

        for (size_t i = 0; i < errors.n; i++)
                print_error("%u:%u: %s\n", errors.errors[i].pos.line, errors.errors[i].pos.column,
                        errors.errors[i].message);
        workflow_errors_done(&errors);
        assert_int_equal(r, 0);
        return w;
}

static void test_model(void **state) {
        _cleanup_free_ char *path = fixture("valid", "cleanup.yml"), *text = NULL;
        _cleanup_(workflow_freep) Workflow *w = NULL;
        const WorkflowJob *build, *test, *cleanup;
        size_t len;

        text = read_fixture(path, &len);
        assert_int_equal(workflow_load(text, len, &w, NULL), 0);

        assert_string_equal(w->name, "Build and clean up");
        assert_int_equal(w->n_on, 2);
        assert_string_equal(w->on[0], "push");
        assert_string_equal(w->on[1], "workflow_dispatch");
        assert_int_equal(w->n_jobs, 3);

        build = &w->jobs[0];
        assert_string_equal(build->id, "build");
        assert_int_equal(build->number, 1);
        assert_string_equal(build->name.raw, "Build on ${{ github.ref_name }}");
        assert_non_null(build->name.template);
        assert_string_equal(build->runs_on, "self-hosted,linux");
        assert_int_equal(build->timeout_usec, 360ULL * 60 * 1000000);
        assert_int_equal(build->env.n, 3);
        assert_string_equal(build->env.items[1].name, "LEVEL");
        assert_string_equal(build->env.items[1].value.raw, "2");
        assert_string_equal(build->env.items[2].value.raw, "");
        assert_int_equal(build->n_steps, 3);

        /* shells: the job's default (python) beats the workflow's (sh); a step's own beats both */
        assert_string_equal(build->steps[0].shell, "python {0}");
        assert_string_equal(build->steps[0].shell_name, "python");
        assert_string_equal(build->steps[1].shell, "bash --noprofile --norc -eo pipefail {0}");
        assert_string_equal(build->steps[2].shell, "perl {0}");
        assert_null(build->steps[2].shell_name);

        /* ids: given, or GitHub's generated ones, skipping an id a step already has */
        assert_string_equal(build->steps[0].id, "__run");
        assert_true(build->steps[0].id_generated);
        assert_string_equal(build->steps[1].id, "compile");
        assert_false(build->steps[1].id_generated);
        assert_string_equal(build->steps[2].id, "__run_2");
        assert_int_equal(build->steps[2].number, 3);

        /* working directory: the step's own, else the workflow default */
        assert_string_equal(build->steps[1].working_directory.raw, "${{ github.workspace }}/build");
        assert_string_equal(build->steps[0].working_directory.raw, "src");

        /* conditions: absent is success(); a status function keeps the condition as written */
        assert_null(build->steps[0].condition.raw);
        assert_non_null(build->steps[0].condition.node);
        assert_string_equal(build->steps[2].condition.raw, "${{ !cancelled() }}");
        assert_true(expr_node_uses_status(build->steps[2].condition.node));

        test = workflow_find_job(w, "test");
        assert_non_null(test);
        assert_int_equal(test->number, 2);
        assert_int_equal(test->timeout_usec, 30ULL * 60 * 1000000);
        assert_false(test->continue_on_error);
        assert_int_equal(test->n_needs, 1);
        assert_int_equal(test->needs_index[0], 0);
        assert_int_equal(test->steps[0].timeout_usec, 5ULL * 60 * 1000000);
        assert_true(test->steps[0].continue_on_error);
        assert_string_equal(test->steps[0].shell, "sh -e {0}");
        /* the given __run makes the generated ones move on */
        assert_string_equal(test->steps[0].id, "__run_2");
        assert_string_equal(test->steps[1].id, "__run");
        assert_string_equal(test->steps[2].id, "__run_3");

        cleanup = workflow_find_job(w, "cleanup");
        assert_non_null(cleanup);
        assert_int_equal(cleanup->n_needs, 2);
        assert_int_equal(cleanup->needs_index[1], 1);
        assert_int_equal(cleanup->outputs.n, 1);
        assert_string_equal(cleanup->outputs.items[0].name, "done");
        assert_null(workflow_find_job(w, "nope"));
}

static void test_defaults(void **state) {
        _cleanup_(workflow_freep) Workflow *w = NULL;

        /* no shell anywhere: GitHub's Linux default, not the explicit bash line */
        w = load_ok(
                "jobs:\n  a:\n    steps:\n      - run: echo\n      - run: echo\n        timeout-minutes: 0.5\n");
        assert_string_equal(w->jobs[0].steps[0].shell, "bash -e {0}");
        assert_null(w->jobs[0].steps[0].shell_name);
        assert_null(w->jobs[0].steps[0].working_directory.raw);
        assert_int_equal(w->jobs[0].steps[1].timeout_usec, 30ULL * 1000000);
        assert_int_equal(w->n_on, 0);
        assert_null(w->name);
        w = workflow_free(w);

        /* on: as a scalar; YAML's other boolean spellings */
        w = load_ok(
                "on: push\njobs:\n  a:\n    continue-on-error: True\n    steps:\n      - run: x\n        "
                "continue-on-error: FALSE\n");
        assert_int_equal(w->n_on, 1);
        assert_true(w->jobs[0].continue_on_error);
        assert_false(w->jobs[0].steps[0].continue_on_error);
}

static void expect_error(const char *text, size_t len, const char *expected) {
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        char got[512];

        assert_int_equal(workflow_load(text, len, &w, &errors), -EINVAL);
        assert_true(errors.n >= 1);
        snprintf(got, sizeof(got), "%u:%u: %s", errors.errors[0].pos.line, errors.errors[0].pos.column,
                errors.errors[0].message);
        if (!streq(got, expected))
                fail_msg("expected %s, got %s", expected, got);
}

static void test_limits(void **state) {
        _cleanup_free_ char *big = NULL, *jobs = NULL, *steps = NULL, *string = NULL;
        char *p;

        /* the file */
        big = repeat_text("", "#", WORKFLOW_MAX_SIZE + 1, "");
        expect_error(big, strlen(big), "1:1: the file has 1048577 bytes, more than the limit of 1048576");
        expect_error("jobs:\n  a:\0", 11, "2:5: the file contains a NUL byte");

        /* 257 jobs */
        jobs = repeat_text("jobs:\n", "  j:\n    steps: [{run: x}]\n", 0, "");
        for (unsigned i = 0; i <= WORKFLOW_MAX_JOBS; i++) {
                p = jobs;
                assert_int_equal(asprintf(&jobs, "%s  j%u:\n    steps: [{run: x}]\n", p, i) < 0, 0);
                free(p);
        }
        expect_error(jobs, strlen(jobs), "514:3: the workflow has 257 jobs, more than the limit of 256");

        /* 1001 steps */
        steps = repeat_text("jobs:\n  a:\n    steps:\n", "      - run: x\n", WORKFLOW_MAX_STEPS + 1, "");
        expect_error(steps, strlen(steps), "1004:9: job 'a' has 1001 steps, more than the limit of 1000");

        /* a 256 KiB + 1 string */
        string = repeat_text("jobs:\n  a:\n    steps:\n      - run: ", "x", WORKFLOW_MAX_STRING + 1, "\n");
        expect_error(string, strlen(string),
                "4:14: string of 262145 bytes is longer than the limit of 262144 bytes");

        /* what fits, loads */
        free(steps);
        steps = repeat_text("jobs:\n  a:\n    steps:\n", "      - run: x\n", WORKFLOW_MAX_STEPS, "");
        _cleanup_(workflow_freep) Workflow *w = load_ok(steps);
        assert_int_equal(w->jobs[0].n_steps, WORKFLOW_MAX_STEPS);
        assert_string_equal(w->jobs[0].steps[999].id, "__run_1000");
}

static void test_display_names(void **state) {
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_free_ char *long_line = NULL, *long_yaml = NULL, *wide = NULL, *wide_yaml = NULL;
        const WorkflowJob *j;
        char *expected;

        /* As on GitHub: a step without a name is "Run " and the first line of its script, leading blank
         * lines and whitespace trimmed, up to CR or LF; a name is shown as written until it is
         * evaluated. The generated ids stay ids. */
        w = load_ok("jobs:\n"
                    "  a:\n"
                    "    steps:\n"
                    "      - run: \"\\n  \\n \\t make -j4   \\nmake install\\n\"\n"
                    "      - run: \"\\t make\\r\\nmake check\"\n"
                    "      - name: Test ${{ github.job }}\n"
                    "        run: make test\n"
                    "      - id: deploy\n"
                    "        run: ./deploy ${{ github.ref }}\n");
        j = &w->jobs[0];
        assert_string_equal(j->steps[0].display_name, "Run make -j4   ");
        assert_string_equal(j->steps[0].id, "__run");
        assert_string_equal(j->steps[1].display_name, "Run make");
        assert_string_equal(j->steps[1].id, "__run_2");
        assert_string_equal(j->steps[2].display_name, "Test ${{ github.job }}");
        assert_string_equal(j->steps[3].display_name, "Run ./deploy ${{ github.ref }}");
        w = workflow_free(w);

        /* A long line is cut after WORKFLOW_MAX_DISPLAY_NAME characters, never inside one. */
        long_line = repeat_text("", "x", WORKFLOW_MAX_DISPLAY_NAME + 500, "");
        assert_int_equal(
                asprintf(&long_yaml, "jobs:\n  a:\n    steps:\n      - run: %s\n", long_line) < 0, 0);
        w = load_ok(long_yaml);
        assert_int_equal(strlen(w->jobs[0].steps[0].display_name), 4 + WORKFLOW_MAX_DISPLAY_NAME);
        assert_true(strncmp(w->jobs[0].steps[0].display_name, "Run xxx", 7) == 0);
        w = workflow_free(w);

        wide = repeat_text("", "\xc3\xa9", WORKFLOW_MAX_DISPLAY_NAME + 1, ""); /* é, two bytes each */
        assert_int_equal(asprintf(&wide_yaml, "jobs:\n  a:\n    steps:\n      - run: %s\n", wide) < 0, 0);
        w = load_ok(wide_yaml);
        expected = repeat_text("Run ", "\xc3\xa9", WORKFLOW_MAX_DISPLAY_NAME, "");
        assert_string_equal(w->jobs[0].steps[0].display_name, expected);
        free(expected);
}

/* strategy: the model, YAML's types in matrix values, and the agent's refusal until it runs them */
static void test_strategy(void **state) {
        _cleanup_(workflow_freep)
                Workflow *w = load_ok("jobs:\n"
                                      "  plain:\n"
                                      "    steps: [ { run: echo } ]\n"
                                      "  m:\n"
                                      "    strategy:\n"
                                      "      max-parallel: 2\n"
                                      "      matrix:\n"
                                      "        py: [3.10, '3.10', true, null, ~, 0x10]\n"
                                      "        os: [linux]\n"
                                      "        include: [ { os: linux, extra: { a: [1] } } ]\n"
                                      "    steps: [ { run: echo } ]\n"
                                      "  dyn:\n"
                                      "    needs: m\n"
                                      "    strategy:\n"
                                      "      fail-fast: false\n"
                                      "      matrix: ${{ fromJSON(needs.m.outputs.x) }}\n"
                                      "    steps: [ { run: echo } ]\n");
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        _cleanup_free_ char *json = NULL;
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};

        assert_null(w->jobs[0].strategy);
        assert_non_null(w->jobs[1].strategy);
        assert_true(w->jobs[1].strategy->fail_fast);
        assert_int_equal(w->jobs[1].strategy->max_parallel, 2);
        assert_int_equal(w->jobs[1].strategy->n_combinations, 6);
        assert_false(w->jobs[1].strategy->matrix->has_templates);
        assert_int_equal(workflow_value_evaluate(w->jobs[1].strategy->matrix, NULL, &v, NULL, NULL), 0);
        assert_int_equal(expr_value_to_json(v, false, &json, NULL), 0);
        /* 0x10 is not a YAML 1.2 core schema decimal, so it stays a string as the loader reads numbers */
        assert_string_equal(json,
                "{\"py\":[3.1,\"3.10\",true,null,null,\"0x10\"],\"os\":[\"linux\"],"
                "\"include\":[{\"os\":\"linux\",\"extra\":{\"a\":[1]}}]}");

        assert_false(w->jobs[2].strategy->fail_fast);
        assert_int_equal(w->jobs[2].strategy->max_parallel, 0);
        assert_int_equal(w->jobs[2].strategy->n_combinations, 0);
        assert_true(w->jobs[2].strategy->matrix->has_templates);
        assert_int_equal(w->jobs[2].strategy->matrix->kind, EXPR_STRING);

        /* both run: the one computed by ${{ }} is expanded when its job is ready */
        assert_int_equal(workflow_check_runnable(w, &errors), 0);
        assert_int_equal(errors.n, 0);
        workflow_errors_done(&errors);

        w = workflow_free(w);
        w = load_ok("jobs:\n  a:\n    strategy: { matrix: { os: [a] } }\n    steps: [ { run: echo } ]\n"
                    "  b:\n    strategy: { fail-fast: false }\n    steps: [ { run: echo } ]\n");
        assert_int_equal(workflow_check_runnable(w, &errors), 0);
        assert_int_equal(errors.n, 0);

        w = workflow_free(w);
        w = load_ok("jobs:\n  a:\n    strategy: { matrix: { os: [a], exclude: [ { os: a } ] } }\n"
                    "    steps: [ { run: echo } ]\n");
        assert_int_equal(workflow_check_runnable(w, &errors), -EOPNOTSUPP);
        assert_int_equal(errors.n, 1);
        assert_string_equal(errors.errors[0].message, "the matrix of job 'a' has no combinations");
}

/* concurrency: the model, and the agent runs it */
static void test_concurrency(void **state) {
        _cleanup_free_ char *path = fixture("valid", "concurrency.yml"), *text = NULL;
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        size_t len;

        text = read_fixture(path, &len);
        assert_int_equal(workflow_load(text, len, &w, NULL), 0);
        assert_non_null(w->concurrency);
        assert_string_equal(w->concurrency->group.raw, "deploy-${{ github.ref }}");
        assert_non_null(w->concurrency->group.template->node);
        assert_string_equal(w->concurrency->cancel_in_progress.raw, "true");
        assert_string_equal(w->jobs[0].concurrency->group.raw, "plan");
        assert_null(w->jobs[0].concurrency->cancel_in_progress.raw);
        assert_non_null(w->jobs[1].concurrency->cancel_in_progress.template->node);

        /* the agent runs it */
        assert_int_equal(workflow_check_runnable(w, &errors), 0);
        assert_int_equal(errors.n, 0);
}

/* uses: other actions: what they use, their with:, display names and GitHub's generated ids; the
 * built-in actions/checkout stays what it was. */
static void test_uses(void **state) {
        _cleanup_(workflow_freep) Workflow *w = NULL;
        const WorkflowJob *j;
        const WorkflowStep *s;

        w = load_ok("jobs:\n"
                    "  a:\n"
                    "    steps:\n"
                    "      - uses: actions/setup-node@v4\n"
                    "        with:\n"
                    "          node-version: 20\n"
                    "          token: ${{ secrets.TOKEN }}\n"
                    "      - run: make\n"
                    "      - uses: ./.github/actions/hello\n"
                    "      - uses: octo-org/mono.repo/tools/lint@0123abc\n"
                    "        id: lint\n"
                    "        if: always()\n"
                    "        env: { A: b }\n"
                    "        continue-on-error: true\n"
                    "        timeout-minutes: 5\n"
                    "      - uses: Actions/Checkout@v4\n"
                    "      - uses: actions/setup-node@v3\n"
                    "      - uses: ./.github/actions/hello\n"
                    "      - name: Hi ${{ github.job }}\n"
                    "        uses: actions/checkout/sub@v4\n"
                    "      - uses: ./\n");
        j = &w->jobs[0];
        assert_int_equal(j->n_steps, 9);

        s = &j->steps[0];
        assert_int_equal(s->kind, WORKFLOW_STEP_ACTION);
        assert_string_equal(s->uses, "actions/setup-node@v4");
        assert_int_equal(s->uses_pos.line, 4);
        assert_int_equal(s->uses_pos.column, 15);
        assert_string_equal(s->action.owner, "actions");
        assert_string_equal(s->action.repo, "setup-node");
        assert_null(s->action.path);
        assert_string_equal(s->action.ref, "v4");
        assert_int_equal(s->with.n, 2);
        assert_string_equal(s->with.items[0].name, "node-version");
        assert_string_equal(s->with.items[0].value.raw, "20");
        assert_string_equal(s->with.items[1].name, "token");
        assert_non_null(s->with.items[1].value.template->node);
        assert_string_equal(s->display_name, "Run actions/setup-node@v4");
        assert_string_equal(s->id, "__actions_setup-node");
        assert_true(s->id_generated);

        /* scripts keep their numbering; action steps do not take a __run */
        assert_string_equal(j->steps[1].id, "__run");

        s = &j->steps[2];
        assert_int_equal(s->kind, WORKFLOW_STEP_ACTION);
        assert_null(s->action.owner);
        assert_null(s->action.repo);
        assert_null(s->action.ref);
        assert_string_equal(s->action.path, "./.github/actions/hello");
        assert_string_equal(s->display_name, "Run ./.github/actions/hello");
        assert_string_equal(s->id, "__self");

        s = &j->steps[3];
        assert_string_equal(s->action.owner, "octo-org");
        assert_string_equal(s->action.repo, "mono.repo");
        assert_string_equal(s->action.path, "tools/lint");
        assert_string_equal(s->action.ref, "0123abc");
        assert_string_equal(s->id, "lint");
        assert_false(s->id_generated);
        assert_string_equal(s->condition.raw, "always()");
        assert_int_equal(s->env.n, 1);
        assert_true(s->continue_on_error);
        assert_int_equal(s->timeout_usec, 5ULL * 60 * 1000000);

        /* actions/checkout, in any casing, is the built-in one */
        s = &j->steps[4];
        assert_int_equal(s->kind, WORKFLOW_STEP_CHECKOUT);
        assert_string_equal(s->id, "__run_2");

        /* ids stay unique, ignoring case, as GitHub's */
        assert_string_equal(j->steps[5].id, "__actions_setup-node_2");
        assert_string_equal(j->steps[6].id, "__self_2");

        /* only actions/checkout itself is built in; a name is shown as written */
        s = &j->steps[7];
        assert_int_equal(s->kind, WORKFLOW_STEP_ACTION);
        assert_string_equal(s->action.path, "sub");
        assert_string_equal(s->display_name, "Hi ${{ github.job }}");
        assert_string_equal(s->id, "__actions_checkout");

        s = &j->steps[8];
        assert_string_equal(s->action.path, "./");
        assert_string_equal(s->id, "__self_3");
        w = workflow_free(w);

        /* a given id takes the generated one's place first; '.' becomes '_'; long names are cut to stay
         * ids */
        w = load_ok("jobs:\n"
                    "  a:\n"
                    "    steps:\n"
                    "      - uses: a/b.c@v1\n"
                    "      - uses: a/b.c@v2\n"
                    "        id: __A_b_c\n"
                    "      - uses: abcdefghijabcdefghijabcdefghijabcdefghi/"
                    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij@v1\n"
                    "      - uses: abcdefghijabcdefghijabcdefghijabcdefghi/"
                    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij@v2\n");
        j = &w->jobs[0];
        assert_string_equal(j->steps[0].id, "__a_b_c_2");
        assert_int_equal(strlen(j->steps[2].id), WORKFLOW_MAX_ID - 1);
        assert_true(strncmp(j->steps[2].id, "__abcdefghij", 12) == 0);
        assert_int_equal(strlen(j->steps[3].id), WORKFLOW_MAX_ID - 1);
        assert_true(strcmp(j->steps[3].id + WORKFLOW_MAX_ID - 3, "_2") == 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_fixtures),
                cmocka_unit_test(test_invalid_fixtures),
                cmocka_unit_test(test_model),
                cmocka_unit_test(test_strategy),
                cmocka_unit_test(test_concurrency),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_display_names),
                cmocka_unit_test(test_uses),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
