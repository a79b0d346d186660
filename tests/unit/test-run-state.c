/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The internal state of a run (run-state.h). The property that matters is resuming: a run driven by a
 * simulated agent on a fake clock is saved after every single event of a scenario, restored into a second
 * Run, and both go on with the same world (processes, the clock, pending cleanups) and the same events; the
 * actions they emit and their final JSON must be the same. Then: the state is a fixed point of a round trip,
 * and corrupted states are refused with their reason.
 *
 * Each step's run: text says how its simulated process behaves, one command a line:
 *   sleep MS        runs MS milliseconds, then exits (without it: runs until killed)
 *   exit N          exits N when it ends on its own
 *   trap INT|TERM   ignores SIGINT or SIGTERM
 *   linger MS       takes MS milliseconds to exit after a signal it does not ignore
 *   output K=V, setenv K=V, addpath D    written to $GITHUB_OUTPUT, $GITHUB_ENV, $GITHUB_PATH */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>

#include "json-util.h"
#include "macro.h"
#include "run-state.h"
#include "run.h"
#define SIM_ACTIONS
#include "sim-proc.h"
#include "test-util.h"

#define NJ 8
#define NS 16

/* What the scenario is: the workflow and how the world behaves around it. */
typedef struct Scenario {
        const char *name;
        const char *yaml;
        uint64_t scope_delay,
                clean_delay;          /* START_STEP to the entry running; CLEAN_JOB to run_job_cleaned() */
        unsigned max_jobs;            /* MaxParallelJobs= (0: no limit) */
        bool released;                /* ABORT_STEP comes after the shim was released */
        RunCancelSettings cancel;     /* 0s: the defaults */
        uint64_t cancel_at, force_at; /* ms of runnerctl cancel and cancel --force; NEVER: none */
        unsigned required;            /* Situations the scenario must pass through */
        const char *const *actions;   /* uses: as written, then its action.yml; NULL-terminated */
} Scenario;

/* Everything a simulated agent and its world hold; all but run survive the restart. */
typedef struct Sim {
        const Scenario *sc;
        Run *run;
        uint64_t now; /* µs since the start of the run */
        uint64_t cancel_at, force_at;
        Proc procs[NJ][NS];
        uint64_t clean_at[NJ];
        size_t n_events;
        char log[1 << 17];
} Sim;

static void log_spec(Sim *s, size_t job, size_t step, const RunStepSpec *spec) {
        char buf[4096] = "";
        size_t len;

        len = (size_t) snprintf(buf, sizeof(buf),
                "START %zu/%zu wd=%s shell=%s timeout=%" PRIu64 " env=", job, step, spec->working_directory,
                spec->shell, spec->timeout_usec);
        for (char **e = spec->env; *e; e++)
                len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s;", *e);
        len += (size_t) snprintf(buf + len, sizeof(buf) - len, " path=");
        for (char **e = spec->path; *e; e++)
                len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s:", *e);
        snprintf(buf + len, sizeof(buf) - len, " script=%s", spec->script);
        assert_true(strlen(buf) < sizeof(buf) - 1);
        logf_(s, "%s", buf);
}

/* ---- the effects, as the agent carries them out ---- */

static RunTime sim_now(void *userdata) {
        const Sim *s = userdata;
        return at(s);
}

static unsigned sim_room_left(void *userdata) {
        const Sim *s = userdata;
        return sim_room(s->run, s->sc->max_jobs);
}

static Proc *proc_of(Sim *s, const RunAction *x) {
        Proc *p = x->job < NJ && x->step < NS ? &s->procs[x->job][x->step] : NULL;

        assert_non_null(p);
        return p;
}

static void sim_start_step(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        Proc *p = proc_of(s, x);

        assert_false(p->present);
        *p = (Proc){ .present = true,
                .ready_at = s->now + s->sc->scope_delay * MS,
                .exit_at = NEVER,
                .empty_at = NEVER };
        /* a JavaScript action's step: as the name of its file says */
        sim_proc_parse(p, x->spec->node ? strrchr(x->spec->script, '/') + 1 : x->spec->script);
        log_spec(s, x->job, x->step, x->spec);
}

/* The agent loads an action: here from the scenario's texts, at once. */
static void sim_load_action(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        const WorkflowStep *d = s->run->jobs[x->job].steps[x->step].def;
        RunLoadedAction *a = NULL;

        logf_(s, "LOAD %zu/%zu %s", x->job, x->step, d->uses);
        for (const char *const *u = s->sc->actions; u && *u; u += 2)
                if (streq(*u, d->uses)) {
                        a = calloc(1, sizeof(RunLoadedAction));
                        assert_non_null(a);
                        a->n_ref = 1;
                        assert_int_equal(action_load(u[1], strlen(u[1]), &a->action, NULL), 0);
                        assert_true(asprintf(&a->dir, "/actions/%s", d->uses) > 0);
                        a->text = strdup(u[1]);
                        if (d->action.owner) {
                                a->repository = strdup(d->action.repo);
                                a->ref = strdup(d->action.ref);
                        }
                }
        assert_int_equal(
                run_step_action_loaded(s->run, x->job, x->step, a, a ? NULL : "not found", at(s), more), 0);
        run_loaded_action_unref(a);
}

/* Steps an action added: what the world keeps per step moves with them. */
static void sim_steps_inserted(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        Proc *p = s->procs[x->job];

        logf_(s, "INSERTED %zu/%zu +%" PRIu64, x->job, x->step, x->usec);
        assert_true(x->job < NJ && x->step + x->usec <= NS);
        memmove(p + x->step + x->usec, p + x->step, (NS - x->step - x->usec) * sizeof(Proc));
        memset(p + x->step, 0, x->usec * sizeof(Proc));
}

static void sim_clean_job(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;

        assert_true(x->job < NJ);
        s->clean_at[x->job] = s->now + s->sc->clean_delay * MS;
        logf_(s, "CLEAN %zu", x->job);
}

static void sim_changed(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        logf_(s, "CHANGED %zd/%zd", (ssize_t) x->job, (ssize_t) x->step);
}

static void sim_acquire_group(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        logf_(s, "ACQUIRE %zd", (ssize_t) x->job);
}

static void sim_signal_step(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        Proc *p = proc_of(s, x);

        assert_true(p->started);
        logf_(s, "SIGNAL %d %zu/%zu +%" PRIu64, x->signal, x->job, x->step, x->usec);
        sim_proc_signal(p, s->now, x->signal);
}

static void sim_kill_step(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        Proc *p = proc_of(s, x);

        logf_(s, "KILL %zu/%zu +%" PRIu64, x->job, x->step, x->usec);
        sim_proc_kill(p, s->now, SIGKILL);
        p->empty_at = s->now;
}

static void sim_abort_step(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        Proc *p = proc_of(s, x);

        logf_(s, "ABORT %zu/%zu", x->job, x->step);
        if (!p->started && !s->sc->released)
                p->aborted = true;
}

static void sim_kill_run(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;

        logf_(s, "KILL-RUN +%" PRIu64, x->usec);
        for (size_t j = 0; j < NJ; j++)
                for (size_t k = 0; k < NS; k++)
                        if (s->procs[j][k].present)
                                sim_proc_kill(&s->procs[j][k], s->now, SIGKILL);
}

static void sim_event(void *userdata, RunAction *x, RunActions *more) {
        Sim *s = userdata;
        logf_(s, "EVENT %s %zd/%zd %s %d %s", run_event_to_string(x->event), (ssize_t) x->job,
                (ssize_t) x->step, strna(x->condition), x->result, strna(x->text));
}

