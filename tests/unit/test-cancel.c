/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The cancellation (README, Cancellation) driven by a simulated agent on a fake clock. Each step's run: text
 * says how its simulated process behaves (sim-proc.h). The simulator carries out every action as the agent
 * would (signals, kills, the held shim, the run's timer) and writes a log line per effect and per journal
 * event, "<ms> WHAT …", which the tests read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>

#include "macro.h"
#include "run-state.h"
#include "run.h"
#include "sim-proc.h"
#include "test-util.h"

typedef struct Sim {
        Run *run;
        uint64_t now;         /* µs since the start of the run */
        uint64_t scope_delay; /* from START_STEP to the entry running */
        bool released;        /* the race: ABORT_STEP comes after the shim was released */
        bool timers_first;    /* at equal times, timers fire before processes exit */
        unsigned max_jobs;    /* MaxParallelJobs= (0: no limit) */
        Proc procs[32];
        size_t n_procs;
        size_t n_actions; /* of every kind, for "nothing happened" checks */
        char log[16384];
} Sim;

/* The job's id, and for an instance of a matrix its instance number after a dot. */
static const char *job_id(Sim *s, size_t job) {
        static char buf[4][128];
        static unsigned next;
        char *b = buf[next++ % ELEMENTSOF(buf)];

        if (job == SIZE_MAX)
                return "-";
        if (!s->run->jobs[job].matrix)
                return s->run->jobs[job].def->id;
        snprintf(b, sizeof(buf[0]), "%s.%u", s->run->jobs[job].def->id, s->run->jobs[job].instance);
        return b;
}

static Proc *proc_of(Sim *s, size_t job, size_t step) {
        for (size_t i = s->n_procs; i > 0; i--)
                if (s->procs[i - 1].job == job && s->procs[i - 1].step == step)
                        return &s->procs[i - 1];
        return NULL;
}

static unsigned sim_room_left(void *userdata) {
        const Sim *s = userdata;
        return sim_room(s->run, s->max_jobs);
}

/* ---- the effects, as the agent carries them out ---- */

static RunTime sim_now(void *userdata) {
        const Sim *s = userdata;
        return at(s);
}

static void sim_start_step(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        Proc *p;

        s->n_actions++;
        assert_true(s->n_procs < ELEMENTSOF(s->procs));
        p = &s->procs[s->n_procs++];
        *p = (Proc){ .job = x->job,
                .step = x->step,
                .spec = TAKE_PTR(x->spec),
                .ready_at = s->now + s->scope_delay,
                .exit_at = NEVER,
                .empty_at = NEVER };
        sim_proc_parse(p, p->spec->script);
        logf_(s, "START %s/%zu", job_id(s, x->job), x->step + 1);
}

static void sim_clean_job(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;

        s->n_actions++;
        assert_int_equal(run_job_cleaned(s->run, x->job, at(s), more), 0);
}

static void sim_changed(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        s->n_actions++;
}

static void sim_acquire_group(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        const RunGroup *g = x->job == SIZE_MAX ? &s->run->group : &s->run->jobs[x->job].group;

        s->n_actions++;
        logf_(s, "ACQUIRE %s %s%s", job_id(s, x->job), g->name,
                g->cancel_in_progress ? " cancel-in-progress" : "");
}

static void sim_signal_step(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        Proc *p = proc_of(s, x->job, x->step);

        s->n_actions++;
        /* Only an entry process that exists can be signalled. */
        assert_non_null(p);
        assert_true(p->started);
        logf_(s, "%s %s/%zu +%" PRIu64, x->signal == SIGINT ? "SIGINT" : "SIGTERM", job_id(s, x->job),
                x->step + 1, x->usec / MS);
        sim_proc_signal(p, s->now, x->signal);
}

static void sim_kill_step(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        Proc *p = proc_of(s, x->job, x->step);

        s->n_actions++;
        assert_non_null(p);
        logf_(s, "KILL %s/%zu +%" PRIu64, job_id(s, x->job), x->step + 1, x->usec / MS);
        sim_proc_kill(p, s->now, SIGKILL);
        p->empty_at = s->now;
}

static void sim_abort_step(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        Proc *p = proc_of(s, x->job, x->step);

        s->n_actions++;
        assert_non_null(p);
        logf_(s, "ABORT %s/%zu", job_id(s, x->job), x->step + 1);
        if (!p->started && !s->released)
                p->aborted = true;
}

static void sim_kill_run(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;

        s->n_actions++;
        logf_(s, "KILL-RUN +%" PRIu64, x->usec / MS);
        for (size_t k = 0; k < s->n_procs; k++)
                sim_proc_kill(&s->procs[k], s->now, SIGKILL);
}

static void sim_event(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;

        s->n_actions++;
        logf_(s, "EVENT %s %s/%zu%s%s%s%s%s", run_event_to_string(x->event), job_id(s, x->job),
                x->step == SIZE_MAX ? 0 : x->step + 1, x->condition ? " if " : "", x->condition ?: "",
                x->condition ? (x->result ? " => true" : " => false") : "", x->text ? ": " : "",
                x->text ?: "");
}

/* As the agent does after every event: until nothing more is decided. */
static void drive(Sim *s, RunActions *actions) {
        assert_int_equal(run_drive(s->run, &sim_ops, s, actions), 0);
}

static void advance(Sim *s) {
        RunActions none = {};
        drive(s, &none);
}

static bool sim_step(Sim *s, uint64_t until);

/* Starts the run; scope_delay is how long each step's scope takes to exist, max_jobs is
 * MaxParallelJobs= (0: no limit). The clock stays at 0. */
static void sim_begin_limited(Sim *s, const char *yaml, uint64_t scope_delay, unsigned max_jobs) {
        Workflow *w = NULL;
        WorkflowErrors errors = {};

        memset(s, 0, sizeof(*s));
        s->scope_delay = scope_delay;
        s->max_jobs = max_jobs;
        if (workflow_load(yaml, strlen(yaml), &w, &errors) < 0) {
                for (size_t i = 0; i < errors.n; i++)
                        print_message("%u:%u: %s\n", errors.errors[i].pos.line, errors.errors[i].pos.column,
                                errors.errors[i].message);
                fail();
        }
        assert_int_equal(run_new(7, "test.yml", w, "/work/r7", NULL, NULL, at(s), &s->run), 0);
        advance(s);
        while (sim_step(s, 0))
                ;
}

static void sim_begin(Sim *s, const char *yaml, uint64_t scope_delay) {
        sim_begin_limited(s, yaml, scope_delay, 0);
}

static void sim_start(Sim *s, const char *yaml) {
        sim_begin(s, yaml, 0);
}

/* One event: the earliest of the processes' and the timers' next moments, if not after until. */
static bool sim_step(Sim *s, uint64_t until) {
        uint64_t best = NEVER;
        Proc *bp = NULL;
        uint64_t deadline;
        bool timer = false;
        RunActions actions = {};
        int kind = 0; /* 1: ready, 2: exit, 3: empty */

        for (size_t i = 0; i < s->n_procs; i++) {
                Proc *p = &s->procs[i];
                uint64_t t = NEVER;
                int k = 0;

                if (!p->started && !p->ended)
                        t = p->ready_at, k = 1;
                else if (!p->ended)
                        t = p->exit_at, k = 2;
                else if (p->empty_at != NEVER)
                        t = p->empty_at, k = 3;
                if (t < best) {
                        best = t, bp = p, kind = k;
                }
        }
        deadline = run_next_deadline(s->run);
        if (deadline != 0 && (deadline - MONO0 < best || (deadline - MONO0 == best && s->timers_first))) {
                best = deadline - MONO0, timer = true, bp = NULL;
        }
        if (best == NEVER || best > until)
                return false;
        assert_true(best >= s->now);
        s->now = best;

        if (timer) {
                /* Every deadline due now, in one batch, as the agent's one timer per run does. */
                assert_int_equal(run_timers_due(s->run, at(s), &actions), 0);
        } else if (kind == 1 && bp->aborted) {
                /* The held shim is told to give up: it exits without an entry. */
                bp->ended = true;
                assert_int_equal(run_step_failed(s->run, bp->job, bp->step,
                                         "runner-step exited with status 1 before the step's command ended",
                                         at(s), &actions),
                        0);
        } else if (kind == 1) {
                bp->started = true;
                if (bp->exit_at == NEVER && bp->duration != NEVER)
                        bp->exit_at = s->now + bp->duration;
                assert_int_equal(run_step_started(s->run, bp->job, bp->step, at(s), &actions), 0);
        } else if (kind == 2) {
                RunStepResult res = { .exit_code = bp->exit_signal ? -1 : bp->exit_code,
                        .exit_signal = bp->exit_signal };
                bp->ended = true;
                logf_(s, "EXIT %s/%zu %s", job_id(s, bp->job), bp->step + 1,
                        bp->exit_signal == SIGINT            ? "SIGINT"
                                : bp->exit_signal == SIGTERM ? "SIGTERM"
                                : bp->exit_signal == SIGKILL ? "SIGKILL"
                                                             : "code");
                assert_int_equal(run_step_exited(s->run, bp->job, bp->step, &res, at(s), &actions), 0);
        } else {
                bp->empty_at = NEVER;
                assert_int_equal(run_step_emptied(s->run, bp->job, bp->step, at(s), &actions), 0);
        }
        drive(s, &actions);
        return true;
}

static void sim_run_until(Sim *s, uint64_t until_ms) {
        while (sim_step(s, until_ms * MS))
                ;
        if (s->now < until_ms * MS)
                s->now = until_ms * MS;
}

static void sim_run_all(Sim *s) {
        while (sim_step(s, NEVER - 1))
                ;
        assert_int_equal(s->run->status, RUN_STATUS_COMPLETED);
        assert_true(run_is_idle(s->run));
}

static int sim_cancel(Sim *s, bool force) {
        RunActions actions = {};
        int r;

        r = run_cancel(s->run, "tester", force, at(s), &actions);
        drive(s, &actions);
        return r;
}

static void sim_done(Sim *s) {
        for (size_t i = 0; i < s->n_procs; i++)
                run_step_spec_free(s->procs[i].spec);
        s->run = run_free(s->run);
}

/* Is line one whole line of the log? */
static bool has(const Sim *s, const char *line) {
        char needle[512], haystack[sizeof(s->log) + 1];

        snprintf(needle, sizeof(needle), "\n%s\n", line);
        snprintf(haystack, sizeof(haystack), "\n%s", s->log);
        return strstr(haystack, needle);
}

static bool mentions(const Sim *s, const char *text) {
        return strstr(s->log, text);
}

#define assert_log(s, line) \
        do { \
                if (!has(s, line)) { \
                        print_message("missing \"%s\" in:\n%s", line, (s)->log); \
                        fail(); \
                } \
        } while (0)

#define assert_no_log(s, text) \
        do { \
                if (mentions(s, text)) { \
                        print_message("unexpected \"%s\" in:\n%s", text, (s)->log); \
                        fail(); \
                } \
        } while (0)

static const RunJob *job(Sim *s, const char *id) {
        for (size_t i = 0; i < s->run->n_jobs; i++)
                if (streq(s->run->jobs[i].def->id, id))
                        return &s->run->jobs[i];
        fail_msg("no job %s", id);
        return NULL;
}

static const char *conclusion(Sim *s, const char *id) {
        return run_conclusion_to_string(job(s, id)->conclusion) ?: "none";
}

static const char *step_conclusion(Sim *s, const char *id, size_t step) {
        return run_conclusion_to_string(job(s, id)->steps[step].conclusion) ?: "none";
}

static const char *step_outcome(Sim *s, const char *id, size_t step) {
        return run_conclusion_to_string(job(s, id)->steps[step].outcome) ?: "none";
}

/* ---- the sequence of README, Cancellation ---- */

static void test_five_steps(void **state) {
        Sim s;

        /* A step that ignores SIGINT and SIGTERM: SIGINT at once, SIGTERM 7500 ms later, the kill
         * 2500 ms after that; the step concludes when it has exited and its scope is empty. */
        sim_start(&s,
                "jobs:\n"
                "  build:\n"
                "    steps:\n"
                "      - run: \"trap INT\\ntrap TERM\"\n"
                "      - run: sleep 10\n"
                "      - if: always()\n"
                "        run: sleep 10\n");
        sim_run_until(&s, 1000);
        assert_int_equal(sim_cancel(&s, false), 1);
        sim_run_all(&s);

        assert_log(&s, "1000 EVENT cancel-requested -/0: tester");
        assert_log(&s, "1000 EVENT job-condition build/0 if success() => false");
        assert_log(&s, "1000 EVENT job-cancelled build/0: The run was cancelled.");
        assert_log(&s, "1000 EVENT step-condition build/1 if success() => false");
        assert_log(&s, "1000 SIGINT build/1 +0");
        assert_log(&s, "8500 SIGTERM build/1 +7500");
        assert_log(&s, "11000 KILL build/1 +10000");
        assert_log(&s, "11000 EXIT build/1 SIGKILL");
        /* The unconditioned step is skipped, the always() one runs. */
        assert_log(&s, "11000 EVENT step-condition build/2 if success() => false");
        assert_log(&s, "11000 EVENT step-condition build/3 if always() => true");
        assert_log(&s, "11000 START build/3");
        assert_string_equal(step_conclusion(&s, "build", 0), "cancelled");
        assert_string_equal(step_outcome(&s, "build", 0), "cancelled");
        assert_string_equal(job(&s, "build")->steps[0].message, "The operation was canceled.");
        assert_string_equal(step_conclusion(&s, "build", 1), "skipped");
        assert_string_equal(step_conclusion(&s, "build", 2), "success");
        assert_string_equal(conclusion(&s, "build"), "cancelled");
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "cancelled");
        assert_string_equal(s.run->cancelled_by, "tester");
        /* The run completed before its force deadline: that timer is gone. */
        assert_no_log(&s, "KILL-RUN");
        assert_int_equal(run_next_deadline(s.run), 0);
        sim_done(&s);
}

