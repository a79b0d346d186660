/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The run state machine (coordinator + executors) driven by a fake agent and a fake clock: each step's
 * run: text is a tiny script the fake agent interprets ("exit N", "output K=V", "env K=V", "path D"),
 * so that every test reads like the workflow it runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>

#include "json-util.h"
#include "macro.h"
#include "run-state.h"
#include "run.h"
#include "test-util.h"

#define T0 (1700000000ULL * USEC_PER_SEC)
#define AT(t) ((RunTime){ .realtime = (t), .monotonic = (t) })

typedef struct Started {
        size_t job, step;
        RunStepSpec *spec;
} Started;

typedef struct Agent {
        Run *run;
        uint64_t now;
        unsigned budget; /* for each advance; UINT_MAX: no limit */
        Started queue[64];
        size_t n_queue;
        size_t n_cleaned, n_changed;
        char log[4096]; /* "job/step" of each start, in order */
} Agent;

static RunTime agent_now(void *userdata) {
        const Agent *a = userdata;
        return AT(a->now);
}

static unsigned agent_room(void *userdata) {
        const Agent *a = userdata;
        return a->budget;
}

static void agent_start_step(void *userdata, RunAction *x, RunActions *more) {
        Agent *a = userdata;

        assert_true(a->n_queue < ELEMENTSOF(a->queue));
        a->queue[a->n_queue++] = (Started){ x->job, x->step, TAKE_PTR(x->spec) };
        snprintf(a->log + strlen(a->log), sizeof(a->log) - strlen(a->log), "%s/%s ",
                a->run->jobs[x->job].def->id, a->run->jobs[x->job].def->steps[x->step].id);
}

/* As the agent does: after a job's leftovers are gone, the run may move on. */
static void agent_clean_job(void *userdata, RunAction *x, RunActions *more) {
        Agent *a = userdata;

        a->n_cleaned++;
        assert_int_equal(run_job_cleaned(a->run, x->job, AT(a->now), more), 0);
}

static void agent_changed(void *userdata, RunAction *x, RunActions *more) {
        Agent *a = userdata;
        a->n_changed++;
}

/* Timers and the cancellation: test-cancel. */
static const RunDriverOps agent_ops = {
        .now = agent_now,
        .room = agent_room,
        .start_step = agent_start_step,
        .clean_job = agent_clean_job,
        .changed = agent_changed,
};

static void drive(Agent *a, RunActions *actions) {
        assert_int_equal(run_drive(a->run, &agent_ops, a, actions), 0);
}

/* Runs the script of the oldest started step and reports its exit. */
static void finish_one(Agent *a) {
        Started s = a->queue[0];
        _cleanup_free_ char *script = strdup(s.spec->script);
        char output[1024] = "", env[1024] = "", path[1024] = "";
        RunStepResult res = {};
        RunActions actions = {};

        memmove(a->queue, a->queue + 1, --a->n_queue * sizeof(Started));
        for (char *line = strtok(script, "\n"); line; line = strtok(NULL, "\n")) {
                if (strncmp(line, "exit ", 5) == 0)
                        res.exit_code = atoi(line + 5);
                else if (strncmp(line, "output ", 7) == 0)
                        snprintf(output + strlen(output), sizeof(output) - strlen(output), "%s\n", line + 7);
                else if (strncmp(line, "env ", 4) == 0)
                        snprintf(env + strlen(env), sizeof(env) - strlen(env), "%s\n", line + 4);
                else if (strncmp(line, "path ", 5) == 0)
                        snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s\n", line + 5);
        }
        res.output = output, res.output_len = strlen(output);
        res.env = env, res.env_len = strlen(env);
        res.path = path, res.path_len = strlen(path);

        a->now += USEC_PER_SEC;
        assert_int_equal(
                run_step_started(a->run, s.job, s.step, AT(a->now - USEC_PER_SEC / 2), &actions), 0);
        assert_int_equal(run_step_exited(a->run, s.job, s.step, &res, AT(a->now), &actions), 0);
        run_step_spec_free(s.spec);
        drive(a, &actions);
}

