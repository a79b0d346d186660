/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A job's end (README, Running workflows): each process its steps left is logged, the job's slice is
 * killed with cgroup.kill, the agent waits for populated 0, stops the slice and removes the job's
 * directories; then the core hears run_job_cleaned(). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cgroup.h"
#include "fileio.h"
#include "fs-util.h"
#include "journal.h"
#include "log.h"
#include "manager-internal.h"
#include "worker.h"

/* A tree a step filled is removed by rm(1) in a process of its own, not by the agent: a step controls
 * its depth and size, and a walk in the agent would spend the agent's stack and descriptors on it
 * (thousands of nested directories would crash a recursive walk). rm -rf does not follow symlinks, and
 * --one-file-system keeps it out of anything mounted below. */
static int remove_tree(void *data) {
        const char *path = data;
        char *argv[] = { (char *) "rm", (char *) "-rf", (char *) "--one-file-system", (char *) "--",
                (char *) path, NULL };
        pid_t pid;
        int status, r;

        r = posix_spawn(&pid, "/bin/rm", NULL, NULL, argv, (char *[]){ NULL });
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static void removed_tree(int r, void *data) {
        if (r == -ECANCELED)
                log_info("Left %s for the next start of the agent to remove.", (const char *) data);
        else if (r < 0)
                log_warning_errno(r, "Failed to remove %s: %m", (const char *) data);
        free(data);
}

/* Takes path (NULL: out of memory, nothing to do). On the remover, a worker of its own: a huge tree
 * must not hold up the state writes and caller checks on the other worker (README, Benchmarks). */
static void remove_later(Manager *m, char *path) {
        if (!path)
                return;
        if (worker_submit(m->remover, remove_tree, removed_tree, path) < 0) {
                log_warning("Failed to queue the removal of %s; it stays.", path);
                free(path);
        }
}

static void job_cleaned(ManagedRun *mr, size_t job) {
        JobCtx *jc = job_ctx(mr, job);
        char *workspace = NULL;
        RunActions actions = {};

        /* The slice is empty: every shim has exited; this only reaps those the loop has not yet. */
        for (size_t i = 0; i < mr->run->jobs[job].n_steps; i++)
                jc->steps[i] = step_process_free(jc->steps[i]);
        jc->files_fd = safe_close(jc->files_fd);
        /* The job's file-command directory and its workspace go on the worker: a workspace can hold
         * hundreds of thousands of files, and nothing may hold up the loop meanwhile (README,
         * Benchmarks: bench-loop). Both paths are the job's own; nothing reuses them. Its user can
         * reach neither any more, so a later job may have that user before they are gone. */
        (void) run_job_workspace(mr->run, job, &workspace); /* NULL on ENOMEM */
        job_user_release(mr, job, workspace);
        remove_later(mr->manager, TAKE_PTR(jc->files_dir));
        remove_later(mr->manager, TAKE_PTR(workspace));

        if (run_job_cleaned(mr->run, job, now(), &actions) >= 0)
                run_loop_drive(mr, &actions);
        run_actions_done(&actions);
        sched_kick_all(mr->manager);
}

static void on_job_slice_stopped(ScopeJob *sj, int error, const char *message, void *userdata) {
        JobCtx *jc = userdata;

        jc->slice_stop = scope_job_free(jc->slice_stop);
        if (error < 0)
                log_warning("Run %" PRIu64 ": failed to stop the slice of job %s: %s", jc->mr->id,
                        jc->mr->run->jobs[jc->index].def->id, message);
        job_cleaned(jc->mr, jc->index);
}

static void job_stop_slice(JobCtx *jc) {
        _cleanup_free_ char *slice = NULL;
        int r;

        r = run_job_slice_name(jc->mr->run, jc->index, &slice);
        if (r >= 0)
                r = unit_stop(jc->mr->manager->watcher, slice, on_job_slice_stopped, jc, &jc->slice_stop);
        if (r < 0) {
                log_warning("Run %" PRIu64 ": failed to stop slice %s: %s", jc->mr->id, strna(slice),
                        strerror(-r));
                job_cleaned(jc->mr, jc->index);
        }
}

static void on_job_empty(sd_event_source *s, void *userdata) {
        JobCtx *jc = userdata;

        jc->empty_source = sd_event_source_disable_unref(jc->empty_source);
        jc->slice_fd = safe_close(jc->slice_fd);
        job_stop_slice(jc);
}

/* What a job's steps left, found and named on the worker: reading /proc/PID/cmdline takes the process's
 * mmap lock, which a process a step controls may hold (README, "Restarts": nothing blocks the loop). The
 * loop then logs them and kills: a process is named before it is gone. */
typedef struct OrphanScan {
        JobCtx *jc;   /* loop only */
        int slice_fd; /* a copy of the job's, the worker's */
        pid_t *shims; /* not orphans */
        size_t n_shims;
        pid_t *pids; /* in the slice, found by the worker */
        char (*commands)[256];
        size_t n_pids;
} OrphanScan;

static bool is_shim(const OrphanScan *o, pid_t pid) {
        for (size_t i = 0; i < o->n_shims; i++)
                if (o->shims[i] == pid)
                        return true;
        return false;
}

static int orphan_scan(void *data) {
        OrphanScan *o = data;

        if (cgroup_list_processes(o->slice_fd, &o->pids, &o->n_pids) >= 0 && o->n_pids > 0) {
                o->commands = calloc(o->n_pids, sizeof(*o->commands));
                for (size_t i = 0; o->commands && i < o->n_pids; i++) {
                        char path[64];
                        _cleanup_free_ char *text = NULL;
                        int len;

                        if (is_shim(o, o->pids[i]))
                                continue;
                        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) o->pids[i]);
                        len = read_full_file_at(AT_FDCWD, path, 4096, &text);
                        for (int k = 0; k < len - 1; k++)
                                if (text[k] == '\0')
                                        text[k] = ' ';
                        if (len > 0)
                                snprintf(o->commands[i], sizeof(o->commands[i]), "%s", text);
                }
        }
        return 0;
}