/* As the agent does after every event: until nothing more is decided. */
static void drive(Sim *s, RunActions *actions) {
        assert_int_equal(run_drive(s->run, &sim_ops, s, actions), 0);
}

static void set_value(ExprValue *o, const char *key, ExprValue *v) {
        assert_non_null(v);
        assert_int_equal(expr_object_set(o, key, strlen(key), v), 0);
        expr_value_unref(v);
}

static Sim *sim_begin(const Scenario *sc) {
        Sim *s = calloc(1, sizeof(Sim));
        Workflow *w = NULL;
        WorkflowErrors errors = {};
        ExprValue *github, *runner;

        assert_non_null(s);
        s->sc = sc;
        s->cancel_at = sc->cancel_at;
        s->force_at = sc->force_at;
        for (size_t j = 0; j < NJ; j++)
                s->clean_at[j] = NEVER;
        if (workflow_load(sc->yaml, strlen(sc->yaml), &w, &errors) < 0) {
                for (size_t i = 0; i < errors.n; i++)
                        print_message("%u:%u: %s\n", errors.errors[i].pos.line, errors.errors[i].pos.column,
                                errors.errors[i].message);
                fail();
        }
        assert_true(w->n_jobs <= NJ);
        for (size_t j = 0; j < w->n_jobs; j++)
                assert_true(w->jobs[j].n_steps <= NS);

        /* Contexts as an agent gives them, with what JSON carries: strings, numbers, nesting. */
        github = expr_value_new_object();
        runner = expr_value_new_object();
        assert_non_null(github);
        assert_non_null(runner);
        set_value(github, "event_name", expr_value_new_stringz("workflow_dispatch"));
        set_value(github, "run_attempt", expr_value_new_number(1.5));
        set_value(runner, "os", expr_value_new_stringz("Linux"));
        set_value(runner, "tags", expr_value_new_array());
        assert_int_equal(run_new(7, "test.yml", w, "/work/r7", github, runner, at(s), &s->run), 0);
        expr_value_unref(github);
        expr_value_unref(runner);
        if (sc->cancel.force_usec)
                s->run->cancel = sc->cancel;
        drive(s, &(RunActions){});
        return s;
}

/* One event: the earliest of the scenario's requests, the processes', the cleanups' and the timers'
 * moments; at equal times in that order, each by (job, step). False when nothing is left. */
static bool sim_step(Sim *s) {
        enum { NONE, CANCEL, FORCE, READY, EXIT, EMPTY, CLEAN, TIMER } kind = NONE;
        uint64_t best = NEVER;
        size_t bj = SIZE_MAX, bs = SIZE_MAX;
        RunActions actions = {};
        Proc *p;

#define CONSIDER(t, k, j, st) \
        do { \
                if ((t) < best) { \
                        best = (t), kind = (k), bj = (j), bs = (st); \
                } \
        } while (0)

        if (s->cancel_at != NEVER)
                CONSIDER(s->cancel_at * MS, CANCEL, SIZE_MAX, SIZE_MAX);
        if (s->force_at != NEVER)
                CONSIDER(s->force_at * MS, FORCE, SIZE_MAX, SIZE_MAX);
        for (size_t j = 0; j < NJ; j++)
                for (size_t k = 0; k < NS; k++) {
                        p = &s->procs[j][k];
                        if (!p->present)
                                continue;
                        if (!p->started && !p->ended)
                                CONSIDER(p->ready_at, READY, j, k);
                        else if (!p->ended)
                                CONSIDER(p->exit_at, EXIT, j, k);
                        else if (p->empty_at != NEVER)
                                CONSIDER(p->empty_at, EMPTY, j, k);
                }
        for (size_t j = 0; j < NJ; j++)
                CONSIDER(s->clean_at[j], CLEAN, j, SIZE_MAX);
        if (run_next_deadline(s->run) != 0)
                CONSIDER(run_next_deadline(s->run) - MONO0, TIMER, SIZE_MAX, SIZE_MAX);
#undef CONSIDER
        if (kind == NONE)
                return false;
        assert_true(best >= s->now);
        s->now = best;
        s->n_events++;
        p = bj < NJ && bs < NS ? &s->procs[bj][bs] : NULL;

        switch (kind) {
        case CANCEL:
        case FORCE:
                *(kind == CANCEL ? &s->cancel_at : &s->force_at) = NEVER;
                logf_(s, "REQUEST cancel%s", kind == FORCE ? " --force" : "");
                if (s->run->status != RUN_STATUS_COMPLETED)
                        assert_true(run_cancel(s->run, "tester", kind == FORCE, at(s), &actions) >= 0);
                break;
        case READY:
                if (p->aborted) {
                        p->ended = true;
                        assert_int_equal(
                                run_step_failed(s->run, bj, bs, "runner-step gave up", at(s), &actions), 0);
                } else {
                        p->started = true;
                        if (p->exit_at == NEVER && p->duration != NEVER)
                                p->exit_at = s->now + p->duration;
                        assert_int_equal(run_step_started(s->run, bj, bs, at(s), &actions), 0);
                }
                break;
        case EXIT: {
                bool normal = p->exit_signal == 0;
                RunStepResult res = {
                        .exit_code = normal ? p->exit_code : -1,
                        .exit_signal = p->exit_signal,
                        .output = normal ? p->output : NULL,
                        .output_len = normal ? strlen(p->output) : 0,
                        .env = normal ? p->env : NULL,
                        .env_len = normal ? strlen(p->env) : 0,
                        .path = normal ? p->path : NULL,
                        .path_len = normal ? strlen(p->path) : 0,
                        .state = p->state,
                        .state_len = strlen(p->state),
                };
                p->ended = true;
                logf_(s, "EXIT %zu/%zu %d %d", bj, bs, res.exit_code, res.exit_signal);
                assert_int_equal(run_step_exited(s->run, bj, bs, &res, at(s), &actions), 0);
                break;
        }
        case EMPTY:
                p->empty_at = NEVER;
                logf_(s, "EMPTY %zu/%zu", bj, bs);
                assert_int_equal(run_step_emptied(s->run, bj, bs, at(s), &actions), 0);
                break;
        case CLEAN:
                s->clean_at[bj] = NEVER;
                logf_(s, "CLEANED %zu", bj);
                assert_int_equal(run_job_cleaned(s->run, bj, at(s), &actions), 0);
                break;
        case TIMER:
                logf_(s, "DUE %u", run_count_due(s->run, at(s).monotonic));
                assert_int_equal(run_timers_due(s->run, at(s), &actions), 0);
                break;
        case NONE:
                break;
        }
        drive(s, &actions);
        return true;
}

static void sim_free(Sim *s) {
        run_free(s->run);
        free(s);
}

static char *json_text(json_object *o) {
        char *t = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

        assert_non_null(t);
        return t;
}

static char *state_text(const Run *run) {
        _cleanup_(json_object_putp) json_object *o = NULL;

        assert_int_equal(run_state_to_json(run, &o), 0);
        return json_text(o);
}

static char *status_text(const Run *run) {
        _cleanup_(json_object_putp) json_object *o = NULL;

        assert_int_equal(run_to_json(run, &o), 0);
        return json_text(o);
}

static Workflow *load(const char *yaml) {
        Workflow *w = NULL;
        WorkflowErrors errors = {};

        assert_int_equal(workflow_load(yaml, strlen(yaml), &w, &errors), 0);
        return w;
}

