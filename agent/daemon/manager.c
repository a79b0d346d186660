/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "cgroup.h"
#include "dbus-api.h"
#include "fdstore.h"
#include "file-command.h"
#include "fileio.h"
#include "fs-util.h"
#include "journal.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "message-id.h"
#include "run-state.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define STATE_MAX_SIZE (64U * 1024U * 1024U)

static uint64_t clock_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t now_realtime(void) {
        return clock_usec(CLOCK_REALTIME);
}

static RunTime now(void) {
        return (RunTime){ .realtime = clock_usec(CLOCK_REALTIME), .monotonic = clock_usec(CLOCK_MONOTONIC) };
}

static void process(ManagedRun *mr, RunActions *actions);
static void kick_all(Manager *m);

/* ---- runs: lifetime and state files ---- */

static void step_ref_done(StepRef *ref) {
        ref->stale_stop = scope_job_free(ref->stale_stop);
        ref->empty_source = sd_event_source_disable_unref(ref->empty_source);
        ref->scope_fd = safe_close(ref->scope_fd);
}

static void job_ctx_done(JobCtx *jc, size_t n_steps) {
        /* Handing over, the steps go on for the next agent: their processes are not touched. */
        for (size_t i = 0; jc->steps && i < n_steps; i++)
                if (jc->mr->manager->handing_over)
                        step_process_release(jc->steps[i]);
                else
                        step_process_free(jc->steps[i]);
        for (size_t i = 0; jc->refs && i < n_steps; i++)
                step_ref_done(&jc->refs[i]);
        free(jc->steps);
        free(jc->refs);
        sd_event_source_disable_unref(jc->clean_source);
        sd_event_source_disable_unref(jc->empty_source);
        scope_job_free(jc->slice_stop);
        safe_close(jc->slice_fd);
        safe_close(jc->files_fd);
        free(jc->files_dir);
}

static ManagedRun *managed_run_free(ManagedRun *mr) {
        if (!mr)
                return NULL;
        for (size_t i = 0; mr->jobs && mr->run && i < mr->run->n_jobs; i++)
                job_ctx_done(&mr->jobs[i], mr->run->jobs[i].def->n_steps);
        free(mr->jobs);
        sd_event_source_disable_unref(mr->save_source);
        sd_event_source_disable_unref(mr->timer);
        free(mr->force_reason);
        scope_job_free(mr->slice_stop);
        run_free(mr->run);
        if (mr->json)
                json_object_put(mr->json);
        free(mr);
        return NULL;
}

static int managed_run_add(Manager *m, ManagedRun *mr) {
        size_t i;

        if (array_grow((void **) &m->runs, &m->allocated_runs, m->n_runs + 1, sizeof(ManagedRun *)) < 0)
                return -ENOMEM;
        for (i = m->n_runs; i > 0 && m->runs[i - 1]->id > mr->id; i--)
                m->runs[i] = m->runs[i - 1];
        m->runs[i] = mr;
        m->n_runs++;
        if (mr->id >= m->next_id)
                m->next_id = mr->id + 1;
        return 0;
}

