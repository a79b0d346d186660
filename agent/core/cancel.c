/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The cancellation of the README (Cancellation), as part of the run state machine: the coordinator's
 * side (the request, job conditions, cancellation messages, the force deadline) and the executor's (step
 * conditions and the escalation of one step: SIGINT, SIGTERM after InterruptTimeoutSec, the scope's
 * cgroup.kill after TerminateTimeoutSec and the wait for populated 0), plus timeout-minutes of steps and
 * jobs, which cancel through the same paths. Pure: the times come with the events, the effects go out as
 * actions. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "macro.h"
#include "run-internal.h"

static const char *const event_table[_RUN_EVENT_MAX] = {
        [RUN_EVENT_CANCEL_REQUESTED] = "cancel-requested",
        [RUN_EVENT_JOB_CONDITION] = "job-condition",
        [RUN_EVENT_JOB_CANCELLED] = "job-cancelled",
        [RUN_EVENT_STEP_CONDITION] = "step-condition",
        [RUN_EVENT_STEP_TIMED_OUT] = "step-timed-out",
        [RUN_EVENT_FORCE] = "force",
        [RUN_EVENT_OUTPUT_DROPPED] = "output-dropped",
};

const char *run_event_to_string(RunEvent e) {
        return e >= 0 && e < _RUN_EVENT_MAX ? event_table[e] : NULL;
}

static const char *const cancel_reason_table[_RUN_CANCEL_REASON_MAX] = {
        [RUN_CANCEL_REASON_USER] = "user",
        [RUN_CANCEL_REASON_FORCE] = "force",
        [RUN_CANCEL_REASON_DEADLINE] = "deadline",
        [RUN_CANCEL_REASON_JOB_TIMEOUT] = "job-timeout",
        [RUN_CANCEL_REASON_STEP_TIMEOUT] = "step-timeout",
        [RUN_CANCEL_REASON_FAIL_FAST] = "fail-fast",
        [RUN_CANCEL_REASON_AGENT_STOP] = "agent-stop",
        [RUN_CANCEL_REASON_CONCURRENCY] = "concurrency",
};

const char *run_cancel_reason_to_string(RunCancelReason r) {
        return r >= 0 && r < _RUN_CANCEL_REASON_MAX ? cancel_reason_table[r] : NULL;
}

RunCancelReason run_cancel_reason_from_string(const char *s) {
        for (int i = 0; s && i < _RUN_CANCEL_REASON_MAX; i++)
                if (cancel_reason_table[i] && streq(cancel_reason_table[i], s))
                        return (RunCancelReason) i;
        return RUN_CANCEL_REASON_NONE;
}

const char *run_cancel_stage_to_string(RunCancelStage s) {
        static const char *const table[] = {
                [RUN_CANCEL_NONE] = "none",
                [RUN_CANCEL_PENDING] = "pending",
                [RUN_CANCEL_INTERRUPT] = "interrupt",
                [RUN_CANCEL_TERMINATE] = "terminate",
                [RUN_CANCEL_KILL] = "kill",
                [RUN_CANCEL_FORCE] = "force",
        };
        return s >= 0 && s < (RunCancelStage) ELEMENTSOF(table) ? table[s] : NULL;
}

static int replace_message(char **where, const char *text) {
        char *m = strdup(text);

        if (!m)
                return -ENOMEM;
        free(*where);
        *where = m;
        return 0;
}

static double minutes(uint64_t usec) {
        return (double) usec / (60.0 * USEC_PER_SEC);
}

/* ---- one step: its escalation (README, Cancellation, step 2) ---- */

/* The next stage is due timeout after base: the time this stage was due, not when it was carried out,
 * so that a stage carried out late (the agent was restarting) leaves the schedule as it was
 * (README, "Restarts"). */