/* The restart: the state as text, as on disk, read back for a newly loaded workflow. */
static Run *restore(const char *text, const char *yaml) {
        _cleanup_(json_object_putp) json_object *o = json_tokener_parse(text);
        _cleanup_free_ char *error = NULL;
        Run *run = NULL;
        int r;

        assert_non_null(o);
        r = run_state_from_json(o, load(yaml), &run, &error);
        if (r < 0)
                fail_msg("restore refused: %s", strna(error));
        return run;
}

/* ---- the situations a scenario passes through ---- */

enum {
        SIT_RUNNING = 1 << 0,           /* a step's entry runs, not cancelled */
        SIT_HELD = 1 << 1,              /* a step handed over, its entry not started yet */
        SIT_PENDING = 1 << 2,           /* cancelled before its entry ran */
        SIT_INTERRUPT = 1 << 3,         /* SIGINT sent, SIGTERM armed */
        SIT_TERMINATE = 1 << 4,         /* SIGTERM sent, the kill armed */
        SIT_KILL_HALF = 1 << 5,         /* killed, one of exit and populated 0 came */
        SIT_FORCE = 1 << 6,             /* a step in the FORCE stage */
        SIT_QUEUED = 1 << 7,            /* a job queued under MaxParallelJobs */
        SIT_CLEANUP = 1 << 8,           /* a job's leftovers being killed */
        SIT_WAITING_CANCELLED = 1 << 9, /* a job waits for its needs in a cancelled run */
        SIT_STEP_TIMEOUT = 1 << 10,     /* a step's timeout-minutes armed */
        SIT_JOB_TIMEOUT = 1 << 11,      /* a job's timeout-minutes armed */
        SIT_FORCE_ARMED = 1 << 12,      /* the force deadline armed */
        SIT_ENV_PATH = 1 << 13,         /* a running job with $GITHUB_ENV and $GITHUB_PATH additions */
        SIT_OUTPUTS = 1 << 14,          /* a step with outputs in a running job */
        SIT_JOB_CANCELLED = 1 << 15,    /* a running job got the cancellation message */
        SIT_COMPOSITE = 1 << 16,        /* a composite action's step runs its steps */
        SIT_POST = 1 << 17,             /* a JavaScript action's post step runs */
};

static unsigned situations(const Run *run) {
        unsigned m = 0;

        m |= run->timer ? SIT_FORCE_ARMED : 0;
        for (size_t i = 0; i < run->n_jobs; i++) {
                const RunJob *j = &run->jobs[i];
                bool running = IN_SET(j->phase, RUN_JOB_STEPPING, RUN_JOB_STEP, RUN_JOB_CLEANUP);

                m |= j->phase == RUN_JOB_QUEUED ? SIT_QUEUED : 0;
                m |= j->phase == RUN_JOB_CLEANUP ? SIT_CLEANUP : 0;
                m |= j->phase == RUN_JOB_WAITING && run->cancel_requested ? SIT_WAITING_CANCELLED : 0;
                m |= j->timer ? SIT_JOB_TIMEOUT : 0;
                m |= running && j->n_path > 0 && j->env->object.n > 0 ? SIT_ENV_PATH : 0;
                m |= running && j->local_status == RUN_CONCLUSION_CANCELLED ? SIT_JOB_CANCELLED : 0;
                for (size_t k = 0; k < j->n_steps; k++) {
                        const RunStep *s = &j->steps[k];

                        m |= running && s->end != SIZE_MAX && s->status == RUN_STATUS_IN_PROGRESS
                                ? SIT_COMPOSITE
                                : 0;
                        m |= running && s->role == RUN_STEP_POST && s->status == RUN_STATUS_IN_PROGRESS
                                ? SIT_POST
                                : 0;
                        m |= running && s->outputs && s->outputs->object.n > 0 ? SIT_OUTPUTS : 0;
                        if (s->status != RUN_STATUS_IN_PROGRESS)
                                continue;
                        m |= !s->entry_running && s->cancel_stage == RUN_CANCEL_NONE ? SIT_HELD : 0;
                        m |= s->entry_running && s->cancel_stage == RUN_CANCEL_NONE ? SIT_RUNNING : 0;
                        m |= s->cancel_stage == RUN_CANCEL_NONE && s->timer ? SIT_STEP_TIMEOUT : 0;
                        m |= s->cancel_stage == RUN_CANCEL_PENDING ? SIT_PENDING : 0;
                        m |= s->cancel_stage == RUN_CANCEL_INTERRUPT && s->timer ? SIT_INTERRUPT : 0;
                        m |= s->cancel_stage == RUN_CANCEL_TERMINATE && s->timer ? SIT_TERMINATE : 0;
                        m |= s->cancel_stage == RUN_CANCEL_KILL && (s->exited || s->emptied) ? SIT_KILL_HALF
                                                                                             : 0;
                        m |= s->cancel_stage == RUN_CANCEL_FORCE ? SIT_FORCE : 0;
                }
        }
        return m;
}

static void assert_same_text(const char *what, const char *a, const char *b) {
        if (!streq(a, b)) {
                size_t i = 0;

                while (a[i] && a[i] == b[i])
                        i++;
                while (i > 0 && a[i - 1] != '\n')
                        i--;
                print_message("%s differs after the restart; the original went on with:\n%.1500s\n"
                              "the restored one with:\n%.1500s\n",
                        what, a + i, b + i);
                fail();
        }
}

/* Saves the run after every event of the scenario, restores it, and continues both. */
static void check_resume(const Scenario *sc) {
        size_t n_events;
        unsigned seen = 0;
        Sim *ref = sim_begin(sc);

        while (sim_step(ref))
                ;
        assert_int_equal(ref->run->status, RUN_STATUS_COMPLETED);
        n_events = ref->n_events;
        assert_true(n_events > 5);

        for (size_t k = 0; k <= n_events; k++) {
                _cleanup_free_ char *saved = NULL, *again = NULL, *a_status = NULL, *b_status = NULL,
                                    *a_state = NULL, *b_state = NULL;
                Sim *a = sim_begin(sc), *b = malloc(sizeof(Sim));
                Run *r2;

                assert_non_null(b);
                for (size_t i = 0; i < k; i++)
                        assert_true(sim_step(a));
                seen |= situations(a->run);

                /* A round trip is a fixed point. */
                saved = state_text(a->run);
                r2 = restore(saved, sc->yaml);
                again = state_text(r2);
                assert_string_equal(saved, again);

                /* The restart: the world goes on, the agent arms the run's timer from the state. */
                assert_int_equal(run_next_deadline(a->run), run_next_deadline(r2));
                memcpy(b, a, sizeof(Sim));
                b->run = r2;
                a->log[0] = b->log[0] = 0;
                while (sim_step(a))
                        assert_true(sim_step(b));
                assert_false(sim_step(b));

                assert_same_text("the actions", a->log, b->log);
                a_status = status_text(a->run);
                b_status = status_text(b->run);
                assert_same_text("run_to_json()", a_status, b_status);
                a_state = state_text(a->run);
                b_state = state_text(b->run);
                assert_same_text("the state", a_state, b_state);
                assert_int_equal(b->run->status, RUN_STATUS_COMPLETED);
                sim_free(a);
                sim_free(b);
        }
        if ((seen & sc->required) != sc->required)
                fail_msg("%s: situations 0x%x required, 0x%x seen", sc->name, sc->required, seen);
        sim_free(ref);
}