static void test_kill_waits_for_empty(void **state) {
        Sim s;
        Proc *p;
        RunActions actions = {};

        sim_start(&s,
                "jobs:\n"
                "  a: { steps: [ { run: \"trap INT\\ntrap TERM\" }, { if: always(), run: sleep 1 } ] }\n");
        assert_int_equal(sim_cancel(&s, false), 1);
        sim_run_until(&s, 9999);
        /* At the kill: the exit comes first, the scope is still populated. */
        assert_true(sim_step(&s, 10000 * MS));
        assert_log(&s, "10000 KILL a/1 +10000");
        p = proc_of(&s, 0, 0);
        assert_true(sim_step(&s, 10000 * MS)); /* the exit */
        assert_true(p->ended);
        assert_int_equal(job(&s, "a")->steps[0].status, RUN_STATUS_IN_PROGRESS);
        assert_no_log(&s, "START a/2");
        /* populated 0: now it concludes and the next step starts */
        assert_true(sim_step(&s, 10000 * MS));
        assert_string_equal(step_conclusion(&s, "a", 0), "cancelled");
        assert_log(&s, "10000 START a/2");
        /* A second populated 0 is stale. */
        assert_int_equal(run_step_emptied(s.run, 0, 0, at(&s), &actions), -ESTALE);
        sim_run_all(&s);
        sim_done(&s);
}

static void test_force_deadline(void **state) {
        Sim s;

        /* The force deadline (step 4): an always() job keeps running after the cancel, until the force
         * deadline kills the run's slice; nothing starts after it, not even always() steps and jobs. */
        sim_start(&s,
                "jobs:\n"
                "  main:\n"
                "    steps: [ { run: \"trap INT\\nlinger 100\" } ]\n"
                "  cleanup:\n"
                "    if: always()\n"
                "    steps:\n"
                "      - run: \"trap INT\\ntrap TERM\"\n"
                "      - if: always()\n"
                "        run: sleep 1\n"
                "  after:\n"
                "    needs: cleanup\n"
                "    if: always()\n"
                "    steps: [ { run: sleep 1 } ]\n");
        sim_run_until(&s, 500);
        assert_int_equal(sim_cancel(&s, false), 1);
        sim_run_all(&s);

        assert_log(&s, "500 EVENT job-condition cleanup/0 if always() => true");
        assert_log(&s, "500 EVENT step-condition cleanup/1 if success() => true");
        assert_no_log(&s, "SIGINT cleanup");
        /* main: SIGINT ignored, SIGTERM at 8000 and 100 ms to exit */
        assert_log(&s, "8000 SIGTERM main/1 +7500");
        assert_log(&s, "8100 EXIT main/1 SIGTERM");
        assert_log(&s, "300500 EVENT force -/0: the force deadline passed");
        assert_log(&s, "300500 KILL-RUN +300000");
        assert_log(&s, "300500 EXIT cleanup/1 SIGKILL");
        assert_no_log(&s, "START cleanup/2");
        assert_no_log(&s, "START after");
        assert_string_equal(step_conclusion(&s, "cleanup", 0), "cancelled");
        assert_string_equal(step_conclusion(&s, "cleanup", 1), "skipped");
        assert_string_equal(conclusion(&s, "cleanup"), "cancelled");
        assert_string_equal(conclusion(&s, "after"), "cancelled");
        assert_string_equal(conclusion(&s, "main"), "cancelled");
        /* the run was cancelled by a user; the kill came for the deadline */
        assert_int_equal(s.run->cancel_reason, RUN_CANCEL_REASON_USER);
        assert_int_equal(s.run->force_reason, RUN_CANCEL_REASON_DEADLINE);
        sim_done(&s);
}

/* The agent was away when the SIGTERM stage fell due (README, "Restarts"): carried out late, it leaves
 * the kill where the original schedule put it, 2500 ms after SIGTERM was due, not after it was sent. */
static void test_late_stage_keeps_schedule(void **state) {
        Sim s = {};
        RunActions a = {};
        unsigned sigterms = 0;

        sim_start(&s, "jobs:\n  a: { steps: [ { run: \"trap INT\\ntrap TERM\" } ] }\n");
        sim_run_until(&s, 100);
        assert_int_equal(sim_cancel(&s, false), 1);
        assert_log(&s, "100 SIGINT a/1 +0");
        s.now = 9000 * MS; /* away from 100 ms to 9000 ms; SIGTERM was due at 7600 */
        assert_int_equal(run_count_due(s.run, at(&s).monotonic), 1);
        assert_int_equal(run_timers_due(s.run, at(&s), &a), 0);
        for (size_t i = 0; i < a.n; i++)
                if (a.actions[i].type == RUN_ACTION_SIGNAL_STEP) {
                        assert_int_equal(a.actions[i].signal, SIGTERM);
                        sigterms++;
                }
        assert_int_equal(sigterms, 1);
        assert_int_equal(run_next_deadline(s.run), MONO0 + (7600 + 2500) * MS);
        run_actions_done(&a);
        sim_done(&s);
}