static void agent_start(Agent *a, const char *yaml) {
        Workflow *w = NULL;
        WorkflowErrors errors = {};

        *a = (Agent){ .now = T0, .budget = UINT_MAX };
        if (workflow_load(yaml, strlen(yaml), &w, &errors) < 0) {
                for (size_t i = 0; i < errors.n; i++)
                        print_message("%u:%u: %s\n", errors.errors[i].pos.line, errors.errors[i].pos.column,
                                errors.errors[i].message);
                fail();
        }
        assert_int_equal(run_new(7, "test.yml", w, "/work/r7", NULL, NULL, AT(a->now), &a->run), 0);
        drive(a, &(RunActions){});
}

static void agent_run_all(Agent *a) {
        while (a->n_queue > 0)
                finish_one(a);
        assert_int_equal(a->run->status, RUN_STATUS_COMPLETED);
        assert_true(run_is_idle(a->run));
}

static void agent_done(Agent *a) {
        for (size_t i = 0; i < a->n_queue; i++)
                run_step_spec_free(a->queue[i].spec);
        a->run = run_free(a->run);
}

static const RunJob *job(const Agent *a, const char *id) {
        for (size_t i = 0; i < a->run->n_jobs; i++)
                if (streq(a->run->jobs[i].def->id, id))
                        return &a->run->jobs[i];
        fail_msg("no job %s", id);
        return NULL;
}

static const char *conclusion(const Agent *a, const char *id) {
        return run_conclusion_to_string(job(a, id)->conclusion) ?: "none";
}

static const char *step_conclusion(const Agent *a, const char *id, size_t step) {
        return run_conclusion_to_string(job(a, id)->steps[step].conclusion) ?: "none";
}

static const char *output(const ExprValue *outputs, const char *key) {
        const ExprValue *v = expr_object_getz(outputs, key);
        return v ? v->string.s : NULL;
}

static const char *env_get(char **env, const char *name) {
        size_t len = strlen(name);
        const char *found = NULL;

        for (char **e = env; *e; e++)
                if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') {
                        assert_null(found); /* names are unique */
                        found = *e + len + 1;
                }
        return found;
}

/* The acceptance workflow of the system suite, in memory: needs, outputs, env, and a failing
 * continue-on-error step. */
static void test_three_jobs(void **state) {
        Agent a;

        agent_start(&a,
                "name: three\n"
                "env: { LEVEL: workflow, BOTH: workflow }\n"
                "jobs:\n"
                "  build:\n"
                "    env: { BOTH: job }\n"
                "    outputs: { artifact: '${{ steps.make.outputs.file }}' }\n"
                "    steps:\n"
                "      - id: make\n"
                "        run: |\n"
                "          output file=app-${{ env.LEVEL }}-${{ env.BOTH }}.tar\n"
                "      - run: exit 3\n"
                "        continue-on-error: true\n"
                "  test:\n"
                "    needs: build\n"
                "    steps:\n"
                "      - id: check\n"
                "        env: { ART: '${{ needs.build.outputs.artifact }}' }\n"
                "        run: output seen=${{ env.ART }}\n"
                "  deploy:\n"
                "    needs: [build, test]\n"
                "    if: needs.build.result == 'success'\n"
                "    steps:\n"
                "      - run: exit 0\n");

        /* Only build can start: its needs are complete, the others wait. */
        assert_int_equal(a.n_queue, 1);
        assert_int_equal(a.run->status, RUN_STATUS_IN_PROGRESS);
        assert_int_equal(job(&a, "test")->status, RUN_STATUS_QUEUED);

        finish_one(&a);
        /* The failing step runs with its outputs' predecessor done. */
        assert_int_equal(a.n_queue, 1);
        finish_one(&a);
        assert_string_equal(conclusion(&a, "build"), "success");
        assert_string_equal(run_conclusion_to_string(job(&a, "build")->steps[1].outcome), "failure");
        assert_string_equal(step_conclusion(&a, "build", 1), "success");
        assert_int_equal(job(&a, "build")->steps[1].exit_code, 3);
        assert_string_equal(output(job(&a, "build")->outputs, "artifact"), "app-workflow-job.tar");

        agent_run_all(&a);
        assert_string_equal(output(job(&a, "test")->steps[0].outputs, "seen"), "app-workflow-job.tar");
        assert_string_equal(conclusion(&a, "test"), "success");
        assert_string_equal(conclusion(&a, "deploy"), "success");
        assert_string_equal(run_conclusion_to_string(a.run->conclusion), "success");
        assert_string_equal(a.log, "build/make build/__run test/check deploy/__run ");
        assert_int_equal(a.n_cleaned, 3);
        agent_done(&a);
}