static const Scenario scenario_files = {
        .name = "outputs, env, path, continue-on-error, timeouts",
        .yaml = "env: { WF: wf }\n"
                "jobs:\n"
                "  build:\n"
                "    name: Build ${{ github.run_id }}\n"
                "    timeout-minutes: 1\n"
                "    env: { JOBV: j }\n"
                "    outputs: { art: '${{ steps.make.outputs.art }}' }\n"
                "    steps:\n"
                "      - id: make\n"
                "        run: \"sleep 100\\noutput art=a1\\nsetenv FOO=bar\\naddpath /opt/one\"\n"
                "      - name: Use ${{ env.FOO }}\n"
                "        run: \"sleep 100\\naddpath /opt/two\\nsetenv FOO=baz\\noutput x=${{ env.JOBV }}\"\n"
                "      - run: \"sleep 50\\nexit 3\"\n"
                "        continue-on-error: true\n"
                "      - timeout-minutes: 0.01\n"
                "        run: \"trap INT\\nlinger 20\"\n"
                "      - if: always()\n"
                "        run: \"sleep 10\\noutput z=${{ env.FOO }}\"\n"
                "  test:\n"
                "    needs: build\n"
                "    if: always()\n"
                "    steps:\n"
                "      - run: \"sleep 20\\nsetenv X=${{ needs.build.outputs.art }}\"\n"
                "      - run: \"sleep 20\\noutput y=${{ env.X }}\"\n",
        .scope_delay = 5,
        .clean_delay = 30,
        .cancel_at = NEVER,
        .force_at = NEVER,
        .required = SIT_RUNNING | SIT_HELD | SIT_INTERRUPT | SIT_CLEANUP | SIT_STEP_TIMEOUT |
                SIT_JOB_TIMEOUT | SIT_ENV_PATH | SIT_OUTPUTS,
};

static const Scenario scenario_cancel = {
        .name = "the escalation, always() steps and jobs",
        .yaml = "jobs:\n"
                "  main:\n"
                "    steps:\n"
                "      - run: \"sleep 100\\nsetenv A=1\\naddpath /opt/a\"\n"
                "      - run: \"trap INT\\ntrap TERM\"\n"
                "      - run: sleep 10\n"
                "      - if: always()\n"
                "        run: sleep 30\n"
                "  always:\n"
                "    needs: main\n"
                "    if: always()\n"
                "    steps: [ { run: sleep 20 } ]\n"
                "  plain:\n"
                "    needs: main\n"
                "    steps: [ { run: sleep 20 } ]\n"
                "  side:\n"
                "    if: always()\n"
                "    steps: [ { run: \"trap INT\\nlinger 300\" }, { if: cancelled(), run: sleep 5 } ]\n",
        .scope_delay = 10,
        .clean_delay = 50,
        .cancel_at = 1000,
        .force_at = NEVER,
        .required = SIT_RUNNING | SIT_INTERRUPT | SIT_TERMINATE | SIT_KILL_HALF | SIT_CLEANUP |
                SIT_WAITING_CANCELLED | SIT_FORCE_ARMED | SIT_JOB_CANCELLED | SIT_ENV_PATH,
};

static const Scenario scenario_queued = {
        .name = "MaxParallelJobs=1 and a cancel while jobs are queued",
        .yaml = "jobs:\n"
                "  a: { steps: [ { run: sleep 500 }, { if: always(), run: sleep 10 } ] }\n"
                "  b: { if: always(), steps: [ { run: sleep 100 } ] }\n"
                "  c: { steps: [ { run: sleep 100 } ] }\n"
                "  d: { needs: a, if: always(), steps: [ { run: sleep 10 } ] }\n",
        .scope_delay = 1,
        .clean_delay = 5,
        .max_jobs = 1,
        .cancel_at = 200,
        .force_at = NEVER,
        .required = SIT_QUEUED | SIT_RUNNING | SIT_WAITING_CANCELLED | SIT_INTERRUPT | SIT_CLEANUP,
};

static const Scenario scenario_force = {
        .name = "a cancel before the entry ran, then the force deadline",
        .yaml = "jobs:\n"
                "  slow:\n"
                "    steps: [ { run: sleep 5000 }, { if: always(), run: \"trap INT\\ntrap TERM\" } ]\n"
                "  keeps:\n"
                "    if: always()\n"
                "    steps: [ { if: always(), run: \"trap INT\\ntrap TERM\" }, { if: always(), run: sleep 10 } ]\n"
                "  late:\n"
                "    needs: keeps\n"
                "    if: always()\n"
                "    steps: [ { run: sleep 10 } ]\n",
        .scope_delay = 300,
        .clean_delay = 20,
        .cancel = { .interrupt_usec = 2000 * MS, .terminate_usec = 1000 * MS, .force_usec = 20000 * MS },
        .cancel_at = 100,
        .force_at = NEVER,
        .required = SIT_HELD | SIT_PENDING | SIT_FORCE | SIT_FORCE_ARMED | SIT_CLEANUP | SIT_RUNNING,
};

static const Scenario scenario_force_now = {
        .name = "cancel, then cancel --force during the escalation",
        .yaml = "jobs:\n"
                "  a: { steps: [ { run: \"trap INT\\ntrap TERM\" }, { if: always(), run: sleep 10 } ] }\n"
                "  b: { if: always(), steps: [ { if: always(), run: \"trap INT\" } ] }\n"
                "  c: { needs: a, if: always(), steps: [ { run: sleep 10 } ] }\n",
        .scope_delay = 2,
        .clean_delay = 10,
        .cancel_at = 100,
        .force_at = 9000,
        .required = SIT_INTERRUPT | SIT_TERMINATE | SIT_FORCE | SIT_WAITING_CANCELLED,
};

static const Scenario scenario_job_timeout = {
        .name = "a job's timeout while its step's shim is held, released anyway",
        .yaml = "jobs:\n"
                "  a:\n"
                "    timeout-minutes: 0.001\n"
                "    steps: [ { run: \"trap INT\\nlinger 200\" }, { if: always(), run: sleep 10 } ]\n"
                "  b:\n"
                "    needs: a\n"
                "    if: always()\n"
                "    steps: [ { timeout-minutes: 0.005, run: \"trap INT\\ntrap TERM\" } ]\n",
        .scope_delay = 100,
        .clean_delay = 10,
        .released = true,
        .cancel_at = NEVER,
        .force_at = NEVER,
        .required = SIT_HELD | SIT_PENDING | SIT_INTERRUPT | SIT_TERMINATE | SIT_JOB_CANCELLED |
                SIT_JOB_TIMEOUT | SIT_STEP_TIMEOUT | SIT_KILL_HALF,
};

/* README, "Actions": a JavaScript action of the store with pre, main and post and state; a composite
 * action nesting another; a cancel while a composite action's step runs. */
static const char *const scenario_actions_texts[] = {
        "someone/js@v1",
        "name: js\n"
        "runs:\n"
        "  using: node20\n"
        "  pre: sleep 20\n"
        "  main: \"sleep 100\"\n"
        "  post: sleep 30\n",
        "./comp",
        "name: comp\n"
        "inputs: { word: { default: w } }\n"
        "outputs: { o: { value: '${{ steps.s1.outputs.o }}/${{ steps.in.outputs.n }}' } }\n"
        "runs:\n"
        "  using: composite\n"
        "  steps:\n"
        "    - { id: s1, shell: bash, run: \"sleep 50\\noutput o=${{ inputs.word }}\" }\n"
        "    - { id: in, uses: ./nested, with: { n: '${{ inputs.word }}!' } }\n"
        "    - { if: \"inputs.word == 'hang'\", shell: bash, run: \"trap INT\\nlinger 100\" }\n"
        "    - { shell: bash, run: sleep 5 }\n"
        "    - { if: always(), shell: bash, run: sleep 10 }\n",
        "./nested",
        "name: nested\n"
        "inputs: { n: { required: true } }\n"
        "outputs: { n: { value: '${{ steps.x.outputs.n }}' } }\n"
        "runs: { using: composite, steps: [ { id: x, shell: sh, run: \"sleep 5\\noutput n=${{ inputs.n }}\" } ] }\n",
        NULL,
};

