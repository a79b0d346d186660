/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A live run bound to the event loop: its actions carried out through run_drive() with the effects
 * below, its one timer at the core's next deadline, and what changed told to the state writer, D-Bus
 * and the journal. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dbus-api.h"
#include "journal.h"
#include "log.h"
#include "manager-internal.h"

/* ---- a run's completion ---- */

static void on_run_slice_stopped(ScopeJob *sj, int error, const char *message, void *userdata) {
        ManagedRun *mr = userdata;

        mr->slice_stop = scope_job_free(mr->slice_stop);
        if (error < 0)
                log_warning("Run %" PRIu64 ": failed to stop its slice: %s", mr->id, message);
        mr->completed_announced = true;
        /* its concurrency groups pass on once it is seen concluded */
        groups_release(mr, SIZE_MAX);
        secret_store_remove(mr->manager, mr->id);
        (void) save_now(mr);
        journal_change(mr, SIZE_MAX, SIZE_MAX);
        bus_emit_run_changed(mr);
        manager_update_status(mr->manager);
}

void run_completed(ManagedRun *mr) {
        _cleanup_free_ char *slice = NULL;
        int r;

        if (mr->slice_stop || mr->completed_announced)
                return;
        /* The run is announced complete only once its slice is gone too. */
        r = run_slice_name(mr->id, &slice);
        if (r >= 0)
                r = unit_stop(mr->manager->watcher, slice, on_run_slice_stopped, mr, &mr->slice_stop);
        if (r < 0)
                on_run_slice_stopped(NULL, r, strerror(-r), mr);
}

/* ---- the run's one timer: its next deadline, whatever it is for (README, Cancellation) ---- */

static int on_run_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ManagedRun *mr = userdata;
        RunActions actions = {};

        if (!mr->run)
                return 0;
        /* How late the loop came to the deadline (usec is the time asked): a stage late by more than
         * this was late in reaching the step, not in the loop (README, Benchmarks: bench-loop). */
        log_debug("Run %" PRIu64 ": timer due at %" PRIu64 " fired %" PRIu64 " us late.", mr->id, usec,
                clock_usec(CLOCK_MONOTONIC) - usec);
        if (run_timers_due(mr->run, now(), &actions) < 0)
                log_oom();
        run_loop_drive(mr, &actions);
        return 0;
}

static void run_timer_arm(ManagedRun *mr) {
        uint64_t next = mr->run ? run_next_deadline(mr->run) : 0;
        int r;

        if (next == 0)
                r = mr->timer ? sd_event_source_set_enabled(mr->timer, SD_EVENT_OFF) : 0;
        else if (mr->timer) {
                r = sd_event_source_set_time(mr->timer, next);
                if (r >= 0)
                        r = sd_event_source_set_enabled(mr->timer, SD_EVENT_ONESHOT);
        } else {
                /* Accuracy 1 µs: the stages are promised to the millisecond, not coalesced. */
                r = sd_event_add_time(
                        mr->manager->event, &mr->timer, CLOCK_MONOTONIC, next, 1, on_run_timer, mr);
                /* Before other pending work (a big tree's exits, logs): a stage is due at its time. */
                if (r >= 0)
                        r = sd_event_source_set_priority(mr->timer, SD_EVENT_PRIORITY_IMPORTANT);
        }
        if (r < 0)
                log_error_errno(r, "Run %" PRIu64 ": failed to arm its timer: %m", mr->id);
}

/* ---- the effects run_drive() calls ---- */

static RunTime op_now(void *userdata) {
        return now();
}

static unsigned op_room(void *userdata) {
        ManagedRun *mr = userdata;
        return sched_room(mr->manager);
}

static void op_signal_step(void *userdata, RunAction *a, RunActions *more) {
        ManagedRun *mr = userdata;
        job_ctx(mr, a->job)->refs[a->step]->sent = signal_step(mr, a);
}

static void op_kill_step(void *userdata, RunAction *a, RunActions *more) {
        kill_step(userdata, a);
}