/* A failing job: dependents without a status function are skipped, failure() ones run, and the
 * run fails. */
static void test_failure_propagates(void **state) {
        Agent a;

        agent_start(&a,
                "jobs:\n"
                "  a:\n"
                "    steps:\n"
                "      - run: exit 1\n"
                "      - run: exit 0\n"
                "      - if: failure()\n"
                "        run: exit 0\n"
                "      - if: always()\n"
                "        run: exit 0\n"
                "  b: { needs: a, steps: [ { run: exit 0 } ] }\n"
                "  c: { needs: b, steps: [ { run: exit 0 } ] }\n"
                "  on-failure: { needs: c, if: failure(), steps: [ { run: exit 0 } ] }\n"
                "  always: { needs: a, if: always(), steps: [ { run: exit 0 } ] }\n"
                "  not-cancelled: { needs: a, if: '!cancelled()', steps: [ { run: exit 0 } ] }\n");
        agent_run_all(&a);

        assert_string_equal(step_conclusion(&a, "a", 0), "failure");
        assert_string_equal(step_conclusion(&a, "a", 1), "skipped");
        assert_string_equal(step_conclusion(&a, "a", 2), "success");
        assert_string_equal(step_conclusion(&a, "a", 3), "success");
        assert_string_equal(job(&a, "a")->steps[0].message, "Process completed with exit code 1.");
        assert_string_equal(conclusion(&a, "a"), "failure");
        assert_string_equal(conclusion(&a, "b"), "skipped");
        assert_string_equal(step_conclusion(&a, "b", 0), "skipped");
        assert_string_equal(conclusion(&a, "c"), "skipped");
        /* failure() looks at every ancestor, not only the direct needs. */
        assert_string_equal(conclusion(&a, "on-failure"), "success");
        assert_string_equal(conclusion(&a, "always"), "success");
        assert_string_equal(conclusion(&a, "not-cancelled"), "success");
        assert_string_equal(run_conclusion_to_string(a.run->conclusion), "failure");
        agent_done(&a);
}

static void test_file_commands(void **state) {
        Agent a;
        Started s;

        agent_start(&a,
                "jobs:\n"
                "  j:\n"
                "    env: { FROM_JOB: job }\n"
                "    steps:\n"
                "      - run: |\n"
                "          env FROM_STEP=one\n"
                "          env FROM_JOB=overridden\n"
                "          path /opt/a\n"
                "          path /opt/b\n"
                "      - env: { FROM_STEP: step-env-wins, GITHUB_JOB: not-this }\n"
                "        run: exit 0\n"
                "      - id: bad\n"
                "        run: output not a command\n"
                "      - if: steps.bad.outcome == 'failure'\n"
                "        run: exit 0\n");
        finish_one(&a);

        s = a.queue[0];
        assert_string_equal(env_get(s.spec->env, "FROM_STEP"), "step-env-wins");
        assert_string_equal(env_get(s.spec->env, "FROM_JOB"), "overridden");
        assert_string_equal(env_get(s.spec->env, "GITHUB_JOB"), "j");
        assert_string_equal(env_get(s.spec->env, "GITHUB_WORKSPACE"), "/work/r7/j");
        assert_string_equal(env_get(s.spec->env, "CI"), "true");
        assert_string_equal(s.spec->path[0], "/opt/b");
        assert_string_equal(s.spec->path[1], "/opt/a");
        assert_null(s.spec->path[2]);
        assert_string_equal(s.spec->working_directory, "/work/r7/j");
        assert_string_equal(s.spec->shell, "bash -e {0}");

        agent_run_all(&a);
        assert_string_equal(step_conclusion(&a, "j", 2), "failure");
        assert_string_equal(
                job(&a, "j")->steps[2].message, "GITHUB_OUTPUT: line 1: Invalid format 'not a command'");
        /* The step after it ran: it asked for failure through steps.<id>.outcome, which implies
         * success() && …, and success() is false now, so it is skipped. */
        assert_string_equal(step_conclusion(&a, "j", 3), "skipped");
        assert_string_equal(conclusion(&a, "j"), "failure");
        agent_done(&a);
}