/* Stages due at the same time come out of one call, so that the agent sends them together. */
static void test_due_together(void **state) {
        Sim s = {};
        RunActions a = {};
        unsigned sigterms = 0;

        sim_start(&s,
                "jobs:\n"
                "  a: { steps: [ { run: \"trap INT\\ntrap TERM\" } ] }\n"
                "  b: { steps: [ { run: \"trap INT\\ntrap TERM\" } ] }\n");
        sim_run_until(&s, 100);
        assert_int_equal(sim_cancel(&s, false), 1);
        assert_int_equal(run_next_deadline(s.run), MONO0 + 7600 * MS);
        s.now = 7600 * MS;
        assert_int_equal(run_count_due(s.run, at(&s).monotonic), 2);
        assert_int_equal(run_timers_due(s.run, at(&s), &a), 0);
        for (size_t i = 0; i < a.n; i++)
                sigterms += a.actions[i].type == RUN_ACTION_SIGNAL_STEP && a.actions[i].signal == SIGTERM;
        assert_int_equal(sigterms, 2);
        assert_int_equal(run_count_due(s.run, at(&s).monotonic), 0);
        assert_int_equal(run_next_deadline(s.run), MONO0 + 10100 * MS);
        run_actions_done(&a);
        sim_done(&s);
}

static void test_exit_between_signals(void **state) {
        Sim s;

        sim_start(&s, "jobs:\n  a: { steps: [ { run: linger 120 } ] }\n");
        sim_run_until(&s, 10);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "10 SIGINT a/1 +0");
        assert_log(&s, "130 EXIT a/1 SIGINT");
        assert_no_log(&s, "SIGTERM");
        assert_no_log(&s, "KILL");
        assert_string_equal(step_conclusion(&s, "a", 0), "cancelled");
        assert_int_equal(run_next_deadline(s.run), 0);
        sim_done(&s);

        /* Between SIGTERM and the kill. */
        sim_start(&s, "jobs:\n  a: { steps: [ { run: \"trap INT\\nlinger 2000\" } ] }\n");
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "7500 SIGTERM a/1 +7500");
        assert_log(&s, "9500 EXIT a/1 SIGTERM");
        assert_no_log(&s, "KILL");
        sim_done(&s);
}

static void test_exit_at_deadline(void **state) {
        Sim s;

        /* The step's own end at exactly 7500 ms, reported before the timer: no SIGTERM. */
        sim_start(&s, "jobs:\n  a: { steps: [ { run: \"trap INT\\nsleep 7500\" } ] }\n");
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "7500 EXIT a/1 code");
        assert_no_log(&s, "SIGTERM");
        assert_string_equal(step_conclusion(&s, "a", 0), "cancelled");
        sim_done(&s);

        /* The timer first: SIGTERM goes out, then the exit is taken as the step's end. */
        sim_start(&s, "jobs:\n  a: { steps: [ { run: \"trap INT\\nsleep 7500\" } ] }\n");
        s.timers_first = true;
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "7500 SIGTERM a/1 +7500");
        assert_no_log(&s, "KILL");
        assert_string_equal(step_conclusion(&s, "a", 0), "cancelled");
        sim_done(&s);

        /* The same at the kill deadline. */
        sim_start(&s, "jobs:\n  a: { steps: [ { run: \"trap INT\\ntrap TERM\\nsleep 10000\" } ] }\n");
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "7500 SIGTERM a/1 +7500");
        assert_log(&s, "10000 EXIT a/1 code");
        assert_no_log(&s, "KILL");
        sim_done(&s);
}

static void test_cancel_during_scope_creation(void **state) {
        Sim s;

        /* The shim is still held: it is never released, nothing is signalled. */
        sim_begin(&s, "jobs:\n  a: { steps: [ { run: sleep 100 }, { if: always(), run: sleep 1 } ] }\n",
                50 * MS);
        sim_run_until(&s, 10);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "10 ABORT a/1");
        assert_no_log(&s, "SIGINT");
        assert_string_equal(step_conclusion(&s, "a", 0), "cancelled");
        assert_string_equal(job(&s, "a")->steps[0].message, "The operation was canceled before it started.");
        assert_log(&s, "50 START a/2");
        assert_log(&s, "50 EVENT step-condition a/2 if always() => true");
        sim_done(&s);

        /* The shim was released already when the abort came: the entry starts, and the escalation
         * starts with it, counted from the decision. */
        sim_begin(&s, "jobs:\n  a: { steps: [ { run: \"trap INT\\nsleep 100000\" } ] }\n", 50 * MS);
        s.released = true;
        sim_run_until(&s, 10);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "10 ABORT a/1");
        assert_log(&s, "50 SIGINT a/1 +40");
        assert_log(&s, "7550 SIGTERM a/1 +7540");
        assert_string_equal(step_conclusion(&s, "a", 0), "cancelled");
        sim_done(&s);
}

static void test_cancel_twice_and_after_completion(void **state) {
        Sim s;
        size_t before;

        sim_start(&s, "jobs:\n  a: { steps: [ { run: \"trap INT\" } ] }\n");
        assert_int_equal(sim_cancel(&s, false), 1);
        sim_run_until(&s, 3000);
        before = s.n_actions;
        /* A second request changes nothing: no event, no signal, the escalation keeps its times. */
        assert_int_equal(sim_cancel(&s, false), 0);
        assert_int_equal(s.n_actions, before);
        sim_run_all(&s);
        assert_log(&s, "7500 SIGTERM a/1 +7500");
        assert_int_equal(sim_cancel(&s, false), -EALREADY);
        assert_int_equal(sim_cancel(&s, true), -EALREADY);
        sim_done(&s);

        /* After a normal completion too. */
        sim_start(&s, "jobs:\n  a: { steps: [ { run: sleep 5 } ] }\n");
        sim_run_all(&s);
        assert_int_equal(sim_cancel(&s, false), -EALREADY);
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "success");
        assert_false(s.run->cancel_requested);
        sim_done(&s);
}

static void test_force_during_escalation(void **state) {
        Sim s;

        sim_start(&s,
                "jobs:\n"
                "  a: { steps: [ { run: \"trap INT\\ntrap TERM\" } ] }\n"
                "  b: { if: always(), steps: [ { run: sleep 100000 }, { if: always(), run: sleep 1 } ] }\n");
        sim_cancel(&s, false);
        sim_run_until(&s, 8000);
        assert_log(&s, "7500 SIGTERM a/1 +7500");
        assert_int_equal(sim_cancel(&s, true), 1);
        sim_run_all(&s);
        assert_log(&s, "8000 EVENT force -/0: runnerctl cancel --force");
        assert_log(&s, "8000 KILL-RUN +8000");
        assert_log(&s, "8000 EXIT a/1 SIGKILL");
        assert_log(&s, "8000 EXIT b/1 SIGKILL");
        /* The escalation's own kill never comes, and nothing starts. */
        assert_no_log(&s, "KILL a/1");
        assert_no_log(&s, "START b/2");
        assert_string_equal(step_conclusion(&s, "a", 0), "cancelled");
        assert_string_equal(step_conclusion(&s, "b", 0), "cancelled");
        assert_string_equal(step_conclusion(&s, "b", 1), "skipped");
        assert_string_equal(conclusion(&s, "b"), "cancelled");
        /* A second force is a no-op. */
        sim_done(&s);

        /* --force as the first request: straight to the force deadline, no conditions evaluated. */
        sim_start(&s, "jobs:\n  a: { steps: [ { run: \"trap INT\" } ] }\n");
        sim_run_until(&s, 200);
        assert_int_equal(sim_cancel(&s, true), 1);
        assert_int_equal(sim_cancel(&s, true), 0);
        sim_run_all(&s);
        assert_log(&s, "200 KILL-RUN +0");
        assert_no_log(&s, "job-condition");
        assert_no_log(&s, "SIGINT");
        assert_string_equal(conclusion(&s, "a"), "cancelled");
        sim_done(&s);

        /* --force while the step's scope is still being created: the held shim is never released
         * (and dies with the run's slice); nothing is signalled, nothing starts. */
        sim_begin(&s, "jobs:\n  a: { steps: [ { run: sleep 100 }, { if: always(), run: sleep 1 } ] }\n",
                50 * MS);
        sim_run_until(&s, 10);
        assert_int_equal(sim_cancel(&s, true), 1);
        sim_run_all(&s);
        assert_log(&s, "10 KILL-RUN +0");
        assert_log(&s, "10 ABORT a/1");
        assert_no_log(&s, "SIGINT");
        assert_no_log(&s, "START a/2");
        assert_string_equal(step_conclusion(&s, "a", 0), "cancelled");
        assert_string_equal(job(&s, "a")->steps[0].message, "The operation was canceled before it started.");
        assert_string_equal(step_conclusion(&s, "a", 1), "skipped");
        sim_done(&s);
}