static const Scenario scenario_actions = {
        .name = "JavaScript and composite actions, a cancel inside a composite action",
        .yaml = "jobs:\n"
                "  a:\n"
                "    steps:\n"
                "      - { id: js, uses: someone/js@v1, with: { who: x } }\n"
                "      - { id: comp, uses: ./comp, with: { word: w } }\n"
                "      - run: \"sleep 10\\noutput z=${{ steps.comp.outputs.o }}\"\n"
                "  b:\n"
                "    steps:\n"
                "      - { uses: ./comp, with: { word: hang } }\n"
                "      - { if: always(), uses: someone/js@v1 }\n",
        .scope_delay = 3,
        .clean_delay = 10,
        .cancel_at = 500,
        .force_at = NEVER,
        .actions = scenario_actions_texts,
        .required = SIT_RUNNING | SIT_INTERRUPT | SIT_COMPOSITE | SIT_POST | SIT_OUTPUTS | SIT_JOB_CANCELLED,
};

static void test_resume_actions(void **state) {
        check_resume(&scenario_actions);
}

static void test_resume_files(void **state) {
        check_resume(&scenario_files);
}

static void test_resume_cancel(void **state) {
        check_resume(&scenario_cancel);
}

static void test_resume_queued(void **state) {
        check_resume(&scenario_queued);
}

static void test_resume_force(void **state) {
        check_resume(&scenario_force);
}

static void test_resume_force_now(void **state) {
        check_resume(&scenario_force_now);
}

static void test_resume_job_timeout(void **state) {
        check_resume(&scenario_job_timeout);
}

/* ---- refused states ---- */

/* The state of the scenario after n events, as JSON; n SIZE_MAX: once main's second step is being
 * interrupted (scenario_cancel). */
static json_object *state_after(const Scenario *sc, size_t n) {
        _cleanup_free_ char *text = NULL;
        Sim *s = sim_begin(sc);
        json_object *o;

        if (n == SIZE_MAX)
                while (s->run->jobs[0].steps[1].cancel_stage != RUN_CANCEL_INTERRUPT)
                        assert_true(sim_step(s));
        for (size_t i = 0; n != SIZE_MAX && i < n; i++)
                assert_true(sim_step(s));
        text = state_text(s->run);
        o = json_tokener_parse(text);
        assert_non_null(o);
        sim_free(s);
        return o;
}

/* Sets the member at path ("jobs.0.steps.1.unit") to the JSON value text, or removes it (NULL). */
static void mutate(json_object *root, const char *path, const char *value) {
        _cleanup_free_ char *copy = strdup(path);
        char *key = copy, *dot;
        json_object *o = root;

        while ((dot = strchr(key, '.'))) {
                *dot = 0;
                o = json_object_is_type(o, json_type_array) ? json_object_array_get_idx(o, atoi(key))
                                                            : json_object_object_get(o, key);
                assert_non_null(o);
                key = dot + 1;
        }
        if (!value) {
                json_object_object_del(o, key);
                return;
        }
        json_object *v = streq(value, "null") ? NULL : json_tokener_parse(value);
        assert_true(v || streq(value, "null"));
        if (json_object_is_type(o, json_type_array))
                assert_int_equal(json_object_array_put_idx(o, (size_t) atoi(key), v), 0);
        else
                assert_int_equal(json_object_object_add(o, key, v), 0);
}

static bool has_action(const RunActions *a, RunActionType type, size_t job) {
        for (size_t i = 0; i < a->n; i++)
                if (a->actions[i].type == type && a->actions[i].job == job)
                        return true;
        return false;
}

/* Concurrency groups: who waits and who holds survives a restart (README, "Concurrency groups"). */
static void test_resume_groups(void **state) {
        static const char yaml[] = "concurrency:\n"
                                   "  group: Deploy-${{ github.run_id }}\n"
                                   "  cancel-in-progress: ${{ github.run_id == '7' }}\n"
                                   "jobs:\n"
                                   "  a: { steps: [ { run: echo } ] }\n"
                                   "  b:\n"
                                   "    needs: a\n"
                                   "    concurrency: b-${{ needs.a.result }}\n"
                                   "    steps: [ { run: echo } ]\n";
        _cleanup_(run_freep) Run *run = NULL, *back = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        RunActions a = {};
        RunTime t = { .realtime = 1000, .monotonic = 1000 };

        assert_int_equal(run_new(7, "test.yml", load(yaml), "/work/r7", NULL, NULL, t, &run), 0);
        assert_int_equal(run_advance(run, t, NULL, &a), 0);
        /* the run asks for its group and starts nothing */
        assert_true(has_action(&a, RUN_ACTION_ACQUIRE_GROUP, SIZE_MAX));
        assert_false(has_action(&a, RUN_ACTION_START_STEP, 0));
        run_actions_done(&a);
        assert_string_equal(run->group.name, "Deploy-7");
        assert_true(run->group.cancel_in_progress);
        assert_int_equal(run->group.state, RUN_GROUP_PENDING);

        /* pending, restarted: still pending, in the same group */
        before = state_text(run);
        assert_non_null(strstr(before,
                "\"concurrency\":{\"group\":\"Deploy-7\",\"cancel_in_progress\":true,\"state\":\"pending\"}"));
        back = restore(before, yaml);
        after = state_text(back);
        assert_string_equal(before, after);
        assert_int_equal(back->group.state, RUN_GROUP_PENDING);
        assert_int_equal(run_advance(back, t, NULL, &a), 0);
        assert_int_equal(a.n, 0); /* asked already: the agent asks again from the state */
        before = mfree(before);
        after = mfree(after);
        back = run_free(back);

        /* held: job a starts; job b, once a is done, asks for its own group */
        assert_int_equal(run_group_acquired(run, SIZE_MAX, t, &a), 0);
        assert_int_equal(run_advance(run, t, NULL, &a), 0);
        assert_true(has_action(&a, RUN_ACTION_START_STEP, 0));
        run_actions_done(&a);
        assert_int_equal(run_step_started(run, 0, 0, t, &a), 0);
        assert_int_equal(run_step_exited(run, 0, 0, &(RunStepResult){ .exit_code = 0 }, t, &a), 0);
        assert_int_equal(run_advance(run, t, NULL, &a), 0);
        assert_true(has_action(&a, RUN_ACTION_CLEAN_JOB, 0));
        run_actions_done(&a);
        assert_int_equal(run_job_cleaned(run, 0, t, &a), 0);
        assert_int_equal(run_advance(run, t, NULL, &a), 0);
        assert_true(has_action(&a, RUN_ACTION_ACQUIRE_GROUP, 1));
        assert_false(has_action(&a, RUN_ACTION_START_STEP, 1));
        run_actions_done(&a);
        assert_string_equal(run->jobs[1].group.name, "b-success");
        assert_int_equal(run->jobs[1].status, RUN_STATUS_QUEUED);

        before = state_text(run);
        assert_non_null(strstr(before, "\"state\":\"held\""));
        assert_non_null(strstr(before,
                "\"concurrency\":{\"group\":\"b-success\",\"cancel_in_progress\":false,\"state\":\"pending\"}"));
        back = restore(before, yaml);
        after = state_text(back);
        assert_string_equal(before, after);
        assert_int_equal(back->group.state, RUN_GROUP_HELD);
        assert_int_equal(back->jobs[1].group.state, RUN_GROUP_PENDING);

        /* replaced while pending: cancelled with GitHub's message, nothing started */
        assert_int_equal(run_group_replaced(back, 1, "9", t, &a), 0);
        assert_int_equal(run_advance(back, t, NULL, &a), 0);
        run_actions_done(&a);
        assert_int_equal(back->jobs[1].conclusion, RUN_CONCLUSION_CANCELLED);
        assert_int_equal(back->jobs[1].cancel_reason, RUN_CANCEL_REASON_CONCURRENCY);
        assert_string_equal(back->jobs[1].cancel_cause, "9");
        assert_string_equal(back->jobs[1].message,
                "Canceling since a higher priority waiting request for 'b-success' exists");
        assert_int_equal(back->jobs[1].started_at, 0);
        assert_int_equal(back->status, RUN_STATUS_COMPLETED);
        assert_int_equal(back->conclusion, RUN_CONCLUSION_CANCELLED);

        /* a group where the workflow has none is refused */
        {
                _cleanup_(json_object_putp) json_object *o = json_tokener_parse(before);
                _cleanup_free_ char *error = NULL;
                Run *r = NULL;

                assert_int_equal(
                        run_state_from_json(o,
                                load("jobs:\n  a: { steps: [ { run: echo } ] }\n"
                                     "  b: { needs: a, concurrency: x, steps: [ { run: echo } ] }\n"),
                                &r, &error),
                        -EBADMSG);
                assert_string_equal(error, "concurrency: the workflow has none here");
        }
}

