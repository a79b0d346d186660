/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Taking the runs over from an earlier agent (README, "Restarts"): each unfinished run from its
 * run-state.json, its running steps from the descriptors systemd kept (or the exit status runner-step
 * recorded), its deadlines on the run's one timer. A run that cannot be taken over is concluded
 * cancelled and what is left of it killed. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "fileio.h"
#include "journal.h"
#include "log.h"
#include "manager-internal.h"

void adoption_begin(Adoption *a) {
        int r;

        *a = (Adoption){};
        r = fdstore_load(&a->store);
        if (r < 0)
                log_warning_errno(r, "Cannot read the descriptors the previous agent stored: %m");
}

static void kill_leftover_slice(Manager *m, uint64_t id, const char *why) {
        _cleanup_free_ char *slice = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        unsigned n = 0;

        if (run_slice_name(id, &slice) < 0 || run_slice_cgroup_path(id, 0, &path) < 0)
                return;
        fd = cgroup_open(m->cgroot, path);
        if (fd < 0)
                return;
        (void) cgroup_count_processes(fd, &n);
        if (n > 0) {
                journal_run_interrupted(id, slice, n, why);
                (void) cgroup_kill(fd);
        }
}

static void on_leftover_slice_stopped(ScopeJob *sj, int error, const char *message, void *userdata) {
        ManagedRun *mr = userdata;

        mr->slice_stop = scope_job_free(mr->slice_stop);
}

/* logs/j<J>-s<S>.exit, which runner-step writes before it reports the exit: the step ended while no
 * agent listened, or its report was read by the previous agent and lost with it. */
static int read_exit_file(int dir_fd, unsigned job, unsigned step, int *ret_code, int *ret_signal) {
        _cleanup_free_ char *text = NULL;
        char name[64], extra;
        int code, sig, r;

        snprintf(name, sizeof(name), "logs/j%u-s%u.exit", job, step);
        r = read_full_file_at(dir_fd, name, 256, &text);
        if (r < 0)
                return r;
        if (sscanf(text, "exit_code=%d\nexit_signal=%d\n%c", &code, &sig, &extra) != 2 || code < -1 ||
                code > 255 || sig < 0 || sig >= _NSIG || (code >= 0) != (sig == 0))
                return -EBADMSG;
        *ret_code = code;
        *ret_signal = sig;
        return 0;
}

static void on_stale_scope_stopped(ScopeJob *sj, int error, const char *message, void *userdata) {
        StepRef *ref = userdata;
        RunActions actions = {};
        int r;

        ref->stale_stop = scope_job_free(ref->stale_stop);
        if (error < 0)
                log_warning("Run %" PRIu64 ": failed to stop %s, left by the previous agent: %s",
                        ref->mr->id, ref->mr->run->jobs[ref->job].steps[ref->step].unit, message);
        r = run_step_restart(ref->mr->run, ref->job, ref->step, now(), &actions);
        if (r >= 0)
                run_loop_drive(ref->mr, &actions);
        run_actions_done(&actions);
}