static void test_step_timeout(void **state) {
        Sim s;

        /* timeout-minutes: 0.01 is 600 ms: the step is cancelled by the escalation of step 2 and concludes
         * failure. */
        sim_start(&s,
                "jobs:\n"
                "  a:\n"
                "    steps:\n"
                "      - { timeout-minutes: 0.01, run: \"trap INT\" }\n"
                "      - run: sleep 1\n"
                "      - { if: failure(), run: sleep 1 }\n");
        sim_run_all(&s);
        assert_log(&s, "600 EVENT step-timed-out a/1: timeout-minutes: 0.01");
        assert_log(&s, "600 SIGINT a/1 +0");
        assert_log(&s, "8100 SIGTERM a/1 +7500");
        assert_string_equal(step_conclusion(&s, "a", 0), "failure");
        assert_string_equal(step_outcome(&s, "a", 0), "failure");
        assert_string_equal(
                job(&s, "a")->steps[0].message, "The step exceeded its timeout of 0.01 minutes.");
        assert_string_equal(step_conclusion(&s, "a", 1), "skipped");
        assert_string_equal(step_conclusion(&s, "a", 2), "success");
        assert_string_equal(conclusion(&s, "a"), "failure");
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "failure");
        /* Not a cancellation of the run: no condition events. */
        assert_no_log(&s, "step-condition");
        sim_done(&s);

        /* With continue-on-error the job goes on as if it succeeded. */
        sim_start(&s,
                "jobs:\n"
                "  a:\n"
                "    steps:\n"
                "      - { timeout-minutes: 0.01, continue-on-error: true, run: sleep 100000 }\n"
                "      - run: sleep 1\n");
        sim_run_all(&s);
        assert_log(&s, "600 EXIT a/1 SIGINT");
        assert_string_equal(step_outcome(&s, "a", 0), "failure");
        assert_string_equal(step_conclusion(&s, "a", 0), "success");
        assert_string_equal(step_conclusion(&s, "a", 1), "success");
        assert_string_equal(conclusion(&s, "a"), "success");
        sim_done(&s);

        /* A step that ends before its timeout: the timer is stopped. */
        sim_start(&s, "jobs:\n  a: { steps: [ { timeout-minutes: 1, run: sleep 10 } ] }\n");
        sim_run_all(&s);
        assert_no_log(&s, "timed-out");
        assert_int_equal(run_next_deadline(s.run), 0);
        sim_done(&s);
}

static void test_job_timeout(void **state) {
        Sim s;

        /* A job's timeout-minutes is the cancellation message to that job: its running step is
         * cancelled, its cleanup steps still run; the run is not cancelled. */
        sim_start(&s,
                "jobs:\n"
                "  a:\n"
                "    timeout-minutes: 0.05\n"
                "    steps:\n"
                "      - run: sleep 100000\n"
                "      - { if: cancelled(), run: sleep 10 }\n"
                "      - run: sleep 10\n"
                "  b: { needs: a, if: always(), steps: [ { run: sleep 1 } ] }\n");
        sim_run_all(&s);
        assert_log(&s,
                "3000 EVENT job-cancelled a/0: The job has exceeded the maximum execution time of 0.05 minutes.");
        assert_log(&s, "3000 EVENT step-condition a/1 if success() => false");
        assert_log(&s, "3000 SIGINT a/1 +0");
        assert_log(&s, "3000 EVENT step-condition a/2 if cancelled() => true");
        assert_log(&s, "3000 START a/2");
        assert_string_equal(step_conclusion(&s, "a", 0), "cancelled");
        assert_string_equal(step_conclusion(&s, "a", 1), "success");
        assert_string_equal(step_conclusion(&s, "a", 2), "skipped");
        assert_string_equal(conclusion(&s, "a"), "cancelled");
        assert_string_equal(conclusion(&s, "b"), "success");
        assert_false(s.run->cancel_requested);
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "cancelled");
        sim_done(&s);
}

static void test_job_timeout_during_cancellation(void **state) {
        Sim s;

        /* The run is cancelled; the always() job goes on and its unconditioned step keeps running
         * (success() is the job's own status); then the job's timeout cancels the job, and that
         * step is re-evaluated and cancelled. */
        sim_start(&s,
                "jobs:\n"
                "  a:\n"
                "    if: always()\n"
                "    timeout-minutes: 0.5\n"
                "    steps: [ { run: sleep 100000 } ]\n");
        sim_run_until(&s, 1000);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "1000 EVENT job-condition a/0 if always() => true");
        assert_log(&s, "1000 EVENT step-condition a/1 if success() => true");
        assert_log(&s,
                "30000 EVENT job-cancelled a/0: The job has exceeded the maximum execution time of 0.5 minutes.");
        assert_log(&s, "30000 EVENT step-condition a/1 if success() => false");
        assert_log(&s, "30000 SIGINT a/1 +0");
        assert_string_equal(conclusion(&s, "a"), "cancelled");
        sim_done(&s);

        /* The job is being cancelled already when its timeout comes: nothing changes, the
         * escalation keeps its times. */
        sim_start(&s,
                "jobs:\n"
                "  a:\n"
                "    timeout-minutes: 0.1\n"
                "    steps: [ { run: \"trap INT\\ntrap TERM\" } ]\n");
        sim_run_until(&s, 1000);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "1000 SIGINT a/1 +0");
        assert_no_log(&s, "6000 EVENT");
        assert_log(&s, "8500 SIGTERM a/1 +7500");
        assert_log(&s, "11000 KILL a/1 +10000");
        assert_string_equal(conclusion(&s, "a"), "cancelled");
        sim_done(&s);
}

static void test_cleanup_job_after_cancel(void **state) {
        Sim s;

        /* A job that becomes ready after the cancel request runs if its if: passes, normally; one that
         * does not pass is skipped, as any job whose if: is false when its needs complete. */
        sim_start(&s,
                "jobs:\n"
                "  build: { steps: [ { run: sleep 100000 } ] }\n"
                "  cleanup:\n"
                "    needs: build\n"
                "    if: always()\n"
                "    steps: [ { run: sleep 2000 }, { run: sleep 10 } ]\n"
                "  report: { needs: build, if: cancelled(), steps: [ { run: sleep 10 } ] }\n"
                "  deploy: { needs: build, steps: [ { run: sleep 10 } ] }\n");
        sim_run_until(&s, 100);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "100 SIGINT build/1 +0");
        assert_log(&s, "100 EXIT build/1 SIGINT");
        assert_log(&s, "100 EVENT job-condition cleanup/0 if always() => true");
        assert_log(&s, "100 EVENT job-condition report/0 if cancelled() => true");
        assert_log(&s, "100 EVENT job-condition deploy/0 if success() => false");
        /* Its steps run as in any job (the run is cancelled, the job is not: success() is true). */
        assert_log(&s, "100 EVENT step-condition cleanup/1 if success() => true");
        assert_log(&s, "2100 START cleanup/2");
        assert_no_log(&s, "SIGINT cleanup");
        assert_string_equal(conclusion(&s, "build"), "cancelled");
        assert_string_equal(conclusion(&s, "cleanup"), "success");
        assert_string_equal(conclusion(&s, "report"), "success");
        assert_string_equal(conclusion(&s, "deploy"), "skipped");
        assert_string_equal(step_conclusion(&s, "deploy", 0), "skipped");
        assert_no_log(&s, "START deploy");
        assert_no_log(&s, "job-cancelled deploy");
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "cancelled");
        sim_done(&s);
}

static void test_continue_on_error_under_cancel(void **state) {
        Sim s;

        /* continue-on-error turns failure into success, never cancelled into anything else. */
        sim_start(&s,
                "jobs:\n"
                "  a:\n"
                "    continue-on-error: true\n"
                "    steps: [ { continue-on-error: true, run: sleep 100000 } ]\n");
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_string_equal(step_outcome(&s, "a", 0), "cancelled");
        assert_string_equal(step_conclusion(&s, "a", 0), "cancelled");
        assert_string_equal(conclusion(&s, "a"), "cancelled");
        sim_done(&s);
}

static void test_cancel_queued(void **state) {
        Sim s;

        /* Cancelled while the first job runs: the others are evaluated when their needs complete. */
        sim_start(&s,
                "jobs:\n"
                "  a: { needs: [b], steps: [ { run: sleep 1 } ] }\n"
                "  b: { steps: [ { run: sleep 1000 } ] }\n"
                "  c: { needs: b, if: always(), steps: [ { run: sleep 1 } ] }\n");
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "0 SIGINT b/1 +0");
        assert_string_equal(conclusion(&s, "a"), "skipped");
        assert_string_equal(conclusion(&s, "b"), "cancelled");
        assert_string_equal(conclusion(&s, "c"), "success");
        sim_done(&s);
}

static void test_force_before_escalation(void **state) {
        Sim s;

        /* ForceTerminateSec=3s, shorter than InterruptTimeoutSec=: the deadline kills everything at 3 s
         * after the request, before SIGTERM; no stage of the step's own escalation fires after it, and
         * the always() step does not start. */
        sim_start(&s,
                "jobs:\n"
                "  a: { steps: [ { run: \"trap INT\\ntrap TERM\" }, { if: always(), run: sleep 1 } ] }\n"
                "  b: { if: always(), steps: [ { run: \"trap INT\\ntrap TERM\" } ] }\n");
        s.run->cancel.force_usec = 3 * USEC_PER_SEC;
        sim_run_until(&s, 1000);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "1000 SIGINT a/1 +0");
        assert_log(&s, "4000 KILL-RUN +3000");
        assert_log(&s, "4000 EXIT a/1 SIGKILL");
        assert_log(&s, "4000 EXIT b/1 SIGKILL");
        assert_no_log(&s, "SIGTERM");
        assert_no_log(&s, "KILL a/");
        assert_no_log(&s, "START a/2");
        assert_int_equal(s.run->completed_at, T0 + 4000 * MS);
        assert_string_equal(conclusion(&s, "a"), "cancelled");
        assert_string_equal(conclusion(&s, "b"), "cancelled");
        assert_string_equal(step_conclusion(&s, "a", 1), "skipped");
        assert_int_equal(run_next_deadline(s.run), 0);
        sim_done(&s);

        /* ForceTerminateSec=9s: SIGTERM at 7500 ms, the deadline before the step's own kill. */
        sim_start(&s, "jobs:\n  a: { steps: [ { run: \"trap INT\\ntrap TERM\" } ] }\n");
        s.run->cancel.force_usec = 9 * USEC_PER_SEC;
        sim_run_until(&s, 1000);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "8500 SIGTERM a/1 +7500");
        assert_log(&s, "10000 KILL-RUN +9000");
        assert_log(&s, "10000 EXIT a/1 SIGKILL");
        assert_no_log(&s, "KILL a/");
        assert_int_equal(s.run->completed_at, T0 + 10000 * MS);
        sim_done(&s);
}

