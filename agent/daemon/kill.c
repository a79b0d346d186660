/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the cancellation's decisions do to processes (README, Cancellation): a signal to a step's entry
 * through its pidfd, or to every process of its scope's "payload" (SignalTarget=cgroup); cgroup.kill of
 * a step's "payload", then of its scope once the shim had its grace, and the wait for populated 0; the
 * same for the run's slice at the force deadline. The shims outlive what they copy for: no byte a step
 * wrote before its kill is lost. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "journal.h"
#include "log.h"
#include "manager-internal.h"

/* SignalTarget=cgroup: every process of the scope's "payload" (the shim is in "supervisor"), each
 * through a pidfd that is checked to still be a process of "payload" after it was opened (a PID from
 * cgroup.procs may be recycled). */
static unsigned signal_scope(ManagedRun *mr, size_t job, size_t step, int sig) {
        JobCtx *jc = job_ctx(mr, job);
        _cleanup_free_ char *scope = NULL, *path = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n_pids = 0;
        unsigned n = 0;

        if (step_cgroup_path(mr, job, step, &scope) < 0)
                return 0;
        path = strdupf("%s/" STEP_CGROUP_PAYLOAD, scope);
        if (!path)
                return 0;
        fd = cgroup_open(mr->manager->cgroot, path);
        if (fd < 0 || cgroup_list_processes(fd, &pids, &n_pids) < 0)
                return 0;
        for (size_t i = 0; i < n_pids; i++) {
                _cleanup_free_ char *where = NULL;
                PidRef p = PIDREF_NULL;

                if (jc->steps[step] && pids[i] == step_process_shim(jc->steps[step])->pid)
                        continue;
                if (pidref_set_pid(&p, pids[i]) < 0)
                        continue;
                if (cgroup_pidref_get_path(&p, &where) >= 0 && strncmp(where, path, strlen(path)) == 0 &&
                        IN_SET(where[strlen(path)], '\0', '/') && pidref_kill(&p, sig) >= 0)
                        n++;
                pidref_done(&p);
        }
        return n;
}

SignalSent signal_step(ManagedRun *mr, const RunAction *a) {
        StepProcess *p = job_ctx(mr, a->job)->steps[a->step];
        const PidRef *entry = p ? step_process_entry(p) : NULL;
        SignalSent sent = {};
        int r;

        if (!entry) {
                log_error("Run %" PRIu64 ": asked to signal step %u of job %s, which has no entry process.",
                        mr->id, mr->run->jobs[a->job].steps[a->step].number, mr->run->jobs[a->job].def->id);
                return sent;
        }
        sent.pid = entry->pid;
        if (mr->manager->config.signal_target == SIGNAL_TARGET_CGROUP)
                sent.processes = signal_scope(mr, a->job, a->step, a->signal);
        else {
                r = pidref_kill(entry, a->signal);
                if (r < 0 && r != -ESRCH)
                        log_warning_errno(r, "Run %" PRIu64 ": failed to signal process %d: %m", mr->id,
                                (int) entry->pid);
        }
        return sent;
}

void on_step_empty(sd_event_source *s, void *userdata) {
        StepRef *ref = userdata;
        RunActions actions = {};

        ref->empty_source = sd_event_source_disable_unref(ref->empty_source);
        ref->scope_fd = safe_close(ref->scope_fd);
        ref->kill_to_empty_usec = clock_usec(CLOCK_MONOTONIC) - ref->killed_at;
        if (run_step_emptied(ref->mr->run, ref->job, ref->step, now(), &actions) >= 0)
                run_loop_drive(ref->mr, &actions);
        run_actions_done(&actions);
}

/* The kill itself: into ref, so that kill_step_follow_up() can log and watch afterwards. */
void kill_step(ManagedRun *mr, const RunAction *a) {
        StepRef *ref = job_ctx(mr, a->job)->refs[a->step];
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        ref->kill_processes = 0;
        r = step_cgroup_path(mr, a->job, a->step, &path);
        if (r >= 0) {
                fd = cgroup_open(mr->manager->cgroot, path);
                r = fd < 0 ? fd : 0;
        }
        if (r >= 0) {
                (void) cgroup_count_processes(fd, &ref->kill_processes);
                ref->killed_at = clock_usec(CLOCK_MONOTONIC);
                ref->empty_source = sd_event_source_disable_unref(ref->empty_source);
                r = cgroup_kill_staged(mr->manager->event, fd, STEP_CGROUP_PAYLOAD, STEP_SHIM_GRACE_USEC,
                        on_step_empty, ref, &ref->empty_source);
        }
        ref->kill_error = r;
        if (r >= 0) {
                safe_close(ref->scope_fd);
                ref->scope_fd = TAKE_FD(fd);
        }
}

void kill_step_follow_up(ManagedRun *mr, const RunAction *a, RunActions *more) {
        StepRef *ref = job_ctx(mr, a->job)->refs[a->step];
        int r = ref->kill_error;

        journal_step_killed(mr, a->job, a->step, ref->kill_processes, a->usec);
        if (r >= 0)
                return;
        ref->scope_fd = safe_close(ref->scope_fd);
        /* No scope (it is gone: empty), or it cannot be watched: the job's end kills and waits for
         * the whole slice anyway, so the step need not hang here. */
        if (r != -ENOENT)
                log_error_errno(r, "Run %" PRIu64 ": failed to kill the scope of step %u of job %s: %m",
                        mr->id, mr->run->jobs[a->job].steps[a->step].number, mr->run->jobs[a->job].def->id);
        (void) run_step_emptied(mr->run, a->job, a->step, now(), more);
}

void kill_run(ManagedRun *mr, const RunAction *a) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        unsigned n = 0;
        int r;

        r = run_slice_cgroup_path(mr->id, 0, &path);
        if (r >= 0) {
                fd = cgroup_open(mr->manager->cgroot, path);
                r = fd < 0 ? fd : 0;
        }
        if (r >= 0) {
                (void) cgroup_count_processes(fd, &n);
                mr->force_kill = sd_event_source_disable_unref(mr->force_kill);
                r = cgroup_kill_staged(mr->manager->event, fd, STEP_CGROUP_PAYLOAD, STEP_SHIM_GRACE_USEC,
                        NULL, NULL, &mr->force_kill);
        }
        if (r < 0 && r != -ENOENT)
                log_error_errno(r, "Run %" PRIu64 ": failed to kill its slice: %m", mr->id);
        /* Each job's end waits for its slice to be empty. */
        journal_run_forced(mr, mr->force_reason, n, a->usec);
}