/* The steps' processes first, then the shims once they have copied all those wrote. */
static void job_kill(JobCtx *jc) {
        ManagedRun *mr = jc->mr;
        int r;

        r = cgroup_kill_staged(mr->manager->event, jc->slice_fd, STEP_CGROUP_PAYLOAD, STEP_SHIM_GRACE_USEC,
                on_job_empty, jc, &jc->empty_source);
        if (r < 0) {
                log_error_errno(r, "Run %" PRIu64 ": failed to kill the cgroup of job %s: %m", mr->id,
                        mr->run->jobs[jc->index].def->id);
                jc->slice_fd = safe_close(jc->slice_fd);
                job_stop_slice(jc);
        }
}

static void orphans_named(int result, void *data) {
        OrphanScan *o = data;
        JobCtx *jc = o->jc;
        ManagedRun *mr = jc->mr;
        unsigned orphans = 0;

        for (size_t i = 0; i < o->n_pids; i++)
                if (!is_shim(o, o->pids[i])) {
                        orphans++;
                        journal_orphan(mr, jc->index, o->pids[i], o->commands ? o->commands[i] : "");
                }
        journal_job_slice_killed(mr, jc->index, o->n_pids, orphans);
        safe_close(o->slice_fd);
        free(o->shims);
        free(o->pids);
        free(o->commands);
        free(o);

        job_kill(jc);
}

/* Logs each process the job's steps left behind (named on the worker), then kills them all, and then
 * the slice. */
static int on_clean_job(sd_event_source *s, void *userdata) {
        JobCtx *jc = userdata;
        ManagedRun *mr = jc->mr;
        const RunJob *j = &mr->run->jobs[jc->index];
        _cleanup_free_ char *slice = NULL, *path = NULL;
        OrphanScan *o;
        int r;

        jc->clean_source = sd_event_source_disable_unref(jc->clean_source);

        r = run_job_slice_name(mr->run, jc->index, &slice);
        if (r >= 0)
                r = run_slice_cgroup_path(mr->id, j->number, &path);
        if (r >= 0) {
                jc->slice_fd = cgroup_open(mr->manager->cgroot, path);
                r = jc->slice_fd < 0 ? jc->slice_fd : 0;
        }
        if (r == -ENOENT) {
                /* No step of the job ever got its scope: nothing can be left. */
                job_stop_slice(jc);
                return 0;
        }
        if (r < 0) {
                log_error_errno(
                        r, "Run %" PRIu64 ": failed to open the cgroup of job %s: %m", mr->id, j->def->id);
                job_stop_slice(jc);
                return 0;
        }

        o = calloc(1, sizeof(*o));
        if (o) {
                *o = (OrphanScan){ .jc = jc, .slice_fd = fcntl(jc->slice_fd, F_DUPFD_CLOEXEC, 3) };
                o->shims = calloc(MAX(j->n_steps, 1U), sizeof(pid_t));
                for (size_t i = 0; o->shims && i < j->n_steps; i++)
                        if (jc->steps[i])
                                o->shims[o->n_shims++] = step_process_shim(jc->steps[i])->pid;
        }
        if (!o || !o->shims || o->slice_fd < 0 ||
                worker_submit(mr->manager->worker, orphan_scan, orphans_named, o) < 0) {
                /* Not named then, but killed all the same. */
                if (o) {
                        safe_close(o->slice_fd);
                        free(o->shims);
                        free(o);
                }
                journal_job_slice_killed(mr, jc->index, 0, 0);
                job_kill(jc);
        }
        return 0;
}