ManagedRun *manager_find_run(Manager *m, uint64_t id) {
        size_t lo = 0, hi = m->n_runs;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (m->runs[mid]->id == id)
                        return m->runs[mid];
                if (m->runs[mid]->id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int managed_run_json(ManagedRun *mr, json_object **ret) {
        json_object *o;
        int r;

        if (mr->run) {
                r = run_to_json(mr->run, &o);
                if (r < 0)
                        return r;
                if (mr->json)
                        json_object_put(mr->json);
                mr->json = o;
        }
        *ret = mr->json;
        return 0;
}

/* runs/<id>. Opened when needed and closed right after: the agent holds no descriptor per run at
 * rest, so the number of runs it keeps is bounded by the disk, not by LimitNOFILE=. */
static int run_dir_open(Manager *m, uint64_t id) {
        char name[DECIMAL_STR_MAX(uint64_t)];
        int fd;

        snprintf(name, sizeof(name), "%" PRIu64, id);
        fd = openat(m->runs_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* run-state.json: what a restarted agent needs to carry the run on (README, "Restarts"): the core's
 * state and the boot it belongs to (its deadlines are on this boot's CLOCK_MONOTONIC). Written before
 * state.json, so that the public state never runs ahead of what a successor would resume from. */
static int write_internal_state(ManagedRun *mr, int dir_fd) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *text;
        int r;

        if (!mr->run)
                return 0;
        r = run_state_to_json(mr->run, &o);
        if (r < 0)
                return r;
        if (json_object_object_add(o, "boot_id", json_object_new_string(mr->manager->boot_id)) < 0)
                return -ENOMEM;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        return write_file_atomic_at(dir_fd, "run-state.json", text, strlen(text), 0600);
}

static int write_state(ManagedRun *mr, int dir_fd) {
        json_object *o;
        const char *text;
        int r;

        r = write_internal_state(mr, dir_fd);
        if (r < 0)
                return r;
        r = managed_run_json(mr, &o);
        if (r < 0)
                return r;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        return write_file_atomic_at(dir_fd, "state.json", text, strlen(text), 0640);
}

static int save_now(ManagedRun *mr) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = run_dir_open(mr->manager, mr->id);
        r = fd < 0 ? fd : write_state(mr, fd);
        if (r < 0)
                return log_error_errno(r, "Run %" PRIu64 ": failed to write state.json: %m", mr->id);
        return 0;
}

static int on_save(sd_event_source *s, void *userdata) {
        ManagedRun *mr = userdata;

        mr->save_source = sd_event_source_disable_unref(mr->save_source);
        (void) save_now(mr);
        return 0;
}

/* Many changes in one loop iteration make one write. */
static void save_soon(ManagedRun *mr) {
        if (mr->save_source)
                return;
        if (sd_event_add_defer(mr->manager->event, &mr->save_source, on_save, mr) < 0)
                (void) save_now(mr);
}

/* ---- steps ---- */

static JobCtx *job_ctx(ManagedRun *mr, size_t job) {
        return &mr->jobs[job];
}

/* The step's descriptors in systemd's store, under r<RUN>.j<J>.s<S>.{control,shim,entry}: what the
 * next agent needs to take the step over (README, "Restarts"). */
static const char *const step_fd_kinds[] = { "control", "shim", "entry" };

static void step_fds_store(StepRef *ref, StepProcess *p, const PidRef *entry) {
        unsigned job = ref->mr->run->jobs[ref->job].def->number,
                 step = ref->mr->run->jobs[ref->job].def->steps[ref->step].number;
        int fds[] = { step_process_control_fd(p), step_process_shim(p)->fd, entry->fd };
        char name[FDSTORE_NAME_MAX];
        int r;

        for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
                fdstore_step_name(name, ref->mr->id, job, step, step_fd_kinds[i]);
                r = fdstore_put(name, fds[i]);
                if (r < 0)
                        log_warning_errno(r,
                                "Run %" PRIu64
                                ": cannot keep %s in systemd's descriptor store; a restart of the agent now would lose the step: %m",
                                ref->mr->id, name);
        }
}

static void step_fds_forget(StepRef *ref) {
        unsigned job = ref->mr->run->jobs[ref->job].def->number,
                 step = ref->mr->run->jobs[ref->job].def->steps[ref->step].number;
        char name[FDSTORE_NAME_MAX];

        for (size_t i = 0; i < ELEMENTSOF(step_fd_kinds); i++) {
                fdstore_step_name(name, ref->mr->id, job, step, step_fd_kinds[i]);
                (void) fdstore_remove(name);
        }
}

static void on_step_started(StepProcess *p, const PidRef *entry, void *userdata) {
        StepRef *ref = userdata;
        RunActions actions = {};

        step_fds_store(ref, p, entry);
        journal_step_started(ref->mr, ref->job, ref->step, entry->pid);
        if (run_step_started(ref->mr->run, ref->job, ref->step, now(), &actions) >= 0)
                process(ref->mr, &actions);
        run_actions_done(&actions);
}

static int read_file_command(
        JobCtx *jc, unsigned number, const char *suffix, char **ret, size_t *ret_len, char **message) {
        char name[64];
        int r;

        snprintf(name, sizeof(name), "s%u.%s", number, suffix);
        r = read_user_file_at(jc->files_fd, name, jc->mr->manager->step_uid, FILE_COMMAND_MAX_SIZE, ret);
        if (r >= 0) {
                *ret_len = (size_t) r;
                return 0;
        }
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        if (asprintf(message, "Failed to read the step's %s file: %s", suffix,
                    r == -EFBIG           ? "larger than 1 MiB"
                            : r == -EPERM ? "not a regular file of the step's user"
                                          : strerror(-r)) < 0)
                return -ENOMEM;
        return r;
}

static void on_step_exited(StepProcess *p, int code, int sig, void *userdata) {
        StepRef *ref = userdata;
        JobCtx *jc = job_ctx(ref->mr, ref->job);
        unsigned number = ref->mr->run->jobs[ref->job].def->steps[ref->step].number;
        _cleanup_free_ char *output = NULL, *env = NULL, *path = NULL, *message = NULL;
        RunStepResult res = { .exit_code = code, .exit_signal = sig };
        RunActions actions = {};
        int r;

        step_fds_forget(ref);
        r = read_file_command(jc, number, "output", &output, &res.output_len, &message);
        if (r >= 0)
                r = read_file_command(jc, number, "env", &env, &res.env_len, &message);
        if (r >= 0)
                r = read_file_command(jc, number, "path", &path, &res.path_len, &message);
        res.output = output;
        res.env = env;
        res.path = path;

        if (r < 0)
                r = run_step_failed(
                        ref->mr->run, ref->job, ref->step, message ?: "out of memory", now(), &actions);
        else
                r = run_step_exited(ref->mr->run, ref->job, ref->step, &res, now(), &actions);
        if (r >= 0)
                process(ref->mr, &actions);
        run_actions_done(&actions);
}

static int step_cgroup_path(ManagedRun *mr, size_t job, size_t step, char **ret);

static void on_step_failed(StepProcess *p, int error, const char *message, void *userdata) {
        StepRef *ref = userdata;
        RunActions actions = {};
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;

        log_warning("Run %" PRIu64 ", job %s, step %zu: %s", ref->mr->id,
                ref->mr->run->jobs[ref->job].def->id, ref->step + 1, message);
        step_fds_forget(ref);
        /* Whatever still runs in the step's scope (an entry whose shim died or broke the protocol) is
         * no longer supervised: it must not run beside the job's next step. */
        if (step_cgroup_path(ref->mr, ref->job, ref->step, &path) >= 0 &&
                (fd = cgroup_open(ref->mr->manager->cgroot, path)) >= 0)
                (void) cgroup_kill(fd);
        if (run_step_failed(ref->mr->run, ref->job, ref->step, message, now(), &actions) >= 0)
                process(ref->mr, &actions);
        run_actions_done(&actions);
}

static const StepCallbacks step_callbacks = {
        .started = on_step_started,
        .exited = on_step_exited,
        .failed = on_step_failed,
};

static int strv_push(char ***l, size_t *n, size_t *allocated, char *s) {
        if (!s)
                return -ENOMEM;
        if (array_grow((void **) l, allocated, *n + 2, sizeof(char *)) < 0) {
                free(s);
                return -ENOMEM;
        }
        (*l)[(*n)++] = s;
        (*l)[*n] = NULL;
        return 0;
}

static char *strdupf(const char *fmt, ...) _printf_(1, 2);
static char *strdupf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

/* The job's directories: the workspace (the step user's), and below the runtime directory one for the
 * agent's own files (root's) with the step user's file-command directory in it. */
static int job_prepare_dirs(ManagedRun *mr, size_t job, char **ret_workspace_job) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        const RunJob *j = &mr->run->jobs[job];
        _cleanup_free_ char *ws = NULL, *files = NULL, *tmp = NULL;
        int r;

        ws = strdupf("%s/%s", mr->run->workspace_root, j->def->id);
        if (!ws)
                return -ENOMEM;
        if (jc->files_fd >= 0) {
                *ret_workspace_job = TAKE_PTR(ws);
                return 0;
        }

        r = mkdir_p(mr->run->workspace_root, 0755, (uid_t) -1, (gid_t) -1);
        if (r >= 0)
                r = mkdir_p(ws, 0755, m->step_uid, m->step_gid);
        if (r < 0)
                return r;

        files = strdupf("%s/r%" PRIu64 "/j%u", m->runtime_dir, mr->id, j->def->number);
        tmp = strdupf("%s/r%" PRIu64 "/j%u/tmp", m->runtime_dir, mr->id, j->def->number);
        if (!files || !tmp)
                return -ENOMEM;
        /* 0711: the step user may reach its file-command files by name, and list nothing else. */
        r = mkdir_p(files, 0711, (uid_t) -1, (gid_t) -1);
        if (r >= 0)
                r = mkdir_p(tmp, 0700, m->step_uid, m->step_gid);
        if (r < 0)
                return r;
        jc->files_fd = open(files, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (jc->files_fd < 0)
                return -errno;
        jc->files_dir = TAKE_PTR(files);
        *ret_workspace_job = TAKE_PTR(ws);
        return 0;
}

static int build_environ(
        ManagedRun *mr, size_t job, size_t step, const RunStepSpec *spec, char **ret, size_t *ret_len) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        unsigned number = mr->run->jobs[job].def->steps[step].number;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        const char *user_path = NULL;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (char **e = spec->env; *e; e++) {
                if (strncmp(*e, "PATH=", 5) == 0) {
                        user_path = *e + 5;
                        continue;
                }
                fputs(*e, f);
                fputc('\0', f);
        }
        fprintf(f, "GITHUB_OUTPUT=%s/s%u.output%c", jc->files_dir, number, '\0');
        fprintf(f, "GITHUB_ENV=%s/s%u.env%c", jc->files_dir, number, '\0');
        fprintf(f, "GITHUB_PATH=%s/s%u.path%c", jc->files_dir, number, '\0');
        fprintf(f, "RUNNER_TEMP=%s/tmp%c", jc->files_dir, '\0');
        fprintf(f, "HOME=%s%cUSER=runner%cLOGNAME=runner%cLANG=C.UTF-8%c", m->step_home, '\0', '\0', '\0',
                '\0');
        fputs("PATH=", f);
        for (char **p = spec->path; *p; p++)
                fprintf(f, "%s:", *p);
        fputs(user_path ?: DEFAULT_PATH, f);
        fputc('\0', f);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        *ret_len = size;
        return 0;
}

static int start_step(ManagedRun *mr, size_t job, size_t step, const RunStepSpec *spec, char **ret_message) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        const RunJob *j = &mr->run->jobs[job];
        const RunStep *s = &j->steps[step];
        unsigned number = s->def->number;
        _cleanup_free_ char *ws = NULL, *environ_text = NULL, *slice = NULL, *description = NULL;
        _cleanup_free_ char *script = NULL, *environ_path = NULL;
        char **argv = NULL, **shim_argv = NULL, name[64];
        size_t environ_len = 0, n = 0, allocated = 0;
        StepRef *ref;
        int r;

        r = job_prepare_dirs(mr, job, &ws);
        if (r < 0) {
                *ret_message = strdupf("Failed to prepare the job's directories: %s", strerror(-r));
                return r;
        }

        /* The files the step writes to are made by us, empty, and given to the step's user: what we
         * read back later must be a file we made (read_user_file_at() checks). */
        snprintf(name, sizeof(name), "s%u.sh", number);
        r = write_new_file_at(
                jc->files_fd, name, spec->script, strlen(spec->script), 0644, m->step_uid, m->step_gid);
        for (const char *suffix = "output"; r >= 0 && suffix; suffix = streq(suffix, "output") ? "env"
                        : streq(suffix, "env")                                                 ? "path"
                                                                                               : NULL) {
                snprintf(name, sizeof(name), "s%u.%s", number, suffix);
                r = write_new_file_at(jc->files_fd, name, "", 0, 0600, m->step_uid, m->step_gid);
        }
        if (r < 0) {
                *ret_message = strdupf("Failed to create the step's files: %s", strerror(-r));
                return r;
        }

        r = build_environ(mr, job, step, spec, &environ_text, &environ_len);
        if (r < 0)
                return r;
        snprintf(name, sizeof(name), "s%u.environ", number);
        r = write_new_file_at(jc->files_fd, name, environ_text, environ_len, 0600, (uid_t) -1, (gid_t) -1);
        if (r < 0) {
                *ret_message = strdupf("Failed to write the step's environment: %s", strerror(-r));
                return r;
        }

        script = strdupf("%s/s%u.sh", jc->files_dir, number);
        environ_path = strdupf("%s/s%u.environ", jc->files_dir, number);
        if (!script || !environ_path)
                return -ENOMEM;
        r = run_shell_argv(spec->shell, script, &argv);
        if (r < 0) {
                *ret_message = strdupf("Invalid shell command line '%s'", spec->shell);
                return r;
        }

        r = strv_push(&shim_argv, &n, &allocated, strdup(m->shim_path));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--user=%u:%u", m->step_uid, m->step_gid));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--workdir=%s", spec->working_directory));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--env-file=%s", environ_path));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated,
                        strdupf("--log=%s/runs/%" PRIu64 "/logs/j%u-s%u.log", m->state_dir, mr->id,
                                j->def->number, number));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated,
                        strdupf("--exit-status=%s/runs/%" PRIu64 "/logs/j%u-s%u.exit", m->state_dir, mr->id,
                                j->def->number, number));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--field=RUNNER_RUN_ID=%" PRIu64, mr->id));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--field=RUNNER_JOB=%s", j->def->id));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--field=RUNNER_STEP=%u", number));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated,
                        strdupf("--field=RUNNER_STEP_NAME=%s", run_step_display_name(s)));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--field=RUNNER_UNIT=%s", s->unit));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdup("--"));
        for (char **a = argv; r >= 0 && *a; a++)
                r = strv_push(&shim_argv, &n, &allocated, strdup(*a));
        strv_free(argv);
        if (r < 0) {
                strv_free(shim_argv);
                return r;
        }

        r = run_job_slice_name(mr->run, job, &slice);
        if (r >= 0) {
                description = strdupf(
                        "runner-agent run %" PRIu64 ", job %s, step %u", mr->id, j->def->id, number);
                r = description ? 0 : -ENOMEM;
        }
        if (r < 0) {
                strv_free(shim_argv);
                return -ENOMEM;
        }
        ref = &jc->refs[step];
        step_ref_done(ref);
        *ref = (StepRef){ .mr = mr, .job = job, .step = step, .scope_fd = -EBADF };

        r = step_process_start(m->event, m->watcher,
                &(StepParams){ .shim_argv = shim_argv,
                        .unit = s->unit,
                        .slice = slice,
                        .description = description },
                &step_callbacks, ref, &jc->steps[step]);
        strv_free(shim_argv);
        if (r < 0) {
                *ret_message = strdupf("Failed to start runner-step: %s", strerror(-r));
                return r;
        }
        return 0;
}