static void test_infinite_timeouts(void **state) {
        Sim s;

        /* ForceTerminateSec=infinity: no force deadline; the step's escalation runs its course. */
        sim_start(&s, "jobs:\n  a: { steps: [ { run: \"trap INT\\ntrap TERM\" } ] }\n");
        s.run->cancel.force_usec = UINT64_MAX;
        sim_run_until(&s, 1000);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "8500 SIGTERM a/1 +7500");
        assert_log(&s, "11000 KILL a/1 +10000");
        assert_no_log(&s, "KILL-RUN");
        sim_done(&s);

        /* InterruptTimeoutSec=infinity: no SIGTERM ever; the force deadline ends it, and the step's
         * timeout-minutes timer, replaced by the escalation, does not fire either. */
        sim_start(&s, "jobs:\n  a: { steps: [ { timeout-minutes: 1, run: trap INT } ] }\n");
        s.run->cancel.interrupt_usec = UINT64_MAX;
        sim_run_until(&s, 1000);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "1000 SIGINT a/1 +0");
        assert_no_log(&s, "SIGTERM");
        assert_no_log(&s, "timed-out");
        assert_log(&s, "301000 KILL-RUN +300000");
        assert_log(&s, "301000 EXIT a/1 SIGKILL");
        sim_done(&s);
}

/* ---- jobs not running at the request: waiting for their needs, or queued for a slot ---- */

static void test_needs_waiting_skipped(void **state) {
        Sim s;

        /* A job waiting for its needs at the request is evaluated when they complete; no if: means
         * success(), false after the cancel: the job is skipped, not cancelled. */
        sim_start(&s,
                "jobs:\n"
                "  build: { steps: [ { run: sleep 100000 } ] }\n"
                "  deploy: { needs: build, steps: [ { run: sleep 10 }, { if: always(), run: sleep 10 } ] }\n");
        sim_run_until(&s, 100);
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "100 EXIT build/1 SIGINT");
        assert_log(&s, "100 EVENT job-condition deploy/0 if success() => false");
        assert_no_log(&s, "job-cancelled deploy");
        assert_no_log(&s, "START deploy");
        assert_string_equal(conclusion(&s, "build"), "cancelled");
        assert_string_equal(conclusion(&s, "deploy"), "skipped");
        assert_string_equal(step_conclusion(&s, "deploy", 0), "skipped");
        assert_string_equal(step_conclusion(&s, "deploy", 1), "skipped");
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "cancelled");
        sim_done(&s);
}

static void test_needs_waiting_always(void **state) {
        Sim s;

        /* With MaxParallelJobs=1: build runs, other (always()) is queued for the slot. At the request
         * build is cancelled and other takes the slot; cleanup's needs complete then, so its if: is
         * evaluated then (true), and it waits for the slot, then runs. */
        sim_begin_limited(&s,
                "jobs:\n"
                "  build: { steps: [ { run: sleep 100000 } ] }\n"
                "  other: { if: always(), steps: [ { run: sleep 5000 } ] }\n"
                "  cleanup: { needs: build, if: always(), steps: [ { run: sleep 10 } ] }\n",
                0, 1);
        sim_run_until(&s, 100);
        assert_no_log(&s, "START other");
        sim_cancel(&s, false);
        sim_run_all(&s);
        assert_log(&s, "100 EXIT build/1 SIGINT");
        assert_log(&s, "100 START other/1");
        assert_log(&s, "100 EVENT job-condition cleanup/0 if always() => true");
        assert_log(&s, "5100 START cleanup/1");
        assert_string_equal(conclusion(&s, "build"), "cancelled");
        assert_string_equal(conclusion(&s, "other"), "success");
        assert_string_equal(conclusion(&s, "cleanup"), "success");
        assert_string_equal(step_conclusion(&s, "cleanup", 0), "success");
        sim_done(&s);
}

static void test_queued_cancelled(void **state) {
        Sim s;

        /* MaxParallelJobs=1, two independent jobs: b is ready and waits only for the slot, a job
         * GitHub would have queued. At the request its if: (none: success()) is evaluated like a running
         * job's and, false, cancels it there and then: it never takes the slot. */
        sim_begin_limited(&s,
                "jobs:\n"
                "  a: { steps: [ { run: \"trap INT\\nsleep 100000\" } ] }\n"
                "  b: { steps: [ { run: sleep 10 } ] }\n",
                0, 1);
        sim_run_until(&s, 100);
        assert_int_equal(job(&s, "b")->status, RUN_STATUS_QUEUED);
        sim_cancel(&s, false);
        assert_log(&s, "100 EVENT job-condition b/0 if success() => false");
        assert_log(&s, "100 EVENT job-cancelled b/0: The run was cancelled.");
        assert_int_equal(job(&s, "b")->status, RUN_STATUS_COMPLETED);
        assert_string_equal(conclusion(&s, "b"), "cancelled");
        assert_string_equal(step_conclusion(&s, "b", 0), "skipped");
        sim_run_all(&s);
        assert_log(&s, "7600 SIGTERM a/1 +7500");
        assert_no_log(&s, "START b");
        assert_string_equal(conclusion(&s, "a"), "cancelled");
        assert_string_equal(conclusion(&s, "b"), "cancelled");
        sim_done(&s);
}

static void test_queued_always(void **state) {
        Sim s;

        /* The same with if: always(): true at the request, b keeps waiting for its slot, which a
         * (ignoring SIGINT) frees at SIGTERM, 7500 ms later; then b runs normally. */
        sim_begin_limited(&s,
                "jobs:\n"
                "  a: { steps: [ { run: \"trap INT\\nsleep 100000\" } ] }\n"
                "  b: { if: always(), steps: [ { run: sleep 10 } ] }\n",
                0, 1);
        sim_run_until(&s, 100);
        sim_cancel(&s, false);
        assert_log(&s, "100 EVENT job-condition b/0 if always() => true");
        assert_no_log(&s, "job-cancelled b");
        assert_int_equal(job(&s, "b")->status, RUN_STATUS_QUEUED);
        sim_run_all(&s);
        assert_log(&s, "7600 EXIT a/1 SIGTERM");
        assert_log(&s, "7600 START b/1");
        assert_log(&s, "7600 EVENT step-condition b/1 if success() => true");
        assert_string_equal(conclusion(&s, "a"), "cancelled");
        assert_string_equal(conclusion(&s, "b"), "success");
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "cancelled");
        sim_done(&s);
}

/* ---- the status tables, row by row ---- */

/* Job level: a job c needing b needing a; the condition is c's. */
static void job_row(const char *a_run, bool cancel, const char *cond, const char *expect) {
        Sim s;
        char yaml[512];

        snprintf(yaml, sizeof(yaml),
                "jobs:\n"
                "  a: { steps: [ { run: \"%s\" } ] }\n"
                "  b: { needs: a, if: always(), steps: [ { run: sleep 1 } ] }\n"
                "  c: { needs: b, if: \"%s\", steps: [ { run: sleep 1 } ] }\n",
                a_run, cond);
        sim_start(&s, yaml);
        if (cancel)
                sim_cancel(&s, false);
        sim_run_all(&s);
        if (!streq(conclusion(&s, "c"), expect)) {
                print_message("job if: %s (a: %s, cancel: %d): %s, expected %s\n%s", cond, a_run, cancel,
                        conclusion(&s, "c"), expect, s.log);
                fail();
        }
        sim_done(&s);
}

static void test_job_status_table(void **state) {
        /* always(): always */
        job_row("sleep 1", false, "always()", "success");
        job_row("exit 1", false, "always()", "success");
        job_row("sleep 1", true, "always()", "success");
        /* cancelled(): the run's cancellation was requested */
        job_row("sleep 1", false, "cancelled()", "skipped");
        job_row("sleep 1", true, "cancelled()", "success");
        /* failure(): some ancestor, transitively, concluded failure */
        job_row("exit 1", false, "failure()", "success");
        job_row("sleep 1", false, "failure()", "skipped");
        /* success(): not cancelled, every ancestor success */
        job_row("sleep 1", false, "success()", "success");
        job_row("exit 1", false, "success()", "skipped");
        job_row("sleep 1", true, "success()", "skipped");
        /* no status function: success() && (…) */
        job_row("sleep 1", false, "true", "success");
        job_row("sleep 1", true, "true", "skipped");
        job_row("exit 1", false, "true", "skipped");
}

/* Step level: the second step's condition after a first step that runs a_run, in a job that is
 * cancelled (job_cancel: by its timeout), continues under a run cancel (run_cancel), or neither. */
static void step_row(const char *a_run, const char *how, const char *cond, const char *expect) {
        Sim s;
        char yaml[512];
        bool job_timeout = streq(how, "job"), run_cancel = streq(how, "run");

        snprintf(yaml, sizeof(yaml),
                "jobs:\n"
                "  j:\n"
                "    if: always()\n"
                "    timeout-minutes: %s\n"
                "    steps:\n"
                "      - { continue-on-error: false, run: \"%s\" }\n"
                "      - { run: sleep 20 }\n"
                "      - { if: \"%s\", run: sleep 1 }\n",
                job_timeout ? "0.01" : "100", a_run, cond);
        sim_start(&s, yaml);
        if (run_cancel)
                sim_cancel(&s, false);
        /* "job" rows: the job's timeout (600 ms) comes while the first step ("sleep 1000") runs. */
        sim_run_all(&s);
        if (!streq(step_conclusion(&s, "j", 2), expect)) {
                print_message("step if: %s (first step: %s, cancel: %s): %s, expected %s\n%s", cond, a_run,
                        how, step_conclusion(&s, "j", 2), expect, s.log);
                fail();
        }
        sim_done(&s);
}