static void test_parallel_budget(void **state) {
        Agent a;

        agent_start(&a,
                "jobs:\n"
                "  a: { steps: [ { run: exit 0 } ] }\n"
                "  b: { steps: [ { run: exit 0 } ] }\n"
                "  c: { steps: [ { run: exit 0 } ] }\n");
        /* No limit: all three start at once. */
        assert_int_equal(a.n_queue, 3);
        agent_run_all(&a);
        agent_done(&a);

        /* A budget of two: the third job waits for room. */
        {
                Workflow *w = NULL;
                const char *y = "jobs:\n"
                                "  a: { steps: [ { run: exit 0 } ] }\n"
                                "  b: { steps: [ { run: exit 0 } ] }\n"
                                "  c: { steps: [ { run: exit 0 } ] }\n";
                RunActions actions = {};
                unsigned budget = 2;
                size_t starts = 0;

                assert_int_equal(workflow_load(y, strlen(y), &w, NULL), 0);
                assert_int_equal(run_new(1, "x", w, "/w", NULL, NULL, AT(T0), &a.run), 0);
                assert_int_equal(run_advance(a.run, AT(T0), &budget, &actions), 0);
                for (size_t i = 0; i < actions.n; i++)
                        starts += actions.actions[i].type == RUN_ACTION_START_STEP;
                assert_int_equal(starts, 2);
                assert_int_equal(budget, 0);
                assert_int_equal(job(&a, "c")->status, RUN_STATUS_QUEUED);
                run_actions_done(&actions);
                a.run = run_free(a.run);
        }
}

static void test_evaluation_errors(void **state) {
        Agent a;

        agent_start(&a,
                "jobs:\n"
                "  a:\n"
                "    steps:\n"
                "      - run: exit 0\n"
                "        if: fromJSON('{')\n"
                "      - run: exit 0\n"
                "  b:\n"
                "    if: fromJSON('nope')\n"
                "    steps: [ { run: exit 0 } ]\n");
        agent_run_all(&a);
        assert_string_equal(step_conclusion(&a, "a", 0), "failure");
        assert_non_null(strstr(job(&a, "a")->steps[0].message, "5:13: if: "));
        assert_string_equal(step_conclusion(&a, "a", 1), "skipped");
        assert_string_equal(conclusion(&a, "b"), "failure");
        assert_non_null(strstr(job(&a, "b")->message, "8:9: if: "));
        assert_string_equal(step_conclusion(&a, "b", 0), "skipped");
        agent_done(&a);
}

static void test_step_failed_to_start(void **state) {
        Agent a;
        RunActions actions = {};

        agent_start(&a, "jobs:\n  a: { steps: [ { run: exit 0 }, { if: always(), run: exit 0 } ] }\n");
        assert_int_equal(
                run_step_failed(a.run, 0, 0, "Failed to start scope: boom", AT(a.now), &actions), 0);
        assert_int_equal(run_step_failed(a.run, 0, 0, "again", AT(a.now), &actions), -ESTALE);
        run_step_spec_free(a.queue[0].spec);
        a.n_queue = 0;
        drive(&a, &actions);
        agent_run_all(&a);
        assert_string_equal(step_conclusion(&a, "a", 0), "failure");
        assert_string_equal(job(&a, "a")->steps[0].message, "Failed to start scope: boom");
        assert_string_equal(step_conclusion(&a, "a", 1), "success");
        assert_string_equal(conclusion(&a, "a"), "failure");
        agent_done(&a);
}