/* A matrix with ${{ }}: the instances its expansion appended come back as they were. */
static void test_resume_expression_matrix(void **state) {
        static const char yaml[] = "jobs:\n"
                                   "  plan:\n"
                                   "    outputs: { list: \"${{ steps.p.outputs.list }}\" }\n"
                                   "    steps: [ { id: p, run: echo } ]\n"
                                   "  m:\n"
                                   "    needs: plan\n"
                                   "    strategy: { matrix: \"${{ fromJSON(needs.plan.outputs.list) }}\" }\n"
                                   "    steps: [ { run: echo } ]\n"
                                   "  z: { steps: [ { run: echo } ] }\n";
        static const char out[] = "list={\"k\": [\"a\", \"b\", \"c\"]}\n";
        _cleanup_(run_freep) Run *run = NULL, *back = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL, *unit = NULL;
        RunActions a = {};
        RunTime t = { .realtime = 1000, .monotonic = 1000 };

        assert_int_equal(run_new(7, "test.yml", load(yaml), "/work/r7", NULL, NULL, t, &run), 0);
        assert_int_equal(run_advance(run, t, NULL, &a), 0);
        run_actions_done(&a);
        assert_int_equal(run->n_jobs, 3);
        assert_int_equal(run_step_started(run, 0, 0, t, &a), 0);
        assert_int_equal(
                run_step_exited(run, 0, 0,
                        &(RunStepResult){ .exit_code = 0, .output = out, .output_len = strlen(out) }, t, &a),
                0);
        assert_int_equal(run_advance(run, t, NULL, &a), 0);
        run_actions_done(&a);
        assert_int_equal(run_job_cleaned(run, 0, t, &a), 0);
        assert_int_equal(run_advance(run, t, NULL, &a), 0);
        assert_true(has_action(&a, RUN_ACTION_JOBS_ADDED, 3));
        run_actions_done(&a);
        assert_int_equal(run->n_jobs, 5);
        assert_string_equal(run->jobs[1].name, "m (a)");
        assert_string_equal(run->jobs[3].name, "m (b)");
        assert_string_equal(run->jobs[4].name, "m (c)");
        /* the unit names of the appended instances follow the run's jobs */
        assert_int_equal(run_step_unit_name(run, 4, 0, &unit), 0);
        assert_string_equal(unit, "runner-r7-j5-s1.scope");

        before = state_text(run);
        back = restore(before, yaml);
        after = state_text(back);
        assert_string_equal(before, after);
        assert_int_equal(back->n_jobs, 5);
        assert_int_equal(back->jobs[4].instance, 3);
        assert_non_null(back->jobs[4].matrix);
        free(after);
        after = status_text(back);
        free(before);
        before = status_text(run);
        assert_string_equal(before, after);

        /* an appended instance of a job without such a matrix is refused */
        {
                _cleanup_(json_object_putp)
                        json_object *o = json_tokener_parse(before = (free(before), state_text(run)));
                json_object *jobs, *id;
                _cleanup_free_ char *error = NULL;
                Run *r = NULL;

                assert_true(json_object_object_get_ex(o, "jobs", &jobs));
                assert_true(json_object_object_get_ex(json_object_array_get_idx(jobs, 4), "id", &id));
                json_object_set_string(id, "z");
                assert_int_equal(run_state_from_json(o, load(yaml), &r, &error), -EBADMSG);
                assert_string_equal(
                        error, "jobs[4].id: not a job of the workflow, or out of its order: 'z'");
        }
}

