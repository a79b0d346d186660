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
#include <unistd.h>

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
        ref->fresh = true; /* the START_STEP that follows is not looked for again */
        r = run_step_restart(ref->mr->run, ref->job, ref->step, now(), &actions);
        if (r >= 0)
                run_loop_drive(ref->mr, &actions);
        run_actions_done(&actions);
}

/* A kill already issued waits for the scope to empty; that watch is ours now. */
static void adopt_kill_watch(ManagedRun *mr, size_t job, size_t step, StepRef *ref) {
        const RunStep *s = &mr->run->jobs[job].steps[step];
        _cleanup_free_ char *path = NULL;
        RunActions actions = {};

        if (s->cancel_stage != RUN_CANCEL_KILL || s->emptied)
                return;
        ref->empty_source = sd_event_source_disable_unref(ref->empty_source);
        ref->scope_fd = safe_close(ref->scope_fd);
        if (step_cgroup_path(mr, job, step, &path) >= 0)
                ref->scope_fd = cgroup_open(mr->manager->cgroot, path);
        /* A kill already issued waits for the scope to empty, the shim's grace included: that is ours
         * now (killing "payload" again changes nothing). */
        if (ref->scope_fd >= 0 &&
                cgroup_kill_staged(mr->manager->event, ref->scope_fd, STEP_CGROUP_PAYLOAD,
                        STEP_SHIM_GRACE_USEC, on_step_empty, ref, &ref->empty_source) >= 0)
                return;
        ref->scope_fd = safe_close(ref->scope_fd);
        (void) run_step_emptied(mr->run, job, step, now(), &actions);
        run_loop_drive(mr, &actions);
        run_actions_done(&actions);
}

/* What start_step() makes in the job's file-command directory for step N: sN.<suffix>. */
static const char *const step_file_suffixes[] = { "output", "env", "path", "state", "environ", "workdir",
        "sh" };

/* A step that was running when the previous agent went away, or that it may have started after it last
 * saved the run (adopt_claim_start()). */