/* ---- job end ---- */

static void job_cleaned(ManagedRun *mr, size_t job) {
        JobCtx *jc = job_ctx(mr, job);
        RunActions actions = {};

        /* The slice is empty: every shim has exited; this only reaps those the loop has not yet. */
        for (size_t i = 0; i < mr->run->jobs[job].def->n_steps; i++)
                jc->steps[i] = step_process_free(jc->steps[i]);
        jc->files_fd = safe_close(jc->files_fd);
        if (jc->files_dir) {
                (void) rm_rf_at(AT_FDCWD, jc->files_dir);
                jc->files_dir = mfree(jc->files_dir);
        }
        {
                _cleanup_free_ char *ws = strdupf(
                        "%s/%s", mr->run->workspace_root, mr->run->jobs[job].def->id);
                if (ws)
                        (void) rm_rf_at(AT_FDCWD, ws);
        }

        if (run_job_cleaned(mr->run, job, now(), &actions) >= 0)
                process(mr, &actions);
        run_actions_done(&actions);
        kick_all(mr->manager);
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

static bool is_shim(JobCtx *jc, pid_t pid) {
        for (size_t i = 0; i < jc->mr->run->jobs[jc->index].def->n_steps; i++)
                if (jc->steps[i] && step_process_shim(jc->steps[i])->pid == pid)
                        return true;
        return false;
}

/* Logs each process the job's steps left behind, then kills them all with the slice. */
static int on_clean_job(sd_event_source *s, void *userdata) {
        JobCtx *jc = userdata;
        ManagedRun *mr = jc->mr;
        const RunJob *j = &mr->run->jobs[jc->index];
        _cleanup_free_ char *slice = NULL, *path = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n_pids = 0;
        unsigned orphans = 0;
        int r;

        jc->clean_source = sd_event_source_disable_unref(jc->clean_source);

        r = run_job_slice_name(mr->run, jc->index, &slice);
        if (r >= 0)
                r = run_slice_cgroup_path(mr->id, j->def->number, &path);
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

        if (cgroup_list_processes(jc->slice_fd, &pids, &n_pids) >= 0)
                for (size_t i = 0; i < n_pids; i++) {
                        char comm_path[64], cmdline[256] = "";
                        _cleanup_free_ char *text = NULL;
                        int len;

                        if (is_shim(jc, pids[i]))
                                continue;
                        snprintf(comm_path, sizeof(comm_path), "/proc/%d/cmdline", (int) pids[i]);
                        len = read_full_file_at(AT_FDCWD, comm_path, 4096, &text);
                        if (len > 0) {
                                for (int k = 0; k < len - 1; k++)
                                        if (text[k] == '\0')
                                                text[k] = ' ';
                                snprintf(cmdline, sizeof(cmdline), "%s", text);
                        }
                        orphans++;
                        journal_orphan(mr, jc->index, pids[i], cmdline);
                }
        journal_job_slice_killed(mr, jc->index, n_pids, orphans);

        r = cgroup_kill(jc->slice_fd);
        if (r < 0)
                log_error_errno(
                        r, "Run %" PRIu64 ": failed to kill the cgroup of job %s: %m", mr->id, j->def->id);
        r = cgroup_watch_empty(mr->manager->event, jc->slice_fd, on_job_empty, jc, &jc->empty_source);
        if (r < 0) {
                log_error_errno(
                        r, "Run %" PRIu64 ": failed to watch the cgroup of job %s: %m", mr->id, j->def->id);
                jc->slice_fd = safe_close(jc->slice_fd);
                job_stop_slice(jc);
        }
        return 0;
}

/* ---- applying actions ---- */

static void on_run_slice_stopped(ScopeJob *sj, int error, const char *message, void *userdata) {
        ManagedRun *mr = userdata;

        mr->slice_stop = scope_job_free(mr->slice_stop);
        if (error < 0)
                log_warning("Run %" PRIu64 ": failed to stop its slice: %s", mr->id, message);
        mr->completed_announced = true;
        (void) save_now(mr);
        journal_change(mr, SIZE_MAX, SIZE_MAX);
        bus_emit_run_changed(mr);
        manager_update_status(mr->manager);
}

static void run_completed(ManagedRun *mr) {
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

/* ---- the cancellation's effects ---- */

static int step_cgroup_path(ManagedRun *mr, size_t job, size_t step, char **ret) {
        _cleanup_free_ char *slice = NULL;
        int r;

        r = run_slice_cgroup_path(mr->id, mr->run->jobs[job].def->number, &slice);
        if (r < 0)
                return r;
        *ret = strdupf("%s/%s", slice, mr->run->jobs[job].steps[step].unit);
        return *ret ? 0 : -ENOMEM;
}

/* SignalTarget=cgroup: every process of the scope but the shim, each through a pidfd that is checked
 * to still be a process of the scope after it was opened (a PID from cgroup.procs may be recycled). */
static unsigned signal_scope(ManagedRun *mr, size_t job, size_t step, int sig) {
        JobCtx *jc = job_ctx(mr, job);
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n_pids = 0;
        unsigned n = 0;

        if (step_cgroup_path(mr, job, step, &path) < 0)
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

static SignalSent signal_step(ManagedRun *mr, const RunAction *a) {
        StepProcess *p = job_ctx(mr, a->job)->steps[a->step];
        const PidRef *entry = p ? step_process_entry(p) : NULL;
        SignalSent sent = {};
        int r;

        if (!entry) {
                log_error("Run %" PRIu64 ": asked to signal step %zu of job %s, which has no entry process.",
                        mr->id, a->step + 1, mr->run->jobs[a->job].def->id);
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

static void on_step_empty(sd_event_source *s, void *userdata) {
        StepRef *ref = userdata;
        RunActions actions = {};

        ref->empty_source = sd_event_source_disable_unref(ref->empty_source);
        ref->scope_fd = safe_close(ref->scope_fd);
        ref->kill_to_empty_usec = clock_usec(CLOCK_MONOTONIC) - ref->killed_at;
        if (run_step_emptied(ref->mr->run, ref->job, ref->step, now(), &actions) >= 0)
                process(ref->mr, &actions);
        run_actions_done(&actions);
}

/* The kill itself: into ref, so that kill_step_follow_up() can log and watch afterwards. */
static void kill_step(ManagedRun *mr, const RunAction *a) {
        StepRef *ref = &job_ctx(mr, a->job)->refs[a->step];
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
                r = cgroup_kill(fd);
        }
        ref->kill_error = r;
        if (r >= 0)
                ref->scope_fd = TAKE_FD(fd);
}

static void kill_step_follow_up(ManagedRun *mr, const RunAction *a, RunActions *more) {
        StepRef *ref = &job_ctx(mr, a->job)->refs[a->step];
        int r = ref->kill_error;

        journal_step_killed(mr, a->job, a->step, ref->kill_processes, a->usec);
        if (r >= 0)
                r = cgroup_watch_empty(
                        mr->manager->event, ref->scope_fd, on_step_empty, ref, &ref->empty_source);
        if (r >= 0)
                return;
        ref->scope_fd = safe_close(ref->scope_fd);
        /* No scope (it is gone: empty), or it cannot be watched: the job's end kills and waits for
         * the whole slice anyway, so the step need not hang here. */
        if (r != -ENOENT)
                log_error_errno(r, "Run %" PRIu64 ": failed to kill the scope of step %zu of job %s: %m",
                        mr->id, a->step + 1, mr->run->jobs[a->job].def->id);
        (void) run_step_emptied(mr->run, a->job, a->step, now(), more);
}

static void kill_run(ManagedRun *mr, const RunAction *a) {
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
                r = cgroup_kill(fd);
        }
        if (r < 0 && r != -ENOENT)
                log_error_errno(r, "Run %" PRIu64 ": failed to kill its slice: %m", mr->id);
        /* Each job's end waits for its slice to be empty. */
        journal_run_forced(mr, mr->force_reason, n, a->usec);
}

/* The run's one timer: its next deadline, whatever it is for (README, Cancellation). */
static int on_run_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ManagedRun *mr = userdata;
        RunActions actions = {};

        if (!mr->run)
                return 0;
        if (run_timers_due(mr->run, now(), &actions) < 0)
                log_oom();
        process(mr, &actions);
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

static unsigned job_budget(Manager *m) {
        if (m->config.max_parallel_jobs == 0)
                return UINT_MAX;
        return m->running_jobs >= m->config.max_parallel_jobs
                ? 0
                : m->config.max_parallel_jobs - m->running_jobs;
}

/* ---- the effects run_drive() calls ---- */

static RunTime op_now(void *userdata) {
        return now();
}

static unsigned op_room(void *userdata) {
        ManagedRun *mr = userdata;
        return job_budget(mr->manager);
}

static void op_signal_step(void *userdata, RunAction *a, RunActions *more) {
        ManagedRun *mr = userdata;
        job_ctx(mr, a->job)->refs[a->step].sent = signal_step(mr, a);
}

static void op_kill_step(void *userdata, RunAction *a, RunActions *more) {
        kill_step(userdata, a);
}

static void op_step_signalled(void *userdata, RunAction *a, RunActions *more) {
        ManagedRun *mr = userdata;
        SignalSent *sent = &job_ctx(mr, a->job)->refs[a->step].sent;

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
        ManagedRun *mr = userdata;
        JobCtx *jc = job_ctx(mr, a->job);
        int r;

        /* From a fresh loop iteration: never inside a step's own callback. */
        r = sd_event_add_defer(mr->manager->event, &jc->clean_source, on_clean_job, jc);
        if (r < 0)
                log_error_errno(r, "Failed to schedule the end of a job: %m");
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
        Manager *m = mr->manager;

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
                JobCtx *jc = job_ctx(mr, a->job);
                bool running = mr->run->jobs[a->job].status == RUN_STATUS_IN_PROGRESS;

                /* The parallel-jobs limit counts jobs from start to completion. */
                if (running != jc->counted) {
                        jc->counted = running;
                        if (running)
                                m->running_jobs++;
                        else
                                m->running_jobs--;
                }
                bus_emit_job_changed(mr, a->job);
        } else
                bus_emit_step_changed(mr, a->job, a->step);
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
};

static void process(ManagedRun *mr, RunActions *actions) {
        if (run_drive(mr->run, &driver_ops, mr, actions) < 0)
                log_oom();
        run_timer_arm(mr);
        manager_update_status(mr->manager);
}

static void kick(ManagedRun *mr) {
        RunActions actions = {};

        if (!mr->run || mr->run->status == RUN_STATUS_COMPLETED)
                return;
        process(mr, &actions);
        run_actions_done(&actions);
}

static void kick_all(Manager *m) {
        for (size_t i = 0; i < m->n_runs; i++)
                kick(m->runs[i]);
}

/* ---- creating and loading runs ---- */

static int managed_run_new(Manager *m, uint64_t id, ManagedRun **ret) {
        ManagedRun *mr = calloc(1, sizeof(*mr));

        if (!mr)
                return -ENOMEM;
        mr->manager = m;
        mr->id = id;
        *ret = mr;
        return 0;
}

static int managed_run_init_jobs(ManagedRun *mr) {
        mr->jobs = calloc(MAX(mr->run->n_jobs, 1U), sizeof(JobCtx));
        if (!mr->jobs)
                return -ENOMEM;
        for (size_t i = 0; i < mr->run->n_jobs; i++) {
                JobCtx *jc = &mr->jobs[i];
                size_t n = MAX(mr->run->jobs[i].def->n_steps, 1U);

                jc->mr = mr;
                jc->index = i;
                jc->files_fd = -EBADF;
                jc->slice_fd = -EBADF;
                jc->steps = calloc(n, sizeof(StepProcess *));
                jc->refs = calloc(n, sizeof(StepRef));
                if (!jc->steps || !jc->refs)
                        return -ENOMEM;
                for (size_t k = 0; k < n; k++)
                        jc->refs[k] = (StepRef){ .mr = mr, .job = i, .step = k, .scope_fd = -EBADF };
        }
        return 0;
}

static int contexts_new(
        Manager *m, uint64_t id, const char *by, ExprValue **ret_github, ExprValue **ret_runner) {
        _cleanup_(expr_value_unrefp) ExprValue *github = expr_value_new_object(),
                                               *runner = expr_value_new_object();
        char number[32], host[256] = "";
        struct utsname u;
        const char *arch = "X64";
        int r = 0;

        if (!github || !runner)
                return -ENOMEM;
        snprintf(number, sizeof(number), "%" PRIu64, id);
        if (uname(&u) >= 0)
                arch = streq(u.machine, "aarch64")          ? "ARM64"
                        : streq(u.machine, "x86_64")        ? "X64"
                        : strncmp(u.machine, "arm", 3) == 0 ? "ARM"
                                                            : "X86";
        (void) gethostname(host, sizeof(host) - 1);

#define SET(o, k, v) \
        do { \
                _cleanup_(expr_value_unrefp) ExprValue *_v = expr_value_new_stringz(v); \
                if (r >= 0) \
                        r = _v ? expr_object_set(o, k, strlen(k), _v) : -ENOMEM; \
        } while (0)
        SET(github, "run_number", number);
        SET(github, "event_name", "workflow_dispatch");
        SET(github, "actor", by);
        SET(runner, "os", "Linux");
        SET(runner, "arch", arch);
        SET(runner, "name", host);
        SET(runner, "environment", "self-hosted");
#undef SET
        if (r < 0)
                return r;
        *ret_github = TAKE_PTR(github);
        *ret_runner = TAKE_PTR(runner);
        return 0;
}

static int format_errors(const char *source, const WorkflowErrors *errors, char **ret) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < errors->n; i++)
                fprintf(f, "%s:%u:%u: %s\n", source, errors->errors[i].pos.line,
                        errors->errors[i].pos.column, errors->errors[i].message);
        if (fclose(f) != 0) {
                free(text);
                return -ENOMEM;
        }
        *ret = text;
        return 0;
}