static void test_refused(void **state) {
        static const struct {
                const char *path, *value, *error;
        } table[] = {
                { "version", "3", "version: unsupported version 3 (this agent reads 1 to 2)" },
                { "version", "\"1\"", "version: expected an integer, not a string" },
                { "version", NULL, "version: missing" },
                { "jobs", NULL, "jobs: missing" },
                { "jobs", "[]", "jobs: no instance of job main" },
                { "jobs.0.instance", "2", "jobs[0].instance: 2, but this is instance 1 of job main" },
                { "jobs.0.instance", NULL, "jobs[0].instance: missing" },
                { "jobs.1.number", "7", "jobs[1].number: 7, but this is job 2 of the run" },
                { "jobs.1.id", "\"side\"",
                        "jobs[2].id: not a job of the workflow, or out of its order: 'plain'" },
                { "jobs.3.id", "\"plain\"", "jobs: no instance of job side" },
                { "jobs.3.id", "7", "jobs[3].id: missing, or not a string" },
                { "jobs.0.steps", "[]", "jobs[0].steps: 0 steps, but the workflow's job has 4" },
                { "jobs.0.steps.1.cancel_stage", "\"x\"",
                        "jobs[0].steps[1].cancel_stage: unknown value 'x'" },
                { "jobs.0.steps.1.cancel_stage", "\"\\u001b]0;x\\u0007\\n\"",
                        "jobs[0].steps[1].cancel_stage: unknown value '\\x1b]0;x\\x07\\n'" },
                { "jobs.0.steps.1.cancel_stage", "\"none\"",
                        "jobs[0].steps[1].cancel_stage: none in a step whose cancellation began" },
                { "jobs.0.steps.1.cancel_stage", "7",
                        "jobs[0].steps[1].cancel_stage: expected a string, not an integer" },
                { "jobs.0.steps.1.timer", "-5", "jobs[0].steps[1].timer: negative" },
                { "jobs.0.steps.1.timer", "1.5",
                        "jobs[0].steps[1].timer: expected an integer, not a number" },
                { "jobs.0.steps.1.exit_code", "300",
                        "jobs[0].steps[1].exit_code: 300 is out of range [-1, 255]" },
                { "jobs.0.steps.1.unit", "\"ssh.service\"",
                        "jobs[0].steps[1].unit: not the step's unit: 'ssh.service'" },
                { "jobs.0.steps.1.unit", "null", "jobs[0].steps[1].unit: null in a running step" },
                { "jobs.0.steps.1.status", "\"completed\"",
                        "jobs[0].steps[1].outcome: null in a completed step" },
                { "jobs.0.steps.2.status", "\"in_progress\"",
                        "jobs[0].steps[2].unit: null in a running step" },
                { "jobs.0.steps.0.timer", "123", "jobs[0].steps[0].timer: armed in a completed step" },
                { "jobs.0.steps.0.conclusion", "\"failure\"",
                        "jobs[0].steps[0].conclusion: does not follow from the outcome" },
                { "jobs.0.steps.0.bogus", "1", "jobs[0].steps[0].bogus: unknown key" },
                { "jobs.0.steps.0.id", "\"other\"",
                        "jobs[0].steps[0].id: not this step of the workflow: 'other'" },
                { "jobs.0.steps.0.outputs", "[]",
                        "jobs[0].steps[0].outputs: expected an object or null, not an array" },
                { "jobs.0.steps.0.outputs", "{\"a\":1}", "jobs[0].steps[0].outputs: not a string: 'a'" },
                { "jobs.0.steps.0", "5", "jobs[0].steps[0]: expected an object" },
                { "jobs.0.phase", "\"running\"", "jobs[0].phase: unknown value 'running'" },
                { "jobs.0.phase", "\"done\"", "jobs[0].status: in_progress in phase done" },
                { "jobs.0.phase", "\"stepping\"",
                        "jobs[0].steps[1].status: in_progress in a job in phase stepping" },
                { "jobs.0.next_step", "99", "jobs[0].next_step: 99 is beyond the job's 4 steps" },
                { "jobs.0.local_status", "\"skipped\"", "jobs[0].local_status: unknown value 'skipped'" },
                { "jobs.0.env", "{\"A\":\"1\",\"a\":\"2\"}", "jobs[0].env: duplicate key 'a'" },
                { "jobs.0.env", "null", "jobs[0].env: null in a running job" },
                { "jobs.0.path", "[1]", "jobs[0].path: expected strings, not an integer" },
                { "jobs.1.timer", "5", "jobs[1].timer: armed in a job that is not running" },
                { "jobs.1.env", "{}", "jobs[1].phase: waiting, but the job was started" },
                { "id", "\"7\"", "id: expected an integer, not a string" },
                { "github", "\"x\"", "github: expected an object, not a string" },
                { "cancelled_by", "null", "cancelled_by: contradicts cancel_requested" },
                { "cancel_requested", "false", "cancelled_by: contradicts cancel_requested" },
                { "force_terminated", "true",
                        "jobs[0].steps[1].cancel_stage: interrupt after the force deadline" },
                { "cancel.force_usec", NULL, "cancel.force_usec: missing" },
                { "cancel.extra", "1", "cancel.extra: unknown key" },
                { "cancel.a\nb", "1", "cancel.a\\nb: unknown key" },
                { "status", "\"completed\"", "conclusion: contradicts the status completed" },
                { "source", "\"a\\u0000b\"", "source: contains a NUL byte" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                /* scenario_cancel after the request: main's step 2 is being interrupted. */
                _cleanup_(json_object_putp) json_object *o = state_after(&scenario_cancel, SIZE_MAX);
                _cleanup_free_ char *error = NULL;
                Run *run = NULL;
                int r;

                if (i == 0) {
                        _cleanup_free_ char *t = json_text(o);
                        assert_non_null(strstr(t, "\"cancel_stage\":\"interrupt\""));
                }
                mutate(o, table[i].path, table[i].value);
                r = run_state_from_json(o, load(scenario_cancel.yaml), &run, &error);
                if (r != -EBADMSG || !streq(strna(error), table[i].error))
                        fail_msg("%s = %s: got %d \"%s\", expected \"%s\"", table[i].path,
                                strna(table[i].value), r, strna(error), table[i].error);
                assert_null(run);
        }
}

static void test_not_an_object(void **state) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_array();
        _cleanup_free_ char *error = NULL;
        Run *run = NULL;

        assert_int_equal(run_state_from_json(o, load(scenario_cancel.yaml), &run, &error), -EBADMSG);
        assert_string_equal(error, "state: expected an object");
}

/* The agent's own keys beside ours are left alone. */
static void test_foreign_keys(void **state) {
        _cleanup_(json_object_putp) json_object *o = state_after(&scenario_cancel, SIZE_MAX);
        _cleanup_free_ char *before = json_text(o), *after = NULL, *error = NULL;
        Run *run = NULL;

        assert_int_equal(json_object_object_add(o, "boot_id", json_object_new_string("0123")), 0);
        assert_int_equal(run_state_from_json(o, load(scenario_cancel.yaml), &run, &error), 0);
        after = state_text(run);
        assert_string_equal(before, after);
        run_free(run);
}

static void set_string(ExprValue *o, const char *key, const char *value) {
        ExprValue *v = expr_value_new_stringz(value);

        assert_non_null(v);
        assert_int_equal(expr_object_set(o, key, strlen(key), v), 0);
        expr_value_unref(v);
}

/* A job's env and a step's outputs holding a secret are written masked; the text kept beside the
 * secrets puts the real values back into the run read from that state. */