static int step_signal(Run *run, size_t job, size_t step, int sig, RunCancelStage stage, uint64_t base,
        uint64_t timeout, RunTime now, RunActions *a) {
        RunStep *s = &run->jobs[job].steps[step];
        int r;

        s->cancel_stage = stage;
        r = run_action_push(a,
                &(RunAction){ .type = RUN_ACTION_SIGNAL_STEP,
                        .job = job,
                        .step = step,
                        .signal = sig,
                        .usec = now.monotonic - s->cancel_began });
        if (r < 0)
                return r;
        run_timer_start(&s->timer, base, timeout);
        return 0;
}

static int step_kill(Run *run, size_t job, size_t step, RunTime now, RunActions *a) {
        RunStep *s = &run->jobs[job].steps[step];

        s->cancel_stage = RUN_CANCEL_KILL;
        s->timer = 0;
        return run_action_push(a,
                &(RunAction){ .type = RUN_ACTION_KILL_STEP,
                        .job = job,
                        .step = step,
                        .usec = now.monotonic - s->cancel_began });
}

/* The step's escalation begins. A step whose entry process has not started yet (its scope is being created,
 * its shim held) is not signalled: it is told not to start, and if it starts anyway (the shim was released
 * already) the escalation begins in cancel_step_started(). */
static int step_cancel(Run *run, size_t job, size_t step, bool timed_out, RunTime now, RunActions *a) {
        RunStep *s = &run->jobs[job].steps[step];

        if (s->cancel_stage != RUN_CANCEL_NONE)
                return 0;
        s->timed_out = timed_out;
        s->cancel_began = now.monotonic;
        if (!s->entry_running) {
                s->cancel_stage = RUN_CANCEL_PENDING;
                return run_action_push(
                        a, &(RunAction){ .type = RUN_ACTION_ABORT_STEP, .job = job, .step = step });
        }
        return step_signal(run, job, step, SIGINT, RUN_CANCEL_INTERRUPT, now.monotonic,
                run->cancel.interrupt_usec, now, a);
}

int cancel_step_started(Run *run, size_t job, size_t step, RunTime now, RunActions *a) {
        RunStep *s = &run->jobs[job].steps[step];

        if (s->cancel_stage != RUN_CANCEL_PENDING)
                return 0;
        /* Started after the run's slice was killed: it is killed where it stands. */
        if (run->force_terminated)
                return step_kill(run, job, step, now, a);
        return step_signal(run, job, step, SIGINT, RUN_CANCEL_INTERRUPT, now.monotonic,
                run->cancel.interrupt_usec, now, a);
}

int cancel_step_ended(Run *run, size_t job, size_t step, RunTime now, RunActions *a) {
        RunStep *s = &run->jobs[job].steps[step];
        char text[128];
        int r;

        /* After the kill the step is over only when its scope is empty too. */
        if (s->cancel_stage == RUN_CANCEL_KILL && !s->emptied) {
                s->exited = true;
                return 0;
        }
        if (s->timed_out)
                snprintf(text, sizeof(text), "The step exceeded its timeout of %g minutes.",
                        minutes(s->def->timeout_usec));
        else
                snprintf(text, sizeof(text), "%s",
                        s->cancel_stage == RUN_CANCEL_PENDING
                                ? "The operation was canceled before it started."
                                : "The operation was canceled.");
        r = replace_message(&s->message, text);
        if (r < 0)
                return r;
        return run_step_finish(
                run, job, step, s->timed_out ? RUN_CONCLUSION_FAILURE : RUN_CONCLUSION_CANCELLED, now, a);
}

int run_step_emptied(Run *run, size_t job, size_t step, RunTime now, RunActions *actions) {
        RunStep *s = run_running_step(run, job, step);

        if (!s || s->cancel_stage != RUN_CANCEL_KILL || s->emptied)
                return -ESTALE;
        s->emptied = true;
        if (!s->exited)
                return 0;
        return cancel_step_ended(run, job, step, now, actions);
}

/* ---- one job: its if: and the cancellation message (README, Cancellation, steps 1 to 3) ---- */