/* A run is prepared in runs/.new-<id> and renamed to runs/<id> only when complete: a submit that
 * fails half-way (a full disk, no descriptors left) leaves nothing a later start or submit trips
 * over, and the id is free for the next submit. */
#define NEW_RUN_PREFIX ".new-"

int manager_submit(Manager *m, const char *source, const char *yaml, size_t len, const char *by,
        uint64_t *ret_id, char **ret_errors) {
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_(expr_value_unrefp) ExprValue *github = NULL, *runner = NULL;
        _cleanup_free_ char *workspace = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        char name[DECIMAL_STR_MAX(uint64_t)], tmp[STRLEN(NEW_RUN_PREFIX) + DECIMAL_STR_MAX(uint64_t)];
        ManagedRun *mr = NULL;
        RunActions actions = {};
        uint64_t id;
        int r;

        if (m->stopping)
                return -ESHUTDOWN;

        r = workflow_load(yaml, len, &w, &errors);
        if (r == -EINVAL) {
                r = format_errors(source, &errors, ret_errors);
                return r < 0 ? r : -EINVAL;
        }
        if (r < 0)
                return r;

        id = m->next_id;
        snprintf(name, sizeof(name), "%" PRIu64, id);
        snprintf(tmp, sizeof(tmp), NEW_RUN_PREFIX "%" PRIu64, id);
        workspace = strdupf("%s/work/r%" PRIu64, m->state_dir, id);
        if (!workspace)
                return -ENOMEM;
        /* Room in the table first: once the directory has its name, nothing may fail any more. */
        if (array_grow((void **) &m->runs, &m->allocated_runs, m->n_runs + 1, sizeof(ManagedRun *)) < 0)
                return -ENOMEM;

        (void) rm_rf_at(m->runs_fd, tmp); /* from an agent that died in the middle of a submit */
        if (mkdirat(m->runs_fd, tmp, 0750) < 0)
                return log_error_errno(-errno, "Failed to create the directory of run %" PRIu64 ": %m", id);
        dir_fd = openat(m->runs_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0 || mkdirat(dir_fd, "logs", 0750) < 0) {
                r = log_error_errno(-errno, "Failed to prepare the directory of run %" PRIu64 ": %m", id);
                goto fail;
        }
        (void) fchown(dir_fd, 0, m->admin_gid);
        r = write_file_atomic_at(dir_fd, "workflow.yml", yaml, len, 0640);
        if (r < 0) {
                log_error_errno(r, "Failed to save the workflow of run %" PRIu64 ": %m", id);
                goto fail;
        }

        r = managed_run_new(m, id, &mr);
        if (r >= 0)
                r = contexts_new(m, id, by, &github, &runner);
        if (r >= 0)
                r = run_new(id, source, w, workspace, github, runner, now(), &mr->run);
        if (r < 0)
                goto fail;
        mr->run->cancel = (RunCancelSettings){
                .interrupt_usec = m->config.interrupt_timeout_usec,
                .terminate_usec = m->config.terminate_timeout_usec,
                .force_usec = m->config.force_terminate_usec,
        };
        TAKE_PTR(w);
        r = managed_run_init_jobs(mr);
        if (r < 0)
                goto fail;
        r = write_state(mr, dir_fd);
        if (r < 0) {
                log_error_errno(r, "Failed to write the state of run %" PRIu64 ": %m", id);
                goto fail;
        }
        dir_fd = safe_close(dir_fd);
        if (renameat2(m->runs_fd, tmp, m->runs_fd, name, RENAME_NOREPLACE) < 0) {
                r = log_error_errno(-errno, "Failed to create run %" PRIu64 ": %m", id);
                if (r == -EEXIST)
                        m->next_id = id + 1; /* not ours: never try this id again */
                goto fail;
        }
        (void) managed_run_add(m, mr); /* cannot fail: room was made above */

        journal_run_submitted(mr, by);
        bus_emit_run_changed(mr);
        process(mr, &actions);
        run_actions_done(&actions);

        *ret_id = id;
        return 0;

fail:
        managed_run_free(mr);
        /* Removed name by name with the descriptor at hand: the failure may well have been the lack
         * of another one (rm_rf_at() needs a few). */
        if (dir_fd >= 0) {
                (void) unlinkat(dir_fd, "workflow.yml", 0);
                (void) unlinkat(dir_fd, "state.json", 0);
                (void) unlinkat(dir_fd, "logs", AT_REMOVEDIR);
                dir_fd = safe_close(dir_fd);
        }
        if (unlinkat(m->runs_fd, tmp, AT_REMOVEDIR) < 0 && errno != ENOENT)
                (void) rm_rf_at(m->runs_fd, tmp);
        return r;
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

/* ---- taking over from an earlier agent (README, "Restarts") ---- */

typedef struct Adoption {
        FdStore store;
        ManagedRun **runs; /* taken over, to be resumed once all are loaded */
        size_t n_runs, allocated;
        unsigned steps, ended, overdue;
} Adoption;

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

/* The run's state as the core left it, from run-state.json and workflow.yml. NULL *ret_why: taken. */
static int adopt_run_state(Manager *m, uint64_t id, int dir_fd, Run **ret, char **ret_why) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        _cleanup_free_ char *text = NULL, *yaml = NULL, *error = NULL;
        json_object *boot;
        int r;

        *ret_why = NULL;
        r = read_full_file_at(dir_fd, "run-state.json", STATE_MAX_SIZE, &text);
        if (r < 0)
                return asprintf(ret_why, "its run-state.json cannot be read: %s", strerror(-r)) < 0 ? -ENOMEM
                                                                                                    : 0;
        o = json_parse_state(text);
        if (!o || !json_object_is_type(o, json_type_object))
                return (*ret_why = strdup("its run-state.json is not a JSON object")) ? 0 : -ENOMEM;
        if (!json_object_object_get_ex(o, "boot_id", &boot) ||
                !json_object_is_type(boot, json_type_string) ||
                !streq(json_object_get_string(boot), m->boot_id))
                return (*ret_why = strdup("the machine was restarted while it ran (the boot ID changed)"))
                        ? 0
                        : -ENOMEM;
        r = read_full_file_at(dir_fd, "workflow.yml", WORKFLOW_MAX_SIZE, &yaml);
        if (r >= 0)
                r = workflow_load(yaml, (size_t) r, &w, &errors);
        if (r < 0)
                return (*ret_why = strdup("its workflow.yml no longer loads")) ? 0 : -ENOMEM;
        r = run_state_from_json(o, TAKE_PTR(w), ret, &error); /* takes the workflow, also on failure */
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return asprintf(ret_why, "its run-state.json is invalid: %s", strna(error)) < 0 ? -ENOMEM
                                                                                                : 0;
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
                process(ref->mr, &actions);
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

        if (!s->entry_running) {
                /* Handed to the previous agent, never started: its held shim ends with that agent's end
                 * of the control socket. Once its scope is gone too, the step starts afresh. */
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int scope_fd = -EBADF;

                pidref_done(&shim);
                pidref_done(&entry);
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
                                        process(mr, &actions);
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

static int adopt_run(Manager *m, uint64_t id, int dir_fd, Adoption *a, char **ret_why) {
        _cleanup_(run_freep) Run *run = NULL;
        ManagedRun *mr = NULL;
        RunTime t = now();
        int r;

        r = adopt_run_state(m, id, dir_fd, &run, ret_why);
        if (r < 0 || *ret_why)
                return r;
        if (array_grow((void **) &a->runs, &a->allocated, a->n_runs + 1, sizeof(ManagedRun *)) < 0)
                return -ENOMEM;
        r = managed_run_new(m, id, &mr);
        if (r < 0)
                return r;
        mr->run = TAKE_PTR(run);
        r = managed_run_init_jobs(mr);
        if (r >= 0)
                r = managed_run_add(m, mr);
        if (r < 0) {
                managed_run_free(mr);
                return r;
        }
        for (size_t j = 0; j < mr->run->n_jobs; j++) {
                const RunJob *job = &mr->run->jobs[j];

                /* Counted before anything resumes, so that no run starts jobs past MaxParallelJobs=. */
                if (job->status == RUN_STATUS_IN_PROGRESS) {
                        mr->jobs[j].counted = true;
                        m->running_jobs++;
                }
        }
        /* A stage that fell due while no agent was there is carried out at once: process() arms the
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
                if (job->phase == RUN_JOB_CLEANUP && !mr->jobs[j].clean_source &&
                        sd_event_add_defer(m->event, &mr->jobs[j].clean_source, on_clean_job, &mr->jobs[j]) <
                                0)
                        log_oom();
        }
        if (mr->run->status == RUN_STATUS_COMPLETED)
                run_completed(mr);
        else {
                process(mr, &actions);
                run_actions_done(&actions);
        }
}

int manager_load_runs(Manager *m) {
        _cleanup_close_ int fd = -EBADF;
        Adoption a = {};
        uint64_t inactive_since = 0;
        DIR *d;
        struct dirent *de;
        int r;

        r = fdstore_load(&a.store);
        if (r < 0)
                log_warning_errno(r, "Cannot read the descriptors the previous agent stored: %m");

        fd = dup(m->runs_fd);
        if (fd < 0)
                return -errno;
        d = fdopendir(TAKE_FD(fd));
        if (!d)
                return -errno;
        rewinddir(d);
        while ((de = readdir(d))) {
                _cleanup_free_ char *text = NULL, *slice = NULL, *why = NULL;
                _cleanup_close_ int dir_fd = -EBADF;
                ManagedRun *mr = NULL;
                json_object *status;
                char *end;
                uint64_t id;

                if (startswith(de->d_name, NEW_RUN_PREFIX)) {
                        /* A submit the previous agent did not finish: it never became a run. */
                        (void) rm_rf_at(m->runs_fd, de->d_name);
                        continue;
                }
                errno = 0;
                id = strtoull(de->d_name, &end, 10);
                if (errno != 0 || *end != '\0' || id == 0 || de->d_name[0] == '0')
                        continue;
                if (id >= m->next_id)
                        m->next_id = id + 1; /* taken, whatever becomes of it */
                dir_fd = openat(m->runs_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = dir_fd < 0 ? -errno : read_full_file_at(dir_fd, "state.json", STATE_MAX_SIZE, &text);
                if (r >= 0) {
                        json_object *o = json_parse_state(text);
                        r = o && json_object_is_type(o, json_type_object) &&
                                        json_object_object_get_ex(o, "status", &status)
                                ? 0
                                : -EBADMSG;
                        if (r >= 0 && !streq(json_object_get_string(status), "completed")) {
                                json_object_put(o);
                                r = adopt_run(m, id, dir_fd, &a, &why);
                                if (r < 0)
                                        goto fail;
                                if (!why)
                                        continue; /* taken over */
                                o = json_parse_state(text);
                                if (!o)
                                        r = -ENOMEM;
                        }
                        if (r >= 0 && managed_run_new(m, id, &mr) >= 0)
                                mr->json = o;
                        else
                                json_object_put(o);
                }
                if (r < 0 || !mr) {
                        if (r == -ENOMEM || (r >= 0 && !mr))
                                goto fail;
                        log_warning_errno(r, "Ignoring run %" PRIu64 ": cannot read its state.json: %m", id);
                        continue;
                }

                if (why) {
                        _cleanup_free_ char *message = NULL;

                        log_warning("Run %" PRIu64 " cannot be taken over: %s.", id, why);
                        kill_leftover_slice(m, id, why);
                        if (asprintf(&message,
                                    "runner-agent could not take the run over after a restart: %s", why) < 0)
                                message = NULL;
                        (void) run_json_mark_interrupted(mr->json, message ?: why, now_realtime());
                        (void) save_now(mr);
                        if (run_slice_name(id, &slice) >= 0)
                                (void) unit_stop(
                                        m->watcher, slice, on_leftover_slice_stopped, mr, &mr->slice_stop);
                }
                mr->completed_announced = true;
                if (managed_run_add(m, mr) < 0) {
                        managed_run_free(mr);
                        r = -ENOMEM;
                        goto fail;
                }
        }
        closedir(d);
        d = NULL;

        for (size_t i = 0; i < a.n_runs; i++)
                adopt_resume(m, a.runs[i], &a);
        if (a.n_runs > 0) {
                uint64_t t = clock_usec(CLOCK_MONOTONIC);

                if (unit_get_own_inactive_since(m->systemd_bus, &inactive_since) < 0 || inactive_since > t)
                        inactive_since = 0;
                journal_agent_readopted((unsigned) a.n_runs, a.steps, a.ended,
                        inactive_since > 0 ? t - inactive_since : 0, a.overdue);
                log_info("Took over %zu unfinished runs with %u running steps.", a.n_runs, a.steps);
        }
        r = 0;
fail:
        if (d)
                closedir(d);
        fdstore_done(&a.store); /* what no step took: descriptors of steps that ended */
        free(a.runs);
        return r;
}

/* ---- queries ---- */

static int find_job_number(ManagedRun *mr, const char *job, unsigned *ret) {
        json_object *jobs;

        if (mr->run) {
                const WorkflowJob *j = workflow_find_job(mr->run->workflow, job);
                if (!j)
                        return -ENOENT;
                *ret = j->number;
                return 0;
        }
        if (!json_object_object_get_ex(mr->json, "jobs", &jobs))
                return -ENOENT;
        for (size_t i = 0; i < json_object_array_length(jobs); i++) {
                json_object *o = json_object_array_get_idx(jobs, i), *id, *number;
                if (json_object_object_get_ex(o, "id", &id) && streq(json_object_get_string(id), job) &&
                        json_object_object_get_ex(o, "number", &number)) {
                        *ret = (unsigned) json_object_get_int(number);
                        return 0;
                }
        }
        return -ENOENT;
}

int manager_open_log(Manager *m, uint64_t id, const char *job, unsigned step) {
        ManagedRun *mr = manager_find_run(m, id);
        _cleanup_close_ int dir_fd = -EBADF;
        char path[64];
        unsigned number;
        int r, fd;

        if (!mr)
                return -ESRCH;
        r = find_job_number(mr, job, &number);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "logs/j%u-s%u.log", number, step);
        dir_fd = run_dir_open(m, id);
        if (dir_fd < 0)
                return dir_fd;
        fd = openat(dir_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* ---- stopping ---- */

int manager_cancel(Manager *m, uint64_t id, const char *by, bool force) {
        ManagedRun *mr = manager_find_run(m, id);
        RunActions actions = {};
        int r;

        if (!mr)
                return -ESRCH;
        if (!mr->run)
                return -EALREADY;
        r = run_cancel(mr->run, by, force, now(), &actions);
        if (r >= 0)
                process(mr, &actions);
        run_actions_done(&actions);
        /* On disk before the caller hears back: a cancel that was answered survives a crash of the
         * agent right after (README, "Restarts"). */
        if (r > 0)
                (void) save_now(mr);
        return r;
}

void manager_begin_stop(Manager *m) {
        if (m->stopping)
                return;
        m->stopping = true;
        /* The same sequence as runnerctl cancel, so that TimeoutStopSec= covers the force deadline. */
        for (size_t i = 0; i < m->n_runs; i++)
                if (m->runs[i]->run && m->runs[i]->run->status != RUN_STATUS_COMPLETED)
                        (void) manager_cancel(m, m->runs[i]->id, "runner-agent stopping", false);
        manager_update_status(m);
}

void manager_hand_over(Manager *m) {
        unsigned runs = 0, steps = 0;

        if (m->stopping)
                return;
        m->stopping = true;
        m->handing_over = true;
        for (size_t i = 0; i < m->n_runs; i++) {
                ManagedRun *mr = m->runs[i];

                if (!mr->run || mr->completed_announced)
                        continue;
                runs++;
                for (size_t j = 0; j < mr->run->n_jobs; j++)
                        steps += mr->run->jobs[j].phase == RUN_JOB_STEP;
                (void) save_now(mr);
        }
        journal_agent_handed_over(runs, steps);
        log_info("Restarting: %u runs with %u running steps go on for the next agent.", runs, steps);
        manager_update_status(m);
}

bool manager_stopped(Manager *m) {
        if (m->handing_over)
                return true;
        for (size_t i = 0; i < m->n_runs; i++) {
                ManagedRun *mr = m->runs[i];
                if (mr->slice_stop)
                        return false;
                if (mr->run && !mr->completed_announced)
                        return false;
        }
        return true;
}

void manager_update_status(Manager *m) {
        unsigned runs = 0, steps = 0;

        for (size_t i = 0; i < m->n_runs; i++) {
                const Run *run = m->runs[i]->run;
                if (!run || run->status == RUN_STATUS_COMPLETED)
                        continue;
                runs++;
                for (size_t j = 0; j < run->n_jobs; j++)
                        steps += run->jobs[j].phase == RUN_JOB_STEP;
        }
        (void) sd_notifyf(false, "STATUS=%s%u runs in progress, %u jobs and %u steps running",
                m->stopping ? "Stopping: " : "", runs, m->running_jobs, steps);
}

/* ---- the manager ---- */

int manager_new(sd_event *event, const Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        struct passwd *pw;
        struct group *gr;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        m->event = sd_event_ref(event);
        m->config = *config;
        m->runs_fd = -EBADF;
        m->next_id = 1;
        m->state_dir = strdup(getenv("RUNNER_AGENT_STATE_DIR") ?: RUNNER_STATE_DIR);
        m->runtime_dir = strdup(getenv("RUNTIME_DIRECTORY") ?: RUNNER_RUNTIME_DIR);
        m->shim_path = strdup(getenv("RUNNER_STEP_PATH") ?: RUNNER_LIBEXEC_DIR "/runner-step");
        if (!m->state_dir || !m->runtime_dir || !m->shim_path)
                return log_oom();
        /* RuntimeDirectory= may list several directories, separated by colons. */
        m->runtime_dir[strcspn(m->runtime_dir, ":")] = '\0';

        errno = 0;
        pw = getpwnam("runner");
        if (!pw)
                return log_error_errno(errno > 0 ? -errno : -ESRCH,
                        "User 'runner', which runs the steps, does not exist (systemd-sysusers creates it from runner-agent.conf).");
        m->step_uid = pw->pw_uid;
        m->step_gid = pw->pw_gid;
        m->step_home = strdup(pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
        errno = 0;
        gr = getgrnam("runner-admin");
        if (!gr)
                return log_error_errno(errno > 0 ? -errno : -ESRCH,
                        "Group 'runner-admin', whose members may use the agent, does not exist (systemd-sysusers creates it from runner-agent.conf).");
        m->admin_gid = gr->gr_gid;
        if (!m->step_home)
                return log_oom();

        {
                _cleanup_free_ char *text = NULL;
                size_t k = 0;

                r = read_full_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 64, &text);
                if (r < 0)
                        return log_error_errno(r, "Cannot read this boot's ID: %m");
                for (const char *c = text; *c && k < sizeof(m->boot_id) - 1; c++)
                        if (*c != '-' && *c != '\n')
                                m->boot_id[k++] = *c;
                m->boot_id[k] = '\0';
        }

        r = cgroup_get_root(&m->cgroot);
        if (r < 0)
                return log_error_errno(r, "No cgroup2 hierarchy found in /proc/self/mountinfo: %m");

        {
                _cleanup_free_ char *runs = strdupf("%s/runs", m->state_dir);
                if (!runs)
                        return log_oom();
                r = mkdir_p(runs, 0750, 0, m->admin_gid);
                if (r < 0)
                        return log_error_errno(r, "Failed to create %s: %m", runs);
                m->runs_fd = open(runs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (m->runs_fd < 0)
                        return log_error_errno(-errno, "Failed to open %s: %m", runs);
        }

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_runs; i++)
                managed_run_free(m->runs[i]);
        free(m->runs);
        unit_watcher_free(m->watcher);
        sd_bus_flush_close_unref(m->bus);
        sd_bus_flush_close_unref(m->systemd_bus);
        sd_event_unref(m->event);
        safe_close(m->runs_fd);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m->shim_path);
        free(m->cgroot);
        free(m->step_home);
        free(m);
        return NULL;
}

int manager_connect(Manager *m) {
        int r;

        r = bus_open_systemd(&m->systemd_bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to systemd: %m");
        r = sd_bus_attach_event(m->systemd_bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the systemd connection to the event loop: %m");
        r = unit_watcher_new(m->systemd_bus, &m->watcher);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to systemd's job signals: %m");

        r = sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = bus_api_add(m);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the system bus to the event loop: %m");
        r = sd_bus_request_name(m->bus, RUNNER_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to acquire the bus name " RUNNER_BUS_NAME ": %m");
        return 0;
}