static void op_step_signalled(void *userdata, RunAction *a, RunActions *more) {
        ManagedRun *mr = userdata;
        SignalSent *sent = &job_ctx(mr, a->job)->refs[a->step]->sent;

        if (sent->pid > 0)
                journal_signal(mr, a->job, a->step, a->signal, sent->pid, sent->processes, a->usec);
        *sent = (SignalSent){};
}

static void op_step_killed(void *userdata, RunAction *a, RunActions *more) {
        kill_step_follow_up(userdata, a, more);
}

static void op_start_step(void *userdata, RunAction *a, RunActions *more) {
        ManagedRun *mr = userdata;
        _cleanup_free_ char *message = NULL;

        if (adopt_claim_start(mr, a->job, a->step))
                return;
        if (start_step(mr, a->job, a->step, a->spec, &message) < 0)
                (void) run_step_failed(mr->run, a->job, a->step,
                        message ?: "Failed to start the step: out of memory", now(), more);
}

static void op_abort_step(void *userdata, RunAction *a, RunActions *more) {
        ManagedRun *mr = userdata;
        StepProcess *p = job_ctx(mr, a->job)->steps[a->step];

        journal_step_aborted(mr, a->job, a->step, p && step_process_abort(p) > 0);
}

static void op_kill_run(void *userdata, RunAction *a, RunActions *more) {
        kill_run(userdata, a);
}

static void op_clean_job(void *userdata, RunAction *a, RunActions *more) {
        job_end_schedule(userdata, a->job);
}

static void op_event(void *userdata, RunAction *a, RunActions *more) {
        ManagedRun *mr = userdata;

        if (a->event == RUN_EVENT_FORCE) {
                free(mr->force_reason);
                mr->force_reason = a->text ? strdup(a->text) : NULL;
        }
        journal_decision(mr, a);
}

static void op_changed(void *userdata, RunAction *a, RunActions *more) {
        ManagedRun *mr = userdata;

        save_soon(mr);
        if (a->job == SIZE_MAX) {
                if (mr->run->status == RUN_STATUS_COMPLETED)
                        run_completed(mr);
                else
                        bus_emit_run_changed(mr);
                return;
        }
        journal_change(mr, a->job, a->step);
        if (a->step == SIZE_MAX) {
                sched_job_changed(mr, a->job);
                if (mr->run->jobs[a->job].phase == RUN_JOB_DONE && mr->run->jobs[a->job].group.name)
                        groups_release(mr, a->job);
                bus_emit_job_changed(mr, a->job);
        } else
                bus_emit_step_changed(mr, a->job, a->step);
}

static void op_acquire_group(void *userdata, RunAction *a, RunActions *more) {
        groups_acquire(userdata, a->job);
}

static void op_jobs_added(void *userdata, RunAction *a, RunActions *more) {
        ManagedRun *mr = userdata;

        if (managed_run_init_jobs(mr) < 0)
                log_oom(); /* cannot be: the jobs' actions would find nothing */
}

static void op_load_action(void *userdata, RunAction *a, RunActions *more) {
        step_load_action(userdata, a->job, a->step, more);
}

static void op_steps_inserted(void *userdata, RunAction *a, RunActions *more) {
        if (job_ctx_insert_steps(userdata, a->job, a->step, (size_t) a->usec) < 0)
                log_oom(); /* cannot be: the steps' actions would find nothing */
}

static const RunDriverOps driver_ops = {
        .now = op_now,
        .room = op_room,
        .signal_step = op_signal_step,
        .kill_step = op_kill_step,
        .step_signalled = op_step_signalled,
        .step_killed = op_step_killed,
        .start_step = op_start_step,
        .abort_step = op_abort_step,
        .kill_run = op_kill_run,
        .clean_job = op_clean_job,
        .event = op_event,
        .changed = op_changed,
        .acquire_group = op_acquire_group,
        .jobs_added = op_jobs_added,
        .load_action = op_load_action,
        .steps_inserted = op_steps_inserted,
};

void run_loop_drive(ManagedRun *mr, RunActions *actions) {
        if (run_drive(mr->run, &driver_ops, mr, actions) < 0)
                log_oom();
        run_timer_arm(mr);
        manager_update_status(mr->manager);
}