/* The executor re-evaluates the if: of the job's running step; a false one cancels it. The steps not
 * started yet are evaluated when they become ready, as always (job_next_step()). */
static int job_reevaluate_running_step(Run *run, size_t job, RunTime now, RunActions *a) {
        RunJob *j = &run->jobs[job];
        _cleanup_free_ char *error = NULL;
        size_t step;
        bool pass;
        int r;

        if (j->phase != RUN_JOB_STEP || j->next_step == 0)
                return 0;
        step = j->next_step - 1;
        if (j->steps[step].cancel_stage != RUN_CANCEL_NONE)
                return 0;
        r = run_eval_step_condition(run, job, step, &pass, &error);
        if (r < 0)
                return r;
        r = run_event_push(a, RUN_EVENT_STEP_CONDITION, job, step,
                run_step_condition_text(j, &j->steps[step]), pass, error);
        if (r < 0)
                return r;
        return pass ? 0 : step_cancel(run, job, step, false, now, a);
}

/* What a job is cancelled for, and by what, for its status and its journal events. */
typedef struct CancelWhy {
        RunCancelReason reason;
        const char *cause; /* NULL: nothing to name */
        const char *text;  /* the cancellation message */
} CancelWhy;

static int job_note_cancel(RunJob *j, const CancelWhy *why) {
        if (j->cancel_reason != RUN_CANCEL_REASON_NONE)
                return 0;
        j->cancel_reason = why->reason;
        if (why->cause && !(j->cancel_cause = strdup(why->cause)))
                return -ENOMEM;
        /* GitHub shows the messages of fail-fast and concurrency on the job; the others are the run's or
         * the step's */
        return IN_SET(why->reason, RUN_CANCEL_REASON_FAIL_FAST, RUN_CANCEL_REASON_CONCURRENCY)
                ? replace_message(&j->message, why->text)
                : 0;
}

/* The cancellation message: the job's status becomes cancelled. */
static int job_cancel(Run *run, size_t job, const CancelWhy *why, RunTime now, RunActions *a) {
        RunJob *j = &run->jobs[job];
        int r;

        if (j->local_status == RUN_CONCLUSION_CANCELLED ||
                !IN_SET(j->phase, RUN_JOB_STEPPING, RUN_JOB_STEP, RUN_JOB_LOADING))
                return 0;
        j->local_status = RUN_CONCLUSION_CANCELLED;
        r = job_note_cancel(j, why);
        if (r < 0)
                return r;
        r = run_event_push(a, RUN_EVENT_JOB_CANCELLED, job, SIZE_MAX, NULL, false, why->text);
        if (r < 0)
                return r;
        return job_reevaluate_running_step(run, job, now, a);
}

/* A job that is queued for room under MaxParallelJobs is one GitHub would have queued: at the request
 * it is treated as a running one, and one that does not pass ends now, cancelled. */
static int job_cancel_queued(Run *run, size_t job, const CancelWhy *why, RunTime now, RunActions *a) {
        int r;

        run->jobs[job].local_status = RUN_CONCLUSION_CANCELLED;
        r = job_note_cancel(&run->jobs[job], why);
        if (r < 0)
                return r;
        r = run_event_push(a, RUN_EVENT_JOB_CANCELLED, job, SIZE_MAX, NULL, false, why->text);
        if (r < 0)
                return r;
        return run_job_conclude(run, job, RUN_CONCLUSION_CANCELLED, now, a);
}

/* At the request, the if: of each running or queued job is evaluated again with the job-level status
 * functions. Jobs still waiting for their needs are evaluated when those complete, as always. */