static void adopt_step(ManagedRun *mr, size_t job, size_t step, int dir_fd, Adoption *a) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        RunStep *s = &mr->run->jobs[job].steps[step];
        unsigned jn = mr->run->jobs[job].number, sn = s->number;
        StepRef *ref = jc->refs[step];
        _cleanup_free_ char *ws = NULL;
        _cleanup_close_ int control = -EBADF;
        PidRef shim = PIDREF_NULL, entry = PIDREF_NULL;
        char name[FDSTORE_NAME_MAX];
        RunActions actions = {};
        bool ended;
        int fd, code = -1, sig = 0, r;

        step_ref_done(ref);
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
        ended = read_exit_file(dir_fd, jn, sn, &code, &sig) >= 0;

        if (!s->entry_running && (control >= 0 || ended)) {
                /* The descriptors are stored, and the exit status recorded, only once the entry runs:
                 * it did, and the state the previous agent wrote is just behind (it is written after the
                 * effects). */
                r = run_step_started(mr->run, job, step, now(), &actions);
                if (r >= 0)
                        run_loop_drive(mr, &actions);
                run_actions_done(&actions);
        }
        if (!s->entry_running) {
                /* Handed to the previous agent, its entry never ran: its held shim ends with that agent's
                 * end of the control socket. Its scope may exist (created, or being created, by the
                 * previous agent): killed and stopped first, so that the fresh start neither collides
                 * with its name nor runs beside what is in it; then the step starts afresh. */
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int scope_fd = -EBADF;

                pidref_done(&shim);
                pidref_done(&entry);
                step_fds_forget(ref); /* whatever of it is in systemd's store is stale */
                /* Its files were made, new, for the first start: a fresh start makes them anew. Names in
                 * a directory of ours, unlinked without following anything. */
                for (size_t i = 0; jc->files_fd >= 0 && i < ELEMENTSOF(step_file_suffixes); i++) {
                        char file[64];

                        snprintf(file, sizeof(file), "s%u.%s", sn, step_file_suffixes[i]);
                        (void) unlinkat(jc->files_fd, file, 0);
                }
                if (step_cgroup_path(mr, job, step, &path) >= 0 &&
                        (scope_fd = cgroup_open(m->cgroot, path)) >= 0)
                        (void) cgroup_kill(scope_fd);
                r = unit_stop(m->watcher, s->unit, on_stale_scope_stopped, ref, &ref->stale_stop);
                if (r < 0)
                        on_stale_scope_stopped(NULL, r, strerror(-r), ref);
                return;
        }
        /* Kills counted before now are not known to be this step's: one while the agent was away is
         * missed rather than another step's blamed on it. */
        step_oom_baseline(mr, job);
        if (ended) {
                a->ended++;
                pidref_done(&shim);
                pidref_done(&entry);
                /* Values it masked with ::add-mask:: before it ended wait in the control socket: the
                 * job's later steps mask them too. */
                if (control >= 0)
                        step_process_drain(TAKE_FD(control), &step_callbacks, ref);
                adopt_kill_watch(mr, job, step, ref);
                on_step_exited(NULL, code, sig, ref);
                return;
        }
        if (control >= 0 && pidref_is_set(&shim)) {
                r = step_process_adopt(
                        m->event, control, &shim, &entry, &step_callbacks, ref, &jc->steps[step]);
                if (r >= 0) {
                        TAKE_FD(control);
                        a->steps++;
                        adopt_kill_watch(mr, job, step, ref);
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

static int on_adopt_check(sd_event_source *source, void *userdata) {
        StepRef *ref = userdata;
        ManagedRun *mr = ref->mr;
        Manager *m = mr->manager;
        _cleanup_close_ int dir_fd = run_dir_open(m, mr->id);

        ref->adopt_check = sd_event_source_disable_unref(ref->adopt_check);
        adopt_step(mr, ref->job, ref->step, dir_fd, m->adoption);
        m->adoption->checks--;
        adoption_maybe_end(m);
        return 0;
}

/* The crash window between a step's start and the save that records it (README, "Restarts"): run-state.json
 * may be a step behind, so that the core, resuming, decides to start a step the previous agent started
 * already. Its descriptors in the store (its entry ran: it is taken over), its exit status (it ran and
 * ended: that is its result) or, failing both, whatever is left of its scope (killed and stopped, then it
 * starts afresh) say which; adopt_step() decides, from a fresh loop iteration (it drives the run itself).
 * Only while the store is kept: the previous agent's starts all follow from events the new one learns
 * while it resumes (an exit status recorded, a step gone), each one start at a time, so the chain ends
 * with the checks. */
bool adopt_claim_start(ManagedRun *mr, size_t job, size_t step) {
        Manager *m = mr->manager;
        StepRef *ref = job_ctx(mr, job)->refs[step];

        if (!m->adoption || !mr->adopted || ref->fresh)
                return false;
        step_ref_done(ref);
        *ref = (StepRef){ .mr = mr, .job = job, .step = step, .scope_fd = -EBADF };
        if (sd_event_add_defer(m->event, &ref->adopt_check, on_adopt_check, ref) < 0)
                return false;
        m->adoption->checks++;
        return true;
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
        mr->adopted = true;
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
        /* Counted, and their users found again, before anything resumes, so that no run starts jobs
         * past MaxParallelJobs= or gives a new job a running one's user. */
        for (size_t j = 0; j < mr->run->n_jobs; j++) {
                sched_job_changed(mr, j);
                job_user_recover(mr, j);
        }
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

                /* The one step handed to the agent (a composite action's step in progress around it
                 * runs in it, README, "Actions"). */
                if (job->phase == RUN_JOB_STEP && job->next_step > 0)
                        adopt_step(mr, j, job->next_step - 1, dir_fd, a);
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

static void readopted_report(Manager *m, uint64_t inactive_since) {
        uint64_t t = m->readopted.at;

        journal_agent_readopted(m->readopted.runs, m->readopted.steps, m->readopted.ended,
                inactive_since > 0 && inactive_since <= t ? t - inactive_since : 0, m->readopted.overdue);
}

static void on_inactive_since(UnitQuery *q, int error, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->away_query = unit_query_free(m->away_query);
        if (error < 0)
                log_warning_errno(error, "Cannot ask systemd when the previous agent stopped: %m");
        readopted_report(m, error < 0 ? 0 : usec);
}

/* systemd's record of when the previous agent stopped serving is asked without blocking the loop; the
 * agent-readopted event follows its answer (without RUNNER_AWAY_USEC if there is none within 5 s). */
#define AWAY_QUERY_TIMEOUT_USEC (5 * USEC_PER_SEC)

void adoption_resume(Manager *m, Adoption *a) {
        int r;

        for (size_t i = 0; i < a->n_runs; i++)
                adopt_resume(m, a->runs[i], a);
        a->resumed = true;
        /* the concurrency groups as the runs left them: who holds each, who waits */
        groups_restore(m);
        if (a->n_runs == 0)
                return;
        m->readopted.runs = (unsigned) a->n_runs;
        m->readopted.steps = a->steps;
        m->readopted.ended = a->ended;
        m->readopted.overdue = a->overdue;
        m->readopted.at = clock_usec(CLOCK_MONOTONIC);
        r = unit_get_own_inactive_since_async(
                m->systemd_bus, AWAY_QUERY_TIMEOUT_USEC, on_inactive_since, m, &m->away_query);
        if (r < 0)
                readopted_report(m, 0);
        log_info("Took over %zu unfinished runs with %u running steps.", a->n_runs, a->steps);
}

void adoption_done(Adoption *a) {
        fdstore_done(&a->store); /* what no step took: descriptors of steps that ended */
        a->runs = mfree(a->runs);
}

void adoption_maybe_end(Manager *m) {
        if (!m->adoption || !m->adoption->resumed || m->adoption->checks > 0)
                return;
        adoption_done(m->adoption);
        m->adoption = mfree(m->adoption);
}