void job_end_schedule(ManagedRun *mr, size_t job) {
        JobCtx *jc = job_ctx(mr, job);
        int r;

        if (jc->clean_source)
                return;
        /* From a fresh loop iteration: never inside a step's own callback. */
        r = sd_event_add_defer(mr->manager->event, &jc->clean_source, on_clean_job, jc);
        if (r < 0)
                log_error_errno(r, "Run %" PRIu64 ": failed to schedule the end of job %s: %m", mr->id,
                        mr->run->jobs[job].def->id);
}

static bool dot_or_dot_dot(const char *name) {
        return streq(name, ".") || streq(name, "..");
}

/* Does run id still have a job that has not ended? */
static bool workspace_in_use_any(Manager *m, uint64_t id) {
        ManagedRun *mr = manager_find_run(m, id);

        return mr && mr->run && mr->run->status != RUN_STATUS_COMPLETED;
}

/* Is the workspace <workspace_root>/<name> of run id still a job's? Only a job that has not ended: its
 * end removes it. */
static bool workspace_in_use(Manager *m, uint64_t id, const char *name) {
        ManagedRun *mr = manager_find_run(m, id);

        if (!workspace_in_use_any(m, id))
                return false;
        for (size_t j = 0; j < mr->run->n_jobs; j++) {
                _cleanup_free_ char *ws = NULL;

                if (mr->run->jobs[j].phase == RUN_JOB_DONE)
                        continue;
                if (run_job_workspace(mr->run, j, &ws) < 0)
                        return true; /* keep it when in doubt */
                if (streq(ws + strlen(mr->run->workspace_root) + 1, name))
                        return true;
        }
        return false;
}

/* At start-up: a workspace whose removal was queued, or about to be, when the previous agent died is
 * removed now, with every other one no unfinished job owns (runs concluded or unknown), on the remover
 * as at a job's end: rm(1), which follows no symlink and crosses no mount (a step controls the
 * contents). */
void workspaces_sweep(Manager *m) {
        _cleanup_free_ char *work = strdupf("%s/work", m->state_dir);
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        DIR *d;

        if (!work)
                return (void) log_oom();
        fd = open(work, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || !(d = fdopendir(fd)))
                return;
        TAKE_FD(fd);
        while ((de = readdir(d))) {
                _cleanup_close_ int run_fd = -EBADF;
                struct dirent *je;
                DIR *jd;
                char *end;
                uint64_t id;
                bool whole;

                if (dot_or_dot_dot(de->d_name))
                        continue;
                errno = 0;
                id = de->d_name[0] == 'r' ? strtoull(de->d_name + 1, &end, 10) : 0;
                whole = id == 0 || errno != 0 || *end != '\0' || !workspace_in_use_any(m, id);
                if (whole) {
                        remove_later(m, strdupf("%s/%s", work, de->d_name));
                        continue;
                }
                run_fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (run_fd < 0 || !(jd = fdopendir(run_fd)))
                        continue;
                TAKE_FD(run_fd);
                while ((je = readdir(jd)))
                        if (!dot_or_dot_dot(je->d_name) && !workspace_in_use(m, id, je->d_name))
                                remove_later(m, strdupf("%s/%s/%s", work, de->d_name, je->d_name));
                closedir(jd);
        }
        closedir(d);
}