static int job_reevaluate(Run *run, size_t job, const CancelWhy *why, RunTime now, RunActions *a) {
        RunJob *j = &run->jobs[job];
        _cleanup_free_ char *error = NULL;
        bool pass, queued = j->phase == RUN_JOB_QUEUED;
        int r;

        if (!queued && !IN_SET(j->phase, RUN_JOB_STEPPING, RUN_JOB_STEP, RUN_JOB_LOADING))
                return 0;
        r = run_eval_job_condition(run, job, &pass, &error);
        if (r < 0)
                return r;
        r = run_event_push(a, RUN_EVENT_JOB_CONDITION, job, SIZE_MAX, run_condition_text(&j->def->condition),
                pass, error);
        if (r < 0)
                return r;
        if (queued)
                return pass ? 0 : job_cancel_queued(run, job, why, now, a);
        return pass ? job_reevaluate_running_step(run, job, now, a) : job_cancel(run, job, why, now, a);
}

int run_fail_fast(Run *run, size_t job, RunTime now, RunActions *a) {
        const RunJob *failed = &run->jobs[job];
        _cleanup_free_ char *why = NULL;
        size_t first, n;
        int r;

        /* GitHub's words, with the failed job's display name */
        if (asprintf(&why, "The strategy configuration was canceled because \"%s\" failed (fail-fast).",
                    failed->name ?: failed->def->id) < 0)
                return -ENOMEM;
        CancelWhy w = { RUN_CANCEL_REASON_FAIL_FAST, failed->name ?: failed->def->id, why };
        run_def_instances(run, failed->def_index, &first, &n);
        for (size_t i = first; i < run->n_jobs; i++) {
                RunJob *j = &run->jobs[i];

                if (j->def_index != failed->def_index || i == job || j->phase == RUN_JOB_DONE ||
                        j->fail_fast)
                        continue;
                j->fail_fast = true;
                if (j->phase == RUN_JOB_WAITING) {
                        /* noted now; its if: comes when its needs are done, with cancelled() true */
                        r = job_note_cancel(j, &w);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = job_reevaluate(run, i, &w, now, a);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- concurrency groups (README, "Concurrency groups") ---- */

int run_group_replaced_message(const char *group, char **ret) {
        /* GitHub's words */
        return asprintf(ret, "Canceling since a higher priority waiting request for '%s' exists", group) < 0
                ? -ENOMEM
                : 0;
}

int run_group_replaced(Run *run, size_t job, const char *cause, RunTime now, RunActions *a) {
        _cleanup_free_ char *message = NULL, *by = NULL;
        RunGroup *g = job == SIZE_MAX ? &run->group : job < run->n_jobs ? &run->jobs[job].group : NULL;
        int r;

        if (!g || g->state != RUN_GROUP_PENDING || run->status == RUN_STATUS_COMPLETED)
                return -ESTALE;
        r = run_group_replaced_message(g->name, &message);
        if (r < 0)
                return r;
        if (job != SIZE_MAX) {
                CancelWhy w = { RUN_CANCEL_REASON_CONCURRENCY, cause, message };

                if (run->jobs[job].phase != RUN_JOB_QUEUED)
                        return -ESTALE;
                return job_cancel_queued(run, job, &w, now, a);
        }
        /* The whole run is cancelled before anything of it started: every job says why. */
        if (asprintf(&by, "concurrency group '%s'", g->name) < 0)
                return -ENOMEM;
        r = run_cancel_caused(run, RUN_CANCEL_REASON_CONCURRENCY, by, cause, now, a);
        if (r < 0)
                return r;
        for (size_t i = 0; i < run->n_jobs; i++) {
                r = job_note_cancel(
                        &run->jobs[i], &(CancelWhy){ RUN_CANCEL_REASON_CONCURRENCY, cause, message });
                if (r < 0)
                        return r;
        }
        return 0;
}

int run_job_cancel_concurrency(Run *run, size_t job, const char *cause, RunTime now, RunActions *a) {
        _cleanup_free_ char *message = NULL;
        RunJob *j;
        int r;

        if (job >= run->n_jobs || run->status == RUN_STATUS_COMPLETED)
                return -ESTALE;
        j = &run->jobs[job];
        if (j->phase == RUN_JOB_DONE || j->cancel_reason != RUN_CANCEL_REASON_NONE)
                return 0;
        r = run_group_replaced_message(j->group.name ?: "", &message);
        if (r < 0)
                return r;
        /* Noted before its if: is evaluated again, which then sees cancelled() true, as in a cancelled
         * run (run.c, job_status_function). */
        j->cancel_reason = RUN_CANCEL_REASON_CONCURRENCY;
        if ((cause && !(j->cancel_cause = strdup(cause))) || replace_message(&j->message, message) < 0)
                return -ENOMEM;
        return job_reevaluate(
                run, job, &(CancelWhy){ RUN_CANCEL_REASON_CONCURRENCY, cause, message }, now, a);
}

/* ---- the run: the request and the force deadline (README, Cancellation, steps 1 and 4) ---- */

static int run_force(Run *run, RunCancelReason reason, const char *why, RunTime now, RunActions *a) {
        int r;

        if (run->force_terminated)
                return 0;
        run->force_terminated = true;
        run->force_reason = reason;
        run->timer = 0;
        r = run_event_push(a, RUN_EVENT_FORCE, SIZE_MAX, SIZE_MAX, NULL, true, why);
        if (r >= 0)
                r = run_action_push(a,
                        &(RunAction){ .type = RUN_ACTION_KILL_RUN,
                                .job = SIZE_MAX,
                                .step = SIZE_MAX,
                                .usec = now.monotonic - run->cancel_requested_at });
        if (r < 0)
                return r;

        for (size_t i = 0; i < run->n_jobs; i++) {
                RunJob *j = &run->jobs[i];
                RunStep *s;

                /* Jobs that were allowed to go on (always()) are cancelled now too. */
                if (IN_SET(j->phase, RUN_JOB_STEPPING, RUN_JOB_STEP, RUN_JOB_LOADING))
                        j->local_status = RUN_CONCLUSION_CANCELLED;
                if (j->phase != RUN_JOB_STEP || j->next_step == 0)
                        continue;
                s = &j->steps[j->next_step - 1];
                if (!IN_SET(s->cancel_stage, RUN_CANCEL_NONE, RUN_CANCEL_INTERRUPT, RUN_CANCEL_TERMINATE))
                        continue; /* pending, or killed already */
                s->timer = 0;
                if (s->cancel_stage == RUN_CANCEL_NONE)
                        s->cancel_began = now.monotonic;
                if (!s->entry_running) {
                        s->cancel_stage = RUN_CANCEL_PENDING;
                        r = run_action_push(a,
                                &(RunAction){
                                        .type = RUN_ACTION_ABORT_STEP, .job = i, .step = j->next_step - 1 });
                        if (r < 0)
                                return r;
                } else
                        s->cancel_stage = RUN_CANCEL_FORCE;
        }
        return 1;
}

static int run_cancel_full(Run *run, RunCancelReason reason, const char *by, const char *cause, bool force,
        RunTime now, RunActions *a);

int run_cancel(Run *run, const char *by, bool force, RunTime now, RunActions *a) {
        return run_cancel_because(run, RUN_CANCEL_REASON_USER, by, force, now, a);
}

int run_cancel_because(
        Run *run, RunCancelReason reason, const char *by, bool force, RunTime now, RunActions *a) {
        return run_cancel_full(run, reason, by, NULL, force, now, a);
}

int run_cancel_caused(
        Run *run, RunCancelReason reason, const char *by, const char *cause, RunTime now, RunActions *a) {
        return run_cancel_full(run, reason, by, cause, false, now, a);
}

static int run_cancel_full(Run *run, RunCancelReason reason, const char *by, const char *cause, bool force,
        RunTime now, RunActions *a) {
        int r;

        if (run->status == RUN_STATUS_COMPLETED)
                return -EALREADY;
        if (run->cancel_requested && !force)
                return 0;

        if (!run->cancel_requested) {
                run->cancel_requested = true;
                run->cancel_requested_at = now.monotonic;
                run->cancel_reason = force ? RUN_CANCEL_REASON_FORCE : reason;
                run->cancelled_by = strdup(by ?: "unknown");
                if (!run->cancelled_by || (cause && !(run->cancel_cause = strdup(cause))))
                        return -ENOMEM;
                r = run_event_push(a, RUN_EVENT_CANCEL_REQUESTED, SIZE_MAX, SIZE_MAX, NULL, force, by);
                if (r >= 0)
                        r = run_changed(a, SIZE_MAX, SIZE_MAX);
                if (r < 0)
                        return r;

                /* --force goes straight to the force deadline: nothing to re-evaluate. */
                if (!force) {
                        run_timer_start(&run->timer, now.monotonic, run->cancel.force_usec);
                        for (size_t i = 0; i < run->n_jobs; i++) {
                                r = job_reevaluate(run, i,
                                        &(CancelWhy){ run->cancel_reason, cause, "The run was cancelled." },
                                        now, a);
                                if (r < 0)
                                        return r;
                        }
                }
        }
        if (force)
                return run_force(run, RUN_CANCEL_REASON_FORCE, "runnerctl cancel --force", now, a);
        return 1;
}

int run_timer_fired(Run *run, size_t job, size_t step, RunTime now, RunActions *a) {
        RunJob *j;
        RunStep *s;
        uint64_t due;
        int r;

        if (run->status == RUN_STATUS_COMPLETED)
                return -ESTALE;

        if (job == SIZE_MAX) {
                if (run->timer == 0 || now.monotonic < run->timer)
                        return -ESTALE;
                run->timer = 0;
                r = run_force(run, RUN_CANCEL_REASON_DEADLINE, "the force deadline passed", now, a);
                return r < 0 ? r : 0;
        }
        if (job >= run->n_jobs)
                return -EINVAL;
        j = &run->jobs[job];

        if (step == SIZE_MAX) {
                if (j->timer == 0 || now.monotonic < j->timer)
                        return -ESTALE;
                char text[128];

                j->timer = 0;
                if (j->local_status == RUN_CONCLUSION_CANCELLED)
                        return 0; /* cancelled already: its escalation keeps its times */
                snprintf(text, sizeof(text),
                        "The job has exceeded the maximum execution time of %g minutes.",
                        minutes(j->def->timeout_usec));
                r = replace_message(&j->message, text);
                if (r < 0)
                        return r;
                return job_cancel(
                        run, job, &(CancelWhy){ RUN_CANCEL_REASON_JOB_TIMEOUT, NULL, j->message }, now, a);
        }

        s = run_running_step(run, job, step);
        if (!s || s->timer == 0 || now.monotonic < s->timer)
                return -ESTALE;
        due = s->timer;
        s->timer = 0;
        switch (s->cancel_stage) {
        case RUN_CANCEL_NONE: {
                char text[64];

                snprintf(text, sizeof(text), "timeout-minutes: %g", minutes(s->def->timeout_usec));
                r = run_event_push(a, RUN_EVENT_STEP_TIMED_OUT, job, step, NULL, true, text);
                if (r < 0)
                        return r;
                return step_cancel(run, job, step, true, now, a);
        }
        case RUN_CANCEL_INTERRUPT:
                return step_signal(run, job, step, SIGTERM, RUN_CANCEL_TERMINATE, due,
                        run->cancel.terminate_usec, now, a);
        case RUN_CANCEL_TERMINATE:
                return step_kill(run, job, step, now, a);
        default:
                return -ESTALE;
        }
}

/* ---- the run's deadlines, for the agent's one timer per run ---- */

typedef struct Deadline {
        uint64_t at;
        size_t job, step;
        size_t order; /* at equal times: the run's, then the jobs', then the steps', each by index */
} Deadline;

/* Calls f for every armed deadline of the run. */
static int deadlines_foreach(const Run *run, int (*f)(const Deadline *d, void *userdata), void *userdata) {
        size_t order = 0;
        int r;

        if (run->timer != 0) {
                r = f(&(Deadline){ run->timer, SIZE_MAX, SIZE_MAX, order++ }, userdata);
                if (r != 0)
                        return r;
        }
        for (size_t i = 0; i < run->n_jobs; i++)
                if (run->jobs[i].timer != 0) {
                        r = f(&(Deadline){ run->jobs[i].timer, i, SIZE_MAX, order++ }, userdata);
                        if (r != 0)
                                return r;
                }
        for (size_t i = 0; i < run->n_jobs; i++)
                for (size_t k = 0; k < run->jobs[i].n_steps; k++)
                        if (run->jobs[i].steps[k].timer != 0) {
                                r = f(&(Deadline){ run->jobs[i].steps[k].timer, i, k, order++ }, userdata);
                                if (r != 0)
                                        return r;
                        }
        return 0;
}

static int earliest(const Deadline *d, void *userdata) {
        uint64_t *ret = userdata;

        if (*ret == 0 || d->at < *ret)
                *ret = d->at;
        return 0;
}

uint64_t run_next_deadline(const Run *run) {
        uint64_t t = 0;

        if (run->status != RUN_STATUS_COMPLETED)
                (void) deadlines_foreach(run, earliest, &t);
        return t;
}

typedef struct Due {
        uint64_t now;
        Deadline *list;
        size_t n, allocated;
} Due;

static int collect_due(const Deadline *d, void *userdata) {
        Due *due = userdata;

        if (d->at > due->now)
                return 0;
        if (array_grow((void **) &due->list, &due->allocated, due->n + 1, sizeof(Deadline)) < 0)
                return -ENOMEM;
        due->list[due->n++] = *d;
        return 0;
}

static int deadline_compare(const void *a, const void *b) {
        const Deadline *x = a, *y = b;

        if (x->at != y->at)
                return x->at < y->at ? -1 : 1;
        return x->order < y->order ? -1 : x->order > y->order;
}

static int count_due(const Deadline *d, void *userdata) {
        Due *due = userdata;

        due->n += d->at <= due->now;
        return 0;
}

unsigned run_count_due(const Run *run, uint64_t now) {
        Due due = { .now = now };

        if (run->status != RUN_STATUS_COMPLETED)
                (void) deadlines_foreach(run, count_due, &due);
        return (unsigned) due.n;
}

static uint64_t *deadline_slot(Run *run, size_t job, size_t step) {
        if (job == SIZE_MAX)
                return &run->timer;
        return step == SIZE_MAX ? &run->jobs[job].timer : &run->jobs[job].steps[step].timer;
}

int run_timers_due(Run *run, RunTime now, RunActions *a) {
        _cleanup_free_ Deadline *list = NULL;
        Due due = { .now = now.monotonic };
        int r;

        if (run->status == RUN_STATUS_COMPLETED)
                return 0;
        r = deadlines_foreach(run, collect_due, &due);
        list = due.list;
        if (r < 0)
                return r;
        /* In the order they fell due, each once: a stage that a fired one arms for a time already past
         * (the agent was away) fires on the next call, as its own batch. */
        qsort(list, due.n, sizeof(Deadline), deadline_compare);
        for (size_t i = 0; i < due.n; i++) {
                uint64_t *slot;

                r = run_timer_fired(run, list[i].job, list[i].step, now, a);
                if (r < 0 && r != -ESTALE)
                        return r;
                /* A deadline that cannot fire must not stay due, or the agent's timer would spin. */
                slot = deadline_slot(run, list[i].job, list[i].step);
                if (r == -ESTALE && *slot != 0 && *slot <= now.monotonic)
                        *slot = 0;
        }
        return 0;
}