static void test_step_status_table(void **state) {
        /* always(): always */
        step_row("sleep 1", "none", "always()", "success");
        step_row("exit 1", "none", "always()", "success");
        step_row("sleep 1000", "job", "always()", "success");
        step_row("sleep 1", "run", "always()", "success");
        /* cancelled(): job status cancelled, or the run's cancellation requested */
        step_row("sleep 1", "none", "cancelled()", "skipped");
        step_row("sleep 1000", "job", "cancelled()", "success");
        step_row("sleep 1", "run", "cancelled()", "success");
        /* failure(): job status failure; cancelled overrides it */
        step_row("exit 1", "none", "failure()", "success");
        step_row("sleep 1", "none", "failure()", "skipped");
        step_row("sleep 1000", "job", "failure()", "skipped");
        /* success(): job status success; in a job that continues under a run cancel it still is */
        step_row("sleep 1", "none", "success()", "success");
        step_row("exit 1", "none", "success()", "skipped");
        step_row("sleep 1000", "job", "success()", "skipped");
        step_row("sleep 1", "run", "success()", "success");
        step_row("sleep 1", "run", "!cancelled()", "skipped");
}

static void test_cancelled_overrides_failure(void **state) {
        Sim s;

        /* A step failed, then the job is cancelled (its timeout): failure() is false, cancelled() true. */
        sim_start(&s,
                "jobs:\n"
                "  j:\n"
                "    timeout-minutes: 0.01\n"
                "    steps:\n"
                "      - { continue-on-error: false, run: exit 3 }\n"
                "      - { if: always(), run: sleep 100000 }\n"
                "      - { if: failure(), run: sleep 1 }\n"
                "      - { if: cancelled(), run: sleep 1 }\n");
        sim_run_all(&s);
        assert_string_equal(step_conclusion(&s, "j", 0), "failure");
        assert_log(&s, "600 EVENT step-condition j/2 if always() => true");
        assert_string_equal(step_conclusion(&s, "j", 1), "success");
        assert_string_equal(step_conclusion(&s, "j", 2), "skipped");
        assert_string_equal(step_conclusion(&s, "j", 3), "success");
        assert_string_equal(conclusion(&s, "j"), "cancelled");
        sim_done(&s);
}

/* strategy.fail-fast: one job of a 3×2 matrix fails; every sibling still running is cancelled with the
 * sequence (SIGINT at once, SIGTERM 7500 ms later, the kill 2500 ms after that), its always() step runs,
 * and it concludes cancelled; the journal event names the failed job. */
static void test_fail_fast(void **state) {
        Sim s;

        sim_start(&s,
                "jobs:\n"
                "  build:\n"
                "    strategy:\n"
                "      matrix: { v: [1, 2, 3], os: [linux, mac] }\n"
                "    steps:\n"
                "      - run: \"${{ matrix.v == 2 && matrix.os == 'mac' && 'sleep 1000' || 'trap INT' }}\\n"
                "${{ matrix.v == 2 && matrix.os == 'mac' && 'exit 1' || 'trap TERM' }}\"\n"
                "      - run: sleep 10\n"
                "      - if: always()\n"
                "        run: sleep 20\n");
        assert_int_equal(s.run->n_jobs, 6);
        assert_string_equal(s.run->jobs[3].name, "build (2, mac)");
        sim_run_all(&s);

        /* build.4 fails at 1000 ms; its always() step runs to 1020 ms; then it concludes failure */
        assert_log(&s, "1000 EXIT build.4/1 code");
        assert_log(&s, "1020 EVENT job-condition build.1/0 if success() => false");
        assert_log(&s,
                "1020 EVENT job-cancelled build.1/0: The strategy configuration was canceled because "
                "\"build (2, mac)\" failed (fail-fast).");
        for (unsigned i = 1; i <= 6; i++) {
                char line[128];

                if (i == 4)
                        continue;
                snprintf(line, sizeof(line), "1020 SIGINT build.%u/1 +0", i);
                assert_log(&s, line);
                snprintf(line, sizeof(line), "8520 SIGTERM build.%u/1 +7500", i);
                assert_log(&s, line);
                snprintf(line, sizeof(line), "11020 KILL build.%u/1 +10000", i);
                assert_log(&s, line);
                snprintf(line, sizeof(line), "11020 START build.%u/3", i);
                assert_log(&s, line);
                assert_string_equal(run_conclusion_to_string(s.run->jobs[i - 1].conclusion), "cancelled");
                assert_string_equal(
                        run_conclusion_to_string(s.run->jobs[i - 1].steps[1].conclusion), "skipped");
                assert_string_equal(
                        run_conclusion_to_string(s.run->jobs[i - 1].steps[2].conclusion), "success");
        }
        assert_no_log(&s, "SIGINT build.4");
        assert_string_equal(run_conclusion_to_string(s.run->jobs[3].conclusion), "failure");
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "failure");
        assert_false(s.run->cancel_requested);
        sim_done(&s);
}

/* ---- concurrency groups (README, "Concurrency groups"): the run's side ---- */

static void group_acquired(Sim *s, size_t job) {
        RunActions actions = {};

        assert_int_equal(run_group_acquired(s->run, job, at(s), &actions), 0);
        drive(s, &actions);
}

/* A run waits for its group with nothing started, then runs once it holds it. */
static void test_group_run_pending(void **state) {
        Sim s;

        sim_start(&s,
                "concurrency:\n"
                "  group: deploy-${{ github.ref }}-${{ github.run_id }}\n"
                "  cancel-in-progress: ${{ true }}\n"
                "jobs:\n"
                "  a: { steps: [ { run: sleep 10 } ] }\n");
        assert_log(&s, "0 ACQUIRE - deploy--7 cancel-in-progress");
        assert_no_log(&s, "START a/1");
        assert_int_equal(s.run->status, RUN_STATUS_QUEUED);
        assert_int_equal(s.run->group.state, RUN_GROUP_PENDING);
        sim_run_until(&s, 1000);
        assert_no_log(&s, "START a/1");
        group_acquired(&s, SIZE_MAX);
        assert_log(&s, "1000 START a/1");
        sim_run_all(&s);
        assert_string_equal(conclusion(&s, "a"), "success");
        assert_int_equal(s.run->group.state, RUN_GROUP_HELD);
        sim_done(&s);
}

/* runnerctl cancel of a pending run: cancelled at once, nothing of it started. */
static void test_group_run_pending_cancelled(void **state) {
        Sim s;

        sim_start(&s,
                "concurrency: g\n"
                "jobs:\n"
                "  a: { steps: [ { run: sleep 10 } ] }\n"
                "  b: { needs: a, if: always(), steps: [ { run: sleep 10 } ] }\n");
        assert_log(&s, "0 ACQUIRE - g");
        assert_int_equal(sim_cancel(&s, false), 1);
        assert_int_equal(s.run->status, RUN_STATUS_COMPLETED);
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "cancelled");
        assert_string_equal(conclusion(&s, "a"), "cancelled");
        assert_string_equal(conclusion(&s, "b"), "cancelled");
        assert_string_equal(step_conclusion(&s, "a", 0), "skipped");
        assert_no_log(&s, "START");
        sim_done(&s);
}

/* A newer pending run replaces this one: cancelled with GitHub's message and reason concurrency. */
static void test_group_run_replaced(void **state) {
        RunActions actions = {};
        Sim s;

        sim_start(&s, "concurrency: Deploy\njobs:\n  a: { steps: [ { run: sleep 10 } ] }\n");
        assert_int_equal(run_group_replaced(s.run, SIZE_MAX, "9", at(&s), &actions), 0);
        drive(&s, &actions);
        assert_int_equal(s.run->status, RUN_STATUS_COMPLETED);
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "cancelled");
        assert_int_equal(s.run->cancel_reason, RUN_CANCEL_REASON_CONCURRENCY);
        assert_string_equal(s.run->cancel_cause, "9");
        assert_string_equal(s.run->cancelled_by, "concurrency group 'Deploy'");
        assert_string_equal(job(&s, "a")->message,
                "Canceling since a higher priority waiting request for 'Deploy' exists");
        assert_int_equal(job(&s, "a")->cancel_reason, RUN_CANCEL_REASON_CONCURRENCY);
        assert_no_log(&s, "START");
        /* only a pending one can be replaced */
        assert_int_equal(run_group_replaced(s.run, SIZE_MAX, "9", at(&s), &actions), -ESTALE);
        sim_done(&s);
}

/* The one in progress, cancelled by a newer run's cancel-in-progress: the sequence of runnerctl cancel. */
static void test_group_run_cancel_in_progress(void **state) {
        RunActions actions = {};
        Sim s;

        sim_start(&s,
                "concurrency: g\njobs:\n"
                "  a: { steps: [ { run: \"trap INT\\ntrap TERM\" }, { if: always(), run: sleep 10 } ] }\n");
        group_acquired(&s, SIZE_MAX);
        sim_run_until(&s, 100);
        assert_int_equal(
                run_cancel_caused(s.run, RUN_CANCEL_REASON_CONCURRENCY, "run 9", "9", at(&s), &actions), 1);
        drive(&s, &actions);
        sim_run_all(&s);
        assert_log(&s, "100 SIGINT a/1 +0");
        assert_log(&s, "7600 SIGTERM a/1 +7500");
        assert_log(&s, "10100 KILL a/1 +10000");
        assert_log(&s, "10100 START a/2");
        assert_int_equal(s.run->cancel_reason, RUN_CANCEL_REASON_CONCURRENCY);
        assert_string_equal(s.run->cancel_cause, "9");
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "cancelled");
        sim_done(&s);
}