/* A step that was running when the previous agent went away. */
static void adopt_step(ManagedRun *mr, size_t job, size_t step, int dir_fd, Adoption *a) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        RunStep *s = &mr->run->jobs[job].steps[step];
        unsigned jn = mr->run->jobs[job].def->number, sn = s->def->number;
        StepRef *ref = &jc->refs[step];
        _cleanup_free_ char *ws = NULL;
        _cleanup_close_ int control = -EBADF;
        PidRef shim = PIDREF_NULL, entry = PIDREF_NULL;
        char name[FDSTORE_NAME_MAX];
        RunActions actions = {};
        int fd, code, sig, r;

        *ref = (StepRef){ .mr = mr, .job = job, .step = step, .scope_fd = -EBADF };
        r = job_prepare_dirs(mr, job, &ws);
        if (r < 0)
                log_warning_errno(r, "Run %" PRIu64 ": cannot open the file-command directory of job %s: %m",
                        mr->id, mr->run->jobs[job].def->id);

        fdstore_step_name(name, mr->id, jn, sn, "control");
        control = fdstore_take(&a->store, name);
        fdstore_step_name(name, mr->id, jn, sn, "shim");
        fd = fdstore_take(&a->store, name);
        if (fd >= 0 && pidref_from_pidfd(fd, &shim) < 0)
                safe_close(fd);
        fdstore_step_name(name, mr->id, jn, sn, "entry");
        fd = fdstore_take(&a->store, name);
        if (fd >= 0 && pidref_from_pidfd(fd, &entry) < 0)
                safe_close(fd); /* reaped already: its exit is in the socket or the exit file */

        if (!s->entry_running && control >= 0) {
                /* The descriptors are stored only once the entry runs: it did, and the state the
                 * previous agent wrote is just behind (it is written after the effects). */
                r = run_step_started(mr->run, job, step, now(), &actions);
                if (r >= 0)
                        run_loop_drive(mr, &actions);
                run_actions_done(&actions);
        }
        if (!s->entry_running) {
                /* Handed to the previous agent, never started: its held shim ends with that agent's end
                 * of the control socket. Once its scope is gone too, the step starts afresh. */
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int scope_fd = -EBADF;

                pidref_done(&shim);
                pidref_done(&entry);
                step_fds_forget(ref); /* whatever of it is in systemd's store is stale */
                if (step_cgroup_path(mr, job, step, &path) >= 0 &&
                        (scope_fd = cgroup_open(m->cgroot, path)) >= 0)
                        (void) cgroup_kill(scope_fd);
                r = unit_stop(m->watcher, s->unit, on_stale_scope_stopped, ref, &ref->stale_stop);
                if (r < 0)
                        on_stale_scope_stopped(NULL, r, strerror(-r), ref);
                return;
        }
        if (read_exit_file(dir_fd, jn, sn, &code, &sig) >= 0) {
                a->ended++;
                pidref_done(&shim);
                pidref_done(&entry);
                on_step_exited(NULL, code, sig, ref);
                return;
        }
        if (control >= 0 && pidref_is_set(&shim)) {
                r = step_process_adopt(
                        m->event, control, &shim, &entry, &step_callbacks, ref, &jc->steps[step]);
                if (r >= 0) {
                        TAKE_FD(control);
                        a->steps++;
                        /* A kill already issued waits for the scope to empty; that watch is ours now. */
                        if (s->cancel_stage == RUN_CANCEL_KILL && !s->emptied) {
                                _cleanup_free_ char *path = NULL;

                                if (step_cgroup_path(mr, job, step, &path) >= 0)
                                        ref->scope_fd = cgroup_open(m->cgroot, path);
                                if (ref->scope_fd < 0 ||
                                        cgroup_watch_empty(m->event, ref->scope_fd, on_step_empty, ref,
                                                &ref->empty_source) < 0) {
                                        ref->scope_fd = safe_close(ref->scope_fd);
                                        (void) run_step_emptied(mr->run, job, step, now(), &actions);
                                        run_loop_drive(mr, &actions);
                                }
                        }
                        run_actions_done(&actions);
                        return;
                }
                log_warning_errno(r, "Run %" PRIu64 ": cannot take over step %u of job %s: %m", mr->id, sn,
                        mr->run->jobs[job].def->id);
        }
        pidref_done(&shim);
        pidref_done(&entry);
        /* Either its runner-step died without recording an exit status, or systemd did not keep the
         * descriptors (the service was stopped or failed rather than restarted): nothing of the step can
         * be supervised any more, and on_step_failed() kills what is left of it. */
        on_step_failed(NULL, -ESRCH,
                "runner-agent could not take the step over after a restart: neither its exit status nor its "
                "runner-step's descriptors were kept (runner-agent.service was stopped or failed rather than "
                "restarted, or runner-step died)",
                ref);
}