static void test_json(void **state) {
        Agent a;
        json_object *o = NULL, *jobs, *steps, *step, *v;

        agent_start(&a,
                "name: Demo\n"
                "jobs:\n"
                "  build:\n"
                "    steps:\n"
                "      - id: compile\n"
                "        name: Compile ${{ github.job }}\n"
                "        run: exit 2\n");
        agent_run_all(&a);
        assert_int_equal(run_to_json(a.run, &o), 0);

        assert_true(json_object_object_get_ex(o, "id", &v));
        assert_int_equal(json_object_get_uint64(v), 7);
        assert_true(json_object_object_get_ex(o, "status", &v));
        assert_string_equal(json_object_get_string(v), "completed");
        assert_true(json_object_object_get_ex(o, "conclusion", &v));
        assert_string_equal(json_object_get_string(v), "failure");
        assert_true(json_object_object_get_ex(o, "jobs", &jobs));
        assert_int_equal(json_object_array_length(jobs), 1);
        assert_true(json_object_object_get_ex(json_object_array_get_idx(jobs, 0), "steps", &steps));
        step = json_object_array_get_idx(steps, 0);
        assert_true(json_object_object_get_ex(step, "number", &v));
        assert_int_equal(json_object_get_int(v), 1);
        assert_true(json_object_object_get_ex(step, "name", &v));
        assert_string_equal(json_object_get_string(v), "Compile build");
        assert_true(json_object_object_get_ex(step, "unit", &v));
        assert_string_equal(json_object_get_string(v), "runner-r7-j1-s1.scope");
        assert_true(json_object_object_get_ex(step, "exit_code", &v));
        assert_int_equal(json_object_get_int(v), 2);
        assert_true(json_object_object_get_ex(step, "started_at", &v));
        assert_string_equal(json_object_get_string(v), "2023-11-14T22:13:20.500Z");
        assert_true(json_object_object_get_ex(step, "completed_at", &v));
        assert_string_equal(json_object_get_string(v), "2023-11-14T22:13:21.000Z");

        /* A run found unfinished after a restart is marked, once. */
        assert_true(json_object_object_get_ex(o, "status", &v));
        json_object_object_add(o, "status", json_object_new_string("in_progress"));
        json_object_object_add(step, "status", json_object_new_string("in_progress"));
        assert_int_equal(run_json_mark_interrupted(o, "the agent stopped", T0), 1);
        assert_true(json_object_object_get_ex(step, "conclusion", &v));
        assert_string_equal(json_object_get_string(v), "cancelled");
        assert_true(json_object_object_get_ex(step, "message", &v));
        assert_string_equal(json_object_get_string(v), "the agent stopped");
        assert_int_equal(run_json_mark_interrupted(o, "the agent stopped", T0), 0);

        json_object_put(o);
        agent_done(&a);
}

static void test_display_names(void **state) {
        Agent a;
        json_object *o = NULL, *jobs, *steps, *v;

        /* An unnamed step is "Run " and the first line of its script, as on GitHub: as written until it
         * starts, then with its expressions evaluated; its id stays __run. One never started keeps the
         * text as written. A name with an expression is evaluated when the step starts. */
        agent_start(&a,
                "jobs:\n"
                "  build:\n"
                "    steps:\n"
                "      - run: \"echo ${{ github.job }}\\nexit 0\"\n"
                "      - name: Check ${{ github.job }}\n"
                "        run: exit 0\n"
                "      - if: failure()\n"
                "        run: \"  ./report ${{ github.job }}\\n\"\n");
        assert_string_equal(run_step_display_name(&job(&a, "build")->steps[0]), "Run echo build");
        assert_string_equal(run_step_display_name(&job(&a, "build")->steps[1]), "Check ${{ github.job }}");
        assert_string_equal(
                run_step_display_name(&job(&a, "build")->steps[2]), "Run ./report ${{ github.job }}");
        agent_run_all(&a);
        assert_string_equal(run_step_display_name(&job(&a, "build")->steps[1]), "Check build");
        assert_string_equal(step_conclusion(&a, "build", 2), "skipped");

        assert_int_equal(run_to_json(a.run, &o), 0);
        assert_true(json_object_object_get_ex(o, "jobs", &jobs));
        assert_true(json_object_object_get_ex(json_object_array_get_idx(jobs, 0), "steps", &steps));
        assert_true(json_object_object_get_ex(json_object_array_get_idx(steps, 0), "name", &v));
        assert_string_equal(json_object_get_string(v), "Run echo build");
        assert_true(json_object_object_get_ex(json_object_array_get_idx(steps, 0), "id", &v));
        assert_string_equal(json_object_get_string(v), "__run");
        assert_true(json_object_object_get_ex(json_object_array_get_idx(steps, 1), "name", &v));
        assert_string_equal(json_object_get_string(v), "Check build");
        assert_true(json_object_object_get_ex(json_object_array_get_idx(steps, 2), "name", &v));
        assert_string_equal(json_object_get_string(v), "Run ./report ${{ github.job }}");
        assert_true(json_object_object_get_ex(json_object_array_get_idx(steps, 2), "id", &v));
        assert_string_equal(json_object_get_string(v), "__run_3");
        json_object_put(o);
        agent_done(&a);
}