/* An invalid group fails the run, each job saying why; a job's fails the job. */
static void test_group_invalid(void **state) {
        Sim s;

        sim_start(&s, "concurrency: ${{ github.nothing }}\njobs:\n  a: { steps: [ { run: sleep 10 } ] }\n");
        assert_int_equal(s.run->status, RUN_STATUS_COMPLETED);
        assert_string_equal(conclusion(&s, "a"), "failure");
        assert_string_equal(job(&s, "a")->message, "1:14: the concurrency group's name is empty");
        assert_no_log(&s, "ACQUIRE");
        sim_done(&s);

        sim_start(&s,
                "jobs:\n"
                "  a:\n"
                "    concurrency: ${{ format('{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}', '0123456789012345678901234567890123456789') }}\n"
                "    steps: [ { run: sleep 10 } ]\n"
                "  b: { steps: [ { run: sleep 10 } ] }\n");
        sim_run_all(&s);
        assert_string_equal(conclusion(&s, "a"), "failure");
        assert_non_null(
                strstr(job(&s, "a")->message, "the concurrency group's name has 400 characters or more"));
        assert_string_equal(conclusion(&s, "b"), "success");
        sim_done(&s);
}

/* A job's group: evaluated once the job is ready (needs, matrix); pending, the job is queued, not started;
 * a newer job's cancel-in-progress cancels it as if its run was cancelled: its always() step still runs. */
static void test_group_job(void **state) {
        RunActions actions = {};
        Sim s;

        sim_start(&s,
                "jobs:\n"
                "  a: { steps: [ { run: sleep 10 } ] }\n"
                "  b:\n"
                "    needs: a\n"
                "    strategy: { matrix: { env: [prod] } }\n"
                "    concurrency: { group: \"ship-${{ matrix.env }}-${{ needs.a.result }}\", cancel-in-progress: true }\n"
                "    steps:\n"
                "      - run: \"trap INT\\ntrap TERM\"\n"
                "      - run: sleep 10\n"
                "      - if: always()\n"
                "        run: sleep 10\n");
        sim_run_until(&s, 100);
        assert_log(&s, "10 ACQUIRE b.1 ship-prod-success cancel-in-progress");
        assert_no_log(&s, "START b.1/1");
        assert_int_equal(job(&s, "b")->status, RUN_STATUS_QUEUED);
        group_acquired(&s, 1);
        assert_log(&s, "100 START b.1/1");
        sim_run_until(&s, 200);
        assert_int_equal(run_job_cancel_concurrency(s.run, 1, "9", at(&s), &actions), 0);
        drive(&s, &actions);
        sim_run_all(&s);
        assert_log(&s, "200 EVENT job-condition b.1/0 if success() => false");
        assert_log(&s,
                "200 EVENT job-cancelled b.1/0: Canceling since a higher priority waiting request for "
                "'ship-prod-success' exists");
        assert_log(&s, "200 SIGINT b.1/1 +0");
        assert_log(&s, "7700 SIGTERM b.1/1 +7500");
        assert_log(&s, "10200 KILL b.1/1 +10000");
        assert_log(&s, "10200 START b.1/3");
        assert_no_log(&s, "START b.1/2");
        assert_string_equal(conclusion(&s, "b"), "cancelled");
        assert_int_equal(job(&s, "b")->cancel_reason, RUN_CANCEL_REASON_CONCURRENCY);
        assert_string_equal(job(&s, "b")->cancel_cause, "9");
        assert_false(s.run->cancel_requested);
        sim_done(&s);
}

/* A run cancelled while one of its jobs is pending in the job's group: the job concludes cancelled
 * without starting; the agent is told nothing more about the group (it releases it at the job's end). */
static void test_group_job_pending_cancelled(void **state) {
        Sim s;

        sim_start(&s,
                "jobs:\n"
                "  a: { concurrency: deploy, steps: [ { run: sleep 10 } ] }\n"
                "  b: { steps: [ { run: \"trap INT\" } ] }\n");
        assert_log(&s, "0 ACQUIRE a deploy");
        assert_int_equal(job(&s, "a")->group.state, RUN_GROUP_PENDING);
        sim_run_until(&s, 100);
        assert_int_equal(sim_cancel(&s, false), 1);
        sim_run_all(&s);
        assert_log(&s, "100 EVENT job-condition a/0 if success() => false");
        assert_string_equal(conclusion(&s, "a"), "cancelled");
        assert_string_equal(step_conclusion(&s, "a", 0), "skipped");
        assert_int_equal(job(&s, "a")->started_at, 0);
        assert_no_log(&s, "START a/1");
        assert_string_equal(conclusion(&s, "b"), "cancelled");
        sim_done(&s);
}

/* ---- matrices from expressions (README, "Matrix jobs") ---- */

/* needs.plan.outputs.list, given by plan's step as its output, read back as job a's matrix. */
static void sim_expression_matrix(Sim *s, const char *list, const char *matrix) {
        char yaml[2048];
        RunActions actions = {};

        snprintf(yaml, sizeof(yaml),
                "jobs:\n"
                "  plan:\n"
                "    outputs: { list: \"${{ steps.p.outputs.list }}\" }\n"
                "    steps: [ { id: p, run: sleep 10 } ]\n"
                "  other: { steps: [ { run: sleep 5000 } ] }\n"
                "  a:\n"
                "    name: build\n"
                "    needs: plan\n"
                "    strategy:\n"
                "      matrix: %s\n"
                "    steps: [ { run: sleep 10 } ]\n"
                "  after: { needs: a, if: always(), steps: [ { run: sleep 10 } ] }\n",
                matrix);
        sim_start(s, yaml);
        /* plan's step ends with its output */
        s->now = 10 * MS;
        for (size_t i = 0; i < s->n_procs; i++)
                if (s->procs[i].job == 0)
                        s->procs[i].ended = true;
        {
                char out[1024];
                RunStepResult res = { .exit_code = 0, .output = out };

                snprintf(out, sizeof(out), "list=%s\n", list);
                res.output_len = strlen(out);
                assert_int_equal(run_step_exited(s->run, 0, 0, &res, at(s), &actions), 0);
        }
        drive(s, &actions);
        sim_run_all(s);
}

static void test_expression_matrix(void **state) {
        Sim s;

        sim_expression_matrix(&s, "{\"os\": [\"linux\", \"mac\"], \"v\": [1, 2]}",
                "${{ fromJSON(needs.plan.outputs.list) }}");
        /* a is the first instance where it stood; the others come after the run's jobs, numbered on */
        assert_int_equal(s.run->n_jobs, 7);
        assert_string_equal(s.run->jobs[2].name, "build (linux, 1)");
        assert_int_equal(s.run->jobs[2].number, 3);
        assert_int_equal(s.run->jobs[2].instance, 1);
        assert_string_equal(s.run->jobs[4].name, "build (linux, 2)");
        assert_int_equal(s.run->jobs[4].number, 5);
        assert_int_equal(s.run->jobs[4].instance, 2);
        assert_string_equal(s.run->jobs[5].name, "build (mac, 1)");
        assert_string_equal(s.run->jobs[6].name, "build (mac, 2)");
        assert_int_equal(s.run->jobs[6].instance, 4);
        assert_string_equal(s.run->jobs[3].def->id, "after");
        for (size_t i = 2; i < 7; i++)
                assert_string_equal(strna(run_conclusion_to_string(s.run->jobs[i].conclusion)), "success");
        /* after waited for every instance: it started once the last one was done (10 + 10 ms) */
        assert_log(&s, "20 START after/1");
        assert_log(&s, "10 START a.4/1");
        assert_string_equal(run_conclusion_to_string(s.run->conclusion), "success");
        sim_done(&s);

        /* a vector from an expression, with include */
        sim_expression_matrix(&s, "[3, 4]",
                "{ v: \"${{ fromJSON(needs.plan.outputs.list) }}\", include: [ { v: 4, x: y } ] }");
        assert_int_equal(s.run->n_jobs, 5);
        assert_string_equal(s.run->jobs[2].name, "build (3)");
        assert_string_equal(s.run->jobs[4].name, "build (4)");
        sim_done(&s);
}

static void test_expression_matrix_errors(void **state) {
        static const struct {
                const char *list, *message;
        } cases[] = {
                { "[1, 2]", "9:5: strategy.matrix: not an object" },
                { "{\"os\": []}", "9:5: strategy.matrix: " },
                { "{\"os\": [1], \"exclude\": [{\"os\": 1}]}",
                        "9:5: strategy.matrix: every combination was excluded" },
                { "{\"a\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17], \"b\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}",
                        "9:5: strategy.matrix: " },
                { "nope", "9:5: strategy.matrix: " },
        };
        Sim s;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                sim_expression_matrix(&s, cases[i].list, "${{ fromJSON(needs.plan.outputs.list) }}");
                assert_int_equal(s.run->n_jobs, 4);
                assert_string_equal(run_conclusion_to_string(s.run->jobs[2].conclusion), "failure");
                assert_non_null(s.run->jobs[2].message);
                assert_true(
                        strncmp(s.run->jobs[2].message, cases[i].message, strlen(cases[i].message)) == 0);
                assert_string_equal(run_conclusion_to_string(s.run->jobs[3].conclusion), "success");
                sim_done(&s);
        }
}