static void test_unmasked(void **state) {
        _cleanup_(json_object_putp) json_object *o = state_after(&scenario_files, 12), *masked = NULL;
        _cleanup_free_ char *env_text = NULL, *out_text = NULL, *none = NULL, *error = NULL,
                            *masked_text = NULL;
        char *secrets[] = { (char *) "TOKEN=s3cr3t-Vq", NULL };
        Run *run = NULL, *again = NULL;
        ExprValue *env, *out;
        const ExprValue *v;

        assert_int_equal(run_state_from_json(o, load(scenario_files.yaml), &run, &error), 0);
        assert_non_null(run->jobs[0].env);
        assert_int_equal(run_set_secrets(run, secrets), 0);
        env = expr_value_new_object();
        out = expr_value_new_object();
        assert_non_null(env);
        assert_non_null(out);
        set_string(env, "JOBV", "pre-s3cr3t-Vq-post");
        set_string(env, "PLAIN", "p");
        set_string(out, "tok", "s3cr3t-Vq");
        expr_value_unref(run->jobs[0].env);
        run->jobs[0].env = env;
        expr_value_unref(run->jobs[0].steps[0].outputs);
        run->jobs[0].steps[0].outputs = out;

        assert_int_equal(run_state_unmasked_text(run, 0, RUN_STATE_JOB_ENV, &env_text), 0);
        assert_non_null(env_text);
        assert_int_equal(run_state_unmasked_text(run, 0, 0, &out_text), 0);
        assert_non_null(out_text);
        assert_int_equal(run_state_unmasked_text(run, 0, 1, &none), 0);
        assert_null(none); /* nothing to mask there: the state holds it as it is */
        assert_int_equal(run_state_unmasked_text(run, 5, 0, &none), -EINVAL);

        /* The state has *** only; the secret is in none of it. */
        assert_int_equal(run_state_to_json(run, &masked), 0);
        masked_text = strdup(json_object_to_json_string_ext(masked, JSON_C_TO_STRING_PLAIN));
        assert_null(strstr(masked_text, "s3cr3t"));
        assert_non_null(strstr(masked_text, "pre-***-post"));

        assert_int_equal(run_state_from_json(masked, load(scenario_files.yaml), &again, &error), 0);
        v = expr_object_getz(again->jobs[0].env, "JOBV");
        assert_string_equal(v->string.s, "pre-***-post");
        assert_int_equal(run_state_unmask(again, 0, RUN_STATE_JOB_ENV, env_text), 1);
        assert_int_equal(run_state_unmask(again, 0, 0, out_text), 1);
        v = expr_object_getz(again->jobs[0].env, "JOBV");
        assert_string_equal(v->string.s, "pre-s3cr3t-Vq-post");
        v = expr_object_getz(again->jobs[0].steps[0].outputs, "tok");
        assert_string_equal(v->string.s, "s3cr3t-Vq");

        /* A job the state does not have yet (the store is written first, and a matrix from an
         * expression appends jobs): skipped, nothing changes. */
        assert_int_equal(run_state_unmask(again, 5, RUN_STATE_JOB_ENV, env_text), 0);
        /* Refused: not this run's place, not an object, not strings, a NUL in an environment. */
        assert_int_equal(run_state_unmask(again, 0, 99, out_text), -EBADMSG);
        assert_int_equal(run_state_unmask(again, 0, RUN_STATE_JOB_ENV, "[1]"), -EBADMSG);
        assert_int_equal(run_state_unmask(again, 0, RUN_STATE_JOB_ENV, "{\"A\":1}"), -EBADMSG);
        assert_int_equal(run_state_unmask(again, 0, RUN_STATE_JOB_ENV, "{\"A\":\"x\\u0000y\"}"), -EBADMSG);
        assert_int_equal(run_state_unmask(again, 0, 0, "{\"A\""), -EBADMSG);
        /* A place the state has no value for yet (saved before it was set): left alone. */
        expr_value_unref(again->jobs[0].steps[1].outputs);
        again->jobs[0].steps[1].outputs = NULL;
        assert_int_equal(run_state_unmask(again, 0, 1, out_text), 0);
        assert_null(again->jobs[0].steps[1].outputs);

        /* The state a JavaScript action saved (GITHUB_STATE): kept the same way, an environment. */
        {
                _cleanup_free_ char *state_text = NULL;
                ExprValue *st = expr_value_new_object();

                assert_non_null(st);
                assert_int_equal(run_set_secrets(again, secrets), 0);
                set_string(st, "token", "s3cr3t-Vq");
                again->jobs[0].steps[0].state = st;
                assert_int_equal(
                        run_state_unmasked_text(again, 0, 0 | RUN_STATE_STEP_STATE, &state_text), 0);
                assert_non_null(state_text);
                set_string(st, "token", "***");
                assert_int_equal(run_state_unmask(again, 0, 0 | RUN_STATE_STEP_STATE, state_text), 1);
                v = expr_object_getz(again->jobs[0].steps[0].state, "token");
                assert_string_equal(v->string.s, "s3cr3t-Vq");
                v = expr_object_getz(again->jobs[0].steps[0].outputs, "tok");
                assert_string_equal(v->string.s, "s3cr3t-Vq"); /* the outputs are another place */
                assert_int_equal(
                        run_state_unmask(again, 0, 0 | RUN_STATE_STEP_STATE, "{\"A\":\"x\\u0000y\"}"),
                        -EBADMSG);
                assert_int_equal(
                        run_state_unmask(again, 0, 99 | RUN_STATE_STEP_STATE, state_text), -EBADMSG);
        }
        run_free(again);
        run_free(run);
}

/* A cut text never parses into a state that is accepted as something else. */
static void test_truncated(void **state) {
        _cleanup_(json_object_putp) json_object *o = state_after(&scenario_files, 12);
        _cleanup_free_ char *text = json_text(o);
        size_t len = strlen(text);

        for (size_t cut = 0; cut < len; cut += 7) {
                _cleanup_(json_object_putp) json_object *t = NULL;
                _cleanup_free_ char *part = strndup(text, cut), *error = NULL;
                Run *run = NULL;

                t = json_tokener_parse(part);
                if (!t)
                        continue;
                assert_int_equal(run_state_from_json(t, load(scenario_files.yaml), &run, &error), -EBADMSG);
                assert_non_null(error);
        }
}

/* The wrong workflow: another job count, or the same count with other ids. */
static void test_other_workflow(void **state) {
        _cleanup_(json_object_putp) json_object *o = state_after(&scenario_cancel, SIZE_MAX);
        _cleanup_free_ char *e1 = NULL, *e2 = NULL;
        Run *run = NULL;

        assert_int_equal(run_state_from_json(o, load(scenario_queued.yaml), &run, &e1), -EBADMSG);
        assert_string_equal(e1, "jobs[0].id: not a job of the workflow, or out of its order: 'main'");
        assert_int_equal(run_state_from_json(o, load(scenario_force.yaml), &run, &e2), -EBADMSG);
        assert_string_equal(e2, "jobs[0].id: not a job of the workflow, or out of its order: 'main'");
}

/* A state an agent of the previous version wrote (version 1: one job per definition, without instance
 * and number) is read as the same run, so that an upgrade takes running workflows over. */
static void test_version_1(void **state) {
        static const Scenario *const scenarios[] = { &scenario_files, &scenario_cancel, &scenario_queued };

        for (size_t k = 0; k < ELEMENTSOF(scenarios); k++)
                for (size_t n = 0; n < 12; n += 3) {
                        _cleanup_(json_object_putp) json_object *o = state_after(scenarios[k], n);
                        _cleanup_free_ char *now = json_text(o), *again = NULL, *error = NULL;
                        json_object *jobs;
                        Run *run = NULL;

                        mutate(o, "version", "1");
                        assert_true(json_object_object_get_ex(o, "jobs", &jobs));
                        for (size_t i = 0; i < json_object_array_length(jobs); i++) {
                                json_object_object_del(json_object_array_get_idx(jobs, i), "instance");
                                json_object_object_del(json_object_array_get_idx(jobs, i), "number");
                        }
                        if (run_state_from_json(o, load(scenarios[k]->yaml), &run, &error) < 0)
                                fail_msg("%s", strna(error));
                        again = state_text(run);
                        assert_same_text("version 1 read back", now, again);
                        run_free(run);
                }
}

/* Writes the states of the scenarios into the fuzz corpus: RUN_STATE_CORPUS=DIR test-run-state */
static void test_corpus(void **state) {
        const char *dir = getenv("RUN_STATE_CORPUS");
        Sim *s;

        if (!dir)
                skip();
        s = sim_begin(&scenario_cancel);
        for (size_t n = 0;; n++) {
                _cleanup_free_ char *path = NULL, *text = NULL;
                FILE *f;

                if (n % 3 == 0) {
                        text = state_text(s->run);
                        assert_true(asprintf(&path, "%s/state-%02zu.json", dir, n) > 0);
                        f = fopen(path, "we");
                        assert_non_null(f);
                        fputs(text, f);
                        assert_int_equal(fclose(f), 0);
                }
                if (!sim_step(s))
                        break;
        }
        sim_free(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resume_files),
                cmocka_unit_test(test_resume_actions),
                cmocka_unit_test(test_resume_cancel),
                cmocka_unit_test(test_resume_queued),
                cmocka_unit_test(test_resume_force),
                cmocka_unit_test(test_resume_force_now),
                cmocka_unit_test(test_resume_job_timeout),
                cmocka_unit_test(test_resume_groups),
                cmocka_unit_test(test_resume_expression_matrix),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_not_an_object),
                cmocka_unit_test(test_foreign_keys),
                cmocka_unit_test(test_unmasked),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_other_workflow),
                cmocka_unit_test(test_version_1),
        };

        if (getenv("RUN_STATE_CORPUS")) {
                const struct CMUnitTest corpus[] = { cmocka_unit_test(test_corpus) };
                return cmocka_run_group_tests(corpus, NULL, NULL);
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