static void test_shell_argv(void **state) {
        static const struct {
                const char *shell, *expected;
        } cases[] = {
                { "bash -e {0}", "bash|-e|/s.sh|" },
                { "bash --noprofile --norc -eo pipefail {0}",
                        "bash|--noprofile|--norc|-eo|pipefail|/s.sh|" },
                { "python", "python|/s.sh|" },
                { "  sh   -c  'echo a b' x {0} ", "sh|-c|echo a b|x|/s.sh|" },
                { "perl \"-e\\\"x\\\\\" {0}", "perl|-e\"x\\|/s.sh|" },
                { "cmd --file={0}.ps1", "cmd|--file=/s.sh.ps1|" },
                { "", NULL },
                { "   ", NULL },
                { "sh 'unterminated {0}", NULL },
                { "sh \"unterminated {0}", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char **argv = NULL, buf[256] = "";
                int r = run_shell_argv(cases[i].shell, "/s.sh", &argv);

                if (!cases[i].expected) {
                        assert_int_equal(r, -EINVAL);
                        continue;
                }
                assert_int_equal(r, 0);
                for (char **p = argv; *p; p++) {
                        strcat(buf, *p);
                        strcat(buf, "|");
                        free(*p);
                }
                free(argv);
                assert_string_equal(buf, cases[i].expected);
        }
}

static void test_unit_names(void **state) {
        Agent a;
        _cleanup_free_ char *unit = NULL, *slice = NULL, *run_slice = NULL, *cg = NULL, *job_cg = NULL;

        agent_start(&a,
                "jobs:\n  x: { steps: [ { run: exit 0 } ] }\n  y: { steps: [ { run: a }, { run: b } ] }\n");
        assert_int_equal(run_step_unit_name(a.run, 1, 1, &unit), 0);
        assert_string_equal(unit, "runner-r7-j2-s2.scope");
        assert_int_equal(run_job_slice_name(a.run, 1, &slice), 0);
        assert_string_equal(slice, "runner-r7-j2.slice");
        assert_int_equal(run_slice_name(7, &run_slice), 0);
        assert_string_equal(run_slice, "runner-r7.slice");
        assert_int_equal(run_slice_cgroup_path(7, 0, &cg), 0);
        assert_string_equal(cg, "/runner.slice/runner-r7.slice");
        assert_int_equal(run_slice_cgroup_path(7, 2, &job_cg), 0);
        assert_string_equal(job_cg, "/runner.slice/runner-r7.slice/runner-r7-j2.slice");
        agent_done(&a);
}

/* One definition, two instances (a matrix): each its own job with its own units; the job that needs them
 * waits for both, and sees one result (failure if either failed) and their outputs merged. */
static void test_instances(void **state) {
        _cleanup_free_ char *u1 = NULL, *u2 = NULL, *u3 = NULL, *text = NULL;
        RunStepResult res = { .exit_code = 1, .output = "v=two\n", .output_len = 6 };
        RunActions actions = {};
        json_object *status = NULL;
        Started second;
        Agent a;

        agent_start(&a,
                "jobs:\n"
                "  build:\n"
                "    strategy: { matrix: { k: [1, 2] } }\n"
                "    outputs: { v: '${{ steps.s.outputs.v }}', w: '${{ steps.s.outputs.w }}' }\n"
                "    steps: [ { id: s, run: \"output v=one\\noutput w=both\" } ]\n"
                "  test:\n"
                "    needs: build\n"
                "    if: always()\n"
                "    steps: [ { id: t, run: 'output r=${{ needs.build.result }}-${{ needs.build.outputs.v }}-${{ needs.build.outputs.w }}' } ]\n");
        assert_int_equal(a.run->n_jobs, 3);
        assert_string_equal(a.run->jobs[0].name, "build (1)");
        assert_string_equal(a.run->jobs[1].name, "build (2)");
        assert_int_equal(a.run->jobs[1].def_index, 0);
        assert_int_equal(a.run->jobs[1].instance, 2);
        assert_int_equal(a.n_queue, 2); /* both instances start */
        assert_int_equal(run_step_unit_name(a.run, 0, 0, &u1), 0);
        assert_int_equal(run_step_unit_name(a.run, 1, 0, &u2), 0);
        assert_int_equal(run_step_unit_name(a.run, 2, 0, &u3), 0);
        assert_string_equal(u1, "runner-r7-j1-s1.scope");
        assert_string_equal(u2, "runner-r7-j2-s1.scope");
        assert_string_equal(u3, "runner-r7-j3-s1.scope");

        finish_one(&a);
        assert_int_equal(a.n_queue, 1); /* test waits for the second instance */
        second = a.queue[0];
        a.n_queue = 0;
        assert_int_equal(second.job, 1);
        run_step_spec_free(second.spec);
        assert_int_equal(run_step_started(a.run, 1, 0, AT(a.now), &actions), 0);
        assert_int_equal(run_step_exited(a.run, 1, 0, &res, AT(a.now), &actions), 0);
        drive(&a, &actions);
        assert_string_equal(run_conclusion_to_string(a.run->jobs[0].conclusion), "success");
        assert_string_equal(run_conclusion_to_string(a.run->jobs[1].conclusion), "failure");
        agent_run_all(&a);
        assert_string_equal(output(a.run->jobs[2].steps[0].outputs, "r"), "failure-two-both");

        assert_int_equal(run_to_json(a.run, &status), 0);
        text = strdup(json_object_to_json_string_ext(status, JSON_C_TO_STRING_PLAIN));
        json_object_put(status);
        assert_non_null(strstr(text, "\"id\":\"build\",\"number\":1"));
        assert_non_null(strstr(text, "\"id\":\"build\",\"number\":2"));
        assert_non_null(strstr(text, "\"id\":\"test\",\"number\":3"));
        agent_done(&a);
}

/* Matrix jobs: one instance per combination, in order, each with its matrix and strategy contexts, its
 * display name, its own units and workspace; a name with ${{ }} replaces the display name; the state
 * records each instance's combination and reads back only onto the same expansion. */
static void test_matrix_jobs(void **state) {
        static const char yaml[] =
                "jobs:\n"
                "  build:\n"
                "    name: Build\n"
                "    strategy:\n"
                "      max-parallel: 2\n"
                "      matrix: { v: [1, 2, 3], os: [linux, mac], include: [ { os: mac, xcode: 15 } ] }\n"
                "    steps:\n"
                "      - id: s\n"
                "        run: \"output m=${{ matrix.v }}-${{ matrix.os }}-${{ matrix.xcode }}-${{ strategy.job-index }}-"
                "${{ strategy.job-total }}-${{ strategy.max-parallel }}-${{ strategy.fail-fast }}\"\n"
                "  named:\n"
                "    name: \"N ${{ matrix.os }}\"\n"
                "    strategy: { fail-fast: false, matrix: { os: [a, b] } }\n"
                "    steps: [ { run: \"output s=${{ strategy.fail-fast }}-${{ strategy.max-parallel }}\" } ]\n"
                "  plain:\n"
                "    steps: [ { run: \"output s=${{ strategy.job-total }}-${{ toJSON(matrix) }}\" } ]\n";
        _cleanup_free_ char *unit = NULL, *ws = NULL, *ws_plain = NULL, *error = NULL;
        _cleanup_(json_object_putp) json_object *saved = NULL;
        Run *back = NULL;
        Workflow *w = NULL;
        Agent a;

        agent_start(&a, yaml);
        assert_int_equal(a.run->n_jobs, 9);
        assert_string_equal(a.run->jobs[0].name, "Build (1, linux)");
        assert_string_equal(a.run->jobs[1].name, "Build (1, mac)");
        assert_string_equal(a.run->jobs[5].name, "Build (3, mac)");
        assert_int_equal(a.n_queue, 2 + 2 + 1); /* max-parallel 2 */
        assert_string_equal(a.run->jobs[6].name, "N a");
        assert_string_equal(a.run->jobs[7].name, "N b");
        assert_int_equal(run_step_unit_name(a.run, 5, 0, &unit), 0);
        assert_string_equal(unit, "runner-r7-j6-s1.scope");
        assert_int_equal(run_job_workspace(a.run, 5, &ws), 0);
        assert_string_equal(ws, "/work/r7/build.6");
        assert_int_equal(run_job_workspace(a.run, 8, &ws_plain), 0);
        assert_string_equal(ws_plain, "/work/r7/plain");

        /* the state, written with the first two running, reads back onto the same expansion */
        assert_int_equal(run_state_to_json(a.run, &saved), 0);
        assert_int_equal(workflow_load(yaml, strlen(yaml), &w, NULL), 0);
        {
                _cleanup_(json_object_putp) json_object *reread = json_tokener_parse(
                        json_object_to_json_string_ext(saved, JSON_C_TO_STRING_PLAIN));
                if (run_state_from_json(reread, w, &back, &error) < 0)
                        fail_msg("%s", strna(error));
        }
        assert_string_equal(back->jobs[1].name, "Build (1, mac)");
        assert_int_equal(back->jobs[1].matrix->kind, EXPR_OBJECT);
        back = run_free(back);

        agent_run_all(&a);
        assert_string_equal(output(a.run->jobs[0].steps[0].outputs, "m"), "1-linux--0-6-2-true");
        assert_string_equal(output(a.run->jobs[1].steps[0].outputs, "m"), "1-mac-15-1-6-2-true");
        assert_string_equal(output(a.run->jobs[5].steps[0].outputs, "m"), "3-mac-15-5-6-2-true");
        assert_string_equal(output(a.run->jobs[7].steps[0].outputs, "s"), "false-2");
        assert_string_equal(output(a.run->jobs[8].steps[0].outputs, "s"), "1-null");
        agent_done(&a);
}

/* The state of a matrix job must be the workflow's expansion: another combination, or another number
 * of instances, is refused. */
static void test_matrix_state_mismatch(void **state) {
        static const char yaml[] = "jobs:\n"
                                   "  build:\n"
                                   "    strategy: { matrix: { v: [1, 2] } }\n"
                                   "    steps: [ { run: sleep 1 } ]\n";
        static const char other[] = "jobs:\n"
                                    "  build:\n"
                                    "    strategy: { matrix: { v: [1, 3] } }\n"
                                    "    steps: [ { run: sleep 1 } ]\n";
        static const char more[] = "jobs:\n"
                                   "  build:\n"
                                   "    strategy: { matrix: { v: [1, 2, 3] } }\n"
                                   "    steps: [ { run: sleep 1 } ]\n";
        const char *const variants[] = { other, more };
        _cleanup_(json_object_putp) json_object *saved = NULL;
        Agent a;

        agent_start(&a, yaml);
        assert_int_equal(run_state_to_json(a.run, &saved), 0);
        agent_done(&a);
        for (size_t i = 0; i < ELEMENTSOF(variants); i++) {
                _cleanup_free_ char *error = NULL;
                Workflow *w = NULL;
                Run *back = NULL;

                assert_int_equal(workflow_load(variants[i], strlen(variants[i]), &w, NULL), 0);
                assert_int_equal(run_state_from_json(saved, w, &back, &error), -EBADMSG);
                assert_null(back);
                assert_non_null(error);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_three_jobs),
                cmocka_unit_test(test_failure_propagates),
                cmocka_unit_test(test_file_commands),
                cmocka_unit_test(test_parallel_budget),
                cmocka_unit_test(test_evaluation_errors),
                cmocka_unit_test(test_step_failed_to_start),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_display_names),
                cmocka_unit_test(test_shell_argv),
                cmocka_unit_test(test_unit_names),
                cmocka_unit_test(test_instances),
                cmocka_unit_test(test_matrix_jobs),
                cmocka_unit_test(test_matrix_state_mismatch),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