/* fail-fast: false leaves the siblings alone; continue-on-error keeps a failure from cancelling them. */
static void test_fail_fast_off(void **state) {
        static const char *const variants[] = {
                "    strategy: { fail-fast: false, matrix: { v: [1, 2] } }\n",
                "    continue-on-error: true\n"
                "    strategy: { matrix: { v: [1, 2] } }\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(variants); i++) {
                _cleanup_free_ char *yaml = NULL;
                Sim s;

                assert_int_equal(
                        asprintf(&yaml,
                                "jobs:\n"
                                "  build:\n"
                                "%s"
                                "    steps:\n"
                                "      - run: \"sleep ${{ matrix.v }}000\\nexit ${{ matrix.v == 1 && 1 || 0 }}\"\n",
                                variants[i]) < 0,
                        0);
                sim_start(&s, yaml);
                sim_run_all(&s);
                assert_log(&s, "2000 EXIT build.2/1 code");
                assert_no_log(&s, "SIGINT");
                assert_no_log(&s, "job-cancelled");
                assert_string_equal(run_conclusion_to_string(s.run->jobs[1].conclusion), "success");
                sim_done(&s);
        }
}

/* max-parallel: at most that many instances in progress at once; fail-fast cancels the queued ones too,
 * which then conclude cancelled without starting. */
static void test_max_parallel(void **state) {
        Sim s;

        sim_start(&s,
                "jobs:\n"
                "  build:\n"
                "    strategy: { max-parallel: 2, matrix: { v: [1, 2, 3, 4, 5] } }\n"
                "    steps:\n"
                "      - run: \"sleep ${{ matrix.v }}000\\nexit ${{ matrix.v == 3 && 1 || 0 }}\"\n");
        sim_run_all(&s);
        assert_log(&s, "0 START build.1/1");
        assert_log(&s, "0 START build.2/1");
        assert_log(&s, "1000 START build.3/1");
        assert_log(&s, "2000 START build.4/1");
        /* build.3 fails at 4000 ms: build.4 (running) is cancelled, build.5 (queued) never starts */
        assert_log(&s, "4000 EXIT build.3/1 code");
        assert_log(&s, "4000 SIGINT build.4/1 +0");
        assert_no_log(&s, "START build.5");
        assert_string_equal(run_conclusion_to_string(s.run->jobs[4].conclusion), "cancelled");
        assert_string_equal(run_conclusion_to_string(s.run->jobs[3].conclusion), "cancelled");
        assert_string_equal(run_conclusion_to_string(s.run->jobs[1].conclusion), "success");
        sim_done(&s);
}

/* Every cancellation says why (README, Cancellation): the run's and each job's reason, and what caused
 * it, in the status JSON and in the state an agent reads back. */
static const char *json_reason(const Run *run, size_t job, const char *key) {
        static char buf[128];
        json_object *o = NULL, *v = NULL;

        assert_int_equal(run_to_json(run, &o), 0);
        if (job != SIZE_MAX)
                v = json_object_object_get(
                        json_object_array_get_idx(json_object_object_get(o, "jobs"), job), key);
        else
                v = json_object_object_get(o, key);
        snprintf(buf, sizeof(buf), "%s", v ? json_object_get_string(v) : "null");
        json_object_put(o);
        return buf;
}

static void check_state_keeps_reasons(const Sim *s, const char *yaml) {
        _cleanup_free_ char *error = NULL;
        json_object *o = NULL, *reread;
        Workflow *w = NULL;
        Run *back = NULL;

        assert_int_equal(run_state_to_json(s->run, &o), 0);
        reread = json_tokener_parse(json_object_to_json_string(o));
        json_object_put(o);
        assert_int_equal(workflow_load(yaml, strlen(yaml), &w, NULL), 0);
        if (run_state_from_json(reread, w, &back, &error) < 0)
                fail_msg("%s", strna(error));
        json_object_put(reread);
        assert_int_equal(back->cancel_reason, s->run->cancel_reason);
        assert_int_equal(back->force_reason, s->run->force_reason);
        for (size_t i = 0; i < back->n_jobs; i++) {
                assert_int_equal(back->jobs[i].cancel_reason, s->run->jobs[i].cancel_reason);
                assert_string_equal(strna(back->jobs[i].cancel_cause), strna(s->run->jobs[i].cancel_cause));
        }
        run_free(back);
}

static void test_cancel_reasons(void **state) {
        static const char two[] = "jobs:\n"
                                  "  main:\n"
                                  "    steps: [ { run: \"trap INT\\ntrap TERM\" } ]\n"
                                  "  slow:\n"
                                  "    timeout-minutes: 0.05\n"
                                  "    steps: [ { run: sleep 100000 } ]\n";
        static const char matrix[] =
                "jobs:\n"
                "  m:\n"
                "    strategy: { matrix: { v: [1, 2] } }\n"
                "    steps: [ { run: \"sleep ${{ matrix.v }}000\\nexit ${{ matrix.v == 1 && 1 || 0 }}\" } ]\n";
        Sim s;

        /* the job timeout, then a user's cancel, then the force deadline */
        sim_start(&s, two);
        sim_run_until(&s, 3500);
        assert_int_equal(s.run->jobs[1].cancel_reason, RUN_CANCEL_REASON_JOB_TIMEOUT);
        assert_string_equal(json_reason(s.run, 1, "cancel_reason"), "job-timeout");
        assert_string_equal(json_reason(s.run, SIZE_MAX, "cancel_reason"), "null");
        assert_string_equal(json_reason(s.run, 0, "cancel_reason"), "null");
        assert_int_equal(sim_cancel(&s, false), 1);
        assert_string_equal(json_reason(s.run, SIZE_MAX, "cancel_reason"), "user");
        assert_string_equal(json_reason(s.run, 0, "cancel_reason"), "user");
        check_state_keeps_reasons(&s, two);
        s.run->cancel.force_usec = 20 * USEC_PER_SEC;
        sim_run_all(&s);
        assert_int_equal(s.run->force_reason, RUN_CANCEL_REASON_NONE); /* done within the deadline */
        sim_done(&s);

        /* --force */
        sim_start(&s, two);
        sim_run_until(&s, 1000);
        assert_int_equal(sim_cancel(&s, true), 1);
        assert_string_equal(json_reason(s.run, SIZE_MAX, "cancel_reason"), "force");
        assert_int_equal(s.run->force_reason, RUN_CANCEL_REASON_FORCE);
        check_state_keeps_reasons(&s, two);
        sim_run_all(&s);
        sim_done(&s);

        /* fail-fast: the reason and the failed job */
        sim_start(&s, matrix);
        sim_run_until(&s, 1000);
        assert_int_equal(s.run->jobs[1].cancel_reason, RUN_CANCEL_REASON_FAIL_FAST);
        assert_string_equal(json_reason(s.run, 1, "cancel_reason"), "fail-fast");
        assert_string_equal(json_reason(s.run, 1, "cancel_cause"), "m (1)");
        assert_string_equal(json_reason(s.run, 1, "message"),
                "The strategy configuration was canceled because \"m (1)\" failed (fail-fast).");
        assert_string_equal(json_reason(s.run, 0, "cancel_reason"), "null");
        assert_string_equal(json_reason(s.run, SIZE_MAX, "cancel_reason"), "null");
        check_state_keeps_reasons(&s, matrix);
        sim_run_all(&s);
        sim_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_five_steps),
                cmocka_unit_test(test_fail_fast),
                cmocka_unit_test(test_fail_fast_off),
                cmocka_unit_test(test_group_run_pending),
                cmocka_unit_test(test_group_run_pending_cancelled),
                cmocka_unit_test(test_group_run_replaced),
                cmocka_unit_test(test_group_run_cancel_in_progress),
                cmocka_unit_test(test_group_invalid),
                cmocka_unit_test(test_group_job),
                cmocka_unit_test(test_group_job_pending_cancelled),
                cmocka_unit_test(test_expression_matrix),
                cmocka_unit_test(test_expression_matrix_errors),
                cmocka_unit_test(test_max_parallel),
                cmocka_unit_test(test_cancel_reasons),
                cmocka_unit_test(test_kill_waits_for_empty),
                cmocka_unit_test(test_force_deadline),
                cmocka_unit_test(test_late_stage_keeps_schedule),
                cmocka_unit_test(test_due_together),
                cmocka_unit_test(test_exit_between_signals),
                cmocka_unit_test(test_exit_at_deadline),
                cmocka_unit_test(test_cancel_during_scope_creation),
                cmocka_unit_test(test_cancel_twice_and_after_completion),
                cmocka_unit_test(test_force_during_escalation),
                cmocka_unit_test(test_force_before_escalation),
                cmocka_unit_test(test_infinite_timeouts),
                cmocka_unit_test(test_step_timeout),
                cmocka_unit_test(test_job_timeout),
                cmocka_unit_test(test_job_timeout_during_cancellation),
                cmocka_unit_test(test_cleanup_job_after_cancel),
                cmocka_unit_test(test_continue_on_error_under_cancel),
                cmocka_unit_test(test_cancel_queued),
                cmocka_unit_test(test_needs_waiting_skipped),
                cmocka_unit_test(test_needs_waiting_always),
                cmocka_unit_test(test_queued_cancelled),
                cmocka_unit_test(test_queued_always),
                cmocka_unit_test(test_job_status_table),
                cmocka_unit_test(test_step_status_table),
                cmocka_unit_test(test_cancelled_overrides_failure),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