int adopt_run(Manager *m, uint64_t id, int dir_fd, Adoption *a, char **ret_why) {
        _cleanup_(run_freep) Run *run = NULL;
        ManagedRun *mr = NULL;
        RunTime t = now();
        int r;

        r = state_read_run(m, dir_fd, &run, ret_why);
        if (r < 0 || *ret_why)
                return r;
        if (array_grow((void **) &a->runs, &a->allocated, a->n_runs + 1, sizeof(ManagedRun *)) < 0)
                return -ENOMEM;
        r = managed_run_new(m, id, &mr);
        if (r < 0)
                return r;
        mr->run = TAKE_PTR(run);
        r = secret_store_load(mr);
        if (r == -ENOMEM) {
                managed_run_free(mr);
                return r;
        }
        if (r < 0)
                log_warning_errno(r,
                        "Run %" PRIu64 ": cannot read its secrets back; its later steps get none: %m", id);
        r = managed_run_init_jobs(mr);
        if (r >= 0)
                r = managed_run_add(m, mr);
        if (r < 0) {
                managed_run_free(mr);
                return r;
        }
        /* Counted before anything resumes, so that no run starts jobs past MaxParallelJobs=. */
        for (size_t j = 0; j < mr->run->n_jobs; j++)
                sched_job_changed(mr, j);
        /* A stage that fell due while no agent was there is carried out at once: run_loop_drive() arms the
         * run's timer in the past, and it fires on the first iteration. */
        a->overdue += run_count_due(mr->run, t.monotonic);
        a->runs[a->n_runs++] = mr;
        return 0;
}

/* Once every run is loaded and counted: their steps are taken over, and each goes on. */
static void adopt_resume(Manager *m, ManagedRun *mr, Adoption *a) {
        _cleanup_close_ int dir_fd = run_dir_open(m, mr->id);
        RunActions actions = {};

        for (size_t j = 0; j < mr->run->n_jobs && mr->run->status != RUN_STATUS_COMPLETED; j++) {
                const RunJob *job = &mr->run->jobs[j];

                if (job->phase == RUN_JOB_STEP)
                        for (size_t k = 0; k < job->def->n_steps; k++)
                                if (job->steps[k].status == RUN_STATUS_IN_PROGRESS) {
                                        adopt_step(mr, j, k, dir_fd, a);
                                        break;
                                }
                if (job->phase == RUN_JOB_CLEANUP)
                        job_end_schedule(mr, j);
        }
        if (mr->run->status == RUN_STATUS_COMPLETED)
                run_completed(mr);
        else {
                run_loop_drive(mr, &actions);
                run_actions_done(&actions);
        }
}

void adopt_refuse(Manager *m, ManagedRun *mr, const char *why) {
        _cleanup_free_ char *message = NULL, *slice = NULL;

        log_warning("Run %" PRIu64 " cannot be taken over: %s.", mr->id, why);
        kill_leftover_slice(m, mr->id, why);
        if (asprintf(&message, "runner-agent could not take the run over after a restart: %s", why) < 0)
                message = NULL;
        (void) run_json_mark_interrupted(mr->json, message ?: why, clock_usec(CLOCK_REALTIME));
        (void) save_now(mr);
        if (run_slice_name(mr->id, &slice) >= 0)
                (void) unit_stop(m->watcher, slice, on_leftover_slice_stopped, mr, &mr->slice_stop);
}

void adoption_resume(Manager *m, Adoption *a) {
        uint64_t inactive_since = 0, t;

        for (size_t i = 0; i < a->n_runs; i++)
                adopt_resume(m, a->runs[i], a);
        if (a->n_runs == 0)
                return;
        t = clock_usec(CLOCK_MONOTONIC);
        if (unit_get_own_inactive_since(m->systemd_bus, &inactive_since) < 0 || inactive_since > t)
                inactive_since = 0;
        journal_agent_readopted((unsigned) a->n_runs, a->steps, a->ended,
                inactive_since > 0 ? t - inactive_since : 0, a->overdue);
        log_info("Took over %zu unfinished runs with %u running steps.", a->n_runs, a->steps);
}

void adoption_done(Adoption *a) {
        fdstore_done(&a->store); /* what no step took: descriptors of steps that ended */
        a->runs = mfree(a->runs);
}
