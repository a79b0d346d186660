/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Starting a step (README, Running workflows): its files (file commands, environment), runner-step's
 * command line, the held shim in the step's scope; and the shim's reports (started, exited, failed)
 * fed to the core. What depends on the kind of step is behind a StepKindOps. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup-parse.h"
#include "cgroup.h"
#include "fdstore.h"
#include "file-command.h"
#include "fileio.h"
#include "fs-util.h"
#include "journal.h"
#include "log.h"
#include "manager-internal.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The step's descriptors in systemd's store, under r<RUN>.j<J>.s<S>.{control,shim,entry}: what the
 * next agent needs to take the step over (README, "Restarts"). */
static const char *const step_fd_kinds[] = { "control", "shim", "entry" };

static void step_fds_store(StepRef *ref, StepProcess *p, const PidRef *entry) {
        unsigned job = ref->mr->run->jobs[ref->job].number,
                 step = ref->mr->run->jobs[ref->job].steps[ref->step].number;
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

void step_fds_forget(StepRef *ref) {
        unsigned job = ref->mr->run->jobs[ref->job].number,
                 step = ref->mr->run->jobs[ref->job].steps[ref->step].number;
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
                run_loop_drive(ref->mr, &actions);
        run_actions_done(&actions);
}

static int read_file_command(
        JobCtx *jc, unsigned number, const char *suffix, char **ret, size_t *ret_len, char **message) {
        char name[64];
        int r;

        snprintf(name, sizeof(name), "s%u.%s", number, suffix);
        r = read_user_file_at(jc->files_fd, name, jc->uid, FILE_COMMAND_MAX_SIZE, ret);
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

/* A step that failed may have been killed by the kernel's OOM killer, at the job's MemoryMax= (README,
 * "Steps are untrusted"): the step's entry itself (SIGKILL), or one of its processes, whose end the
 * entry reported in its exit code (a shell's 137). The job slice's memory.events counts its kills, and
 * one more than the job's steps have accounted for is this step's. Without the memory controller there
 * is no such file, and the step concludes as killed by signal 9 or with its exit code. */
static int job_oom_kills(ManagedRun *mr, size_t job, uint64_t *ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = run_slice_cgroup_path(mr->id, mr->run->jobs[job].number, &path);
        if (r < 0)
                return r;
        fd = cgroup_open(mr->manager->cgroot, path);
        if (fd < 0)
                return fd;
        r = read_full_file_at(fd, "memory.events", 4096, &text);
        if (r < 0)
                return r;
        return cgroup_memory_events_parse_oom_kill(text, ret);
}

/* The job's count as a step starts or is taken over: kills before it are not its own. */
void step_oom_baseline(ManagedRun *mr, size_t job) {
        uint64_t kills;

        if (job_oom_kills(mr, job, &kills) >= 0)
                job_ctx(mr, job)->oom_kills = kills;
}

static char *oom_message(ManagedRun *mr, size_t job, int code, int sig) {
        JobCtx *jc = job_ctx(mr, job);
        _cleanup_free_ char *limit = NULL;
        uint64_t kills;

        /* Counted at every step's end, a success's too, so that no kill is blamed on a later step. */
        if (job_oom_kills(mr, job, &kills) < 0 || kills <= jc->oom_kills)
                return NULL;
        jc->oom_kills = kills;
        /* Killed by SIGKILL, or failed by its exit code; a step that ended by another signal, or
         * succeeded, was not ended by the OOM kill that happened in its time. */
        if (!(sig == SIGKILL || (sig == 0 && code != 0)))
                return NULL;
        if (mr->manager->config.job_memory_max == CONFIG_INFINITY)
                limit = strdup("the machine ran out of memory");
        else
                limit = strdupf("its job used all of its memory (MemoryMax=%" PRIu64
                                "M in [Job] of agent.conf)",
                        mr->manager->config.job_memory_max >> 20);
        if (!limit)
                return NULL;
        if (sig == SIGKILL)
                return strdupf("The step was killed by the kernel's OOM killer: %s.", limit);
        return strdupf(
                "A process of the step was killed by the kernel's OOM killer: %s. The step exited with "
                "code %d.",
                limit, code);
}

/* runner-step's annotations file (README, "Workflow commands"): a regular file of root's in the run's
 * logs directory, no symlink followed, bounded. Missing: none. */
static int read_annotations(
        ManagedRun *mr, unsigned job_number, unsigned number, char **ret, size_t *ret_len) {
        _cleanup_close_ int dir_fd = -EBADF, fd = -EBADF;
        char name[64];
        struct stat st;
        ssize_t n;

        *ret = NULL;
        *ret_len = 0;
        dir_fd = run_dir_open(mr->manager, mr->id);
        if (dir_fd < 0)
                return dir_fd;
        snprintf(name, sizeof(name), "logs/j%u-s%u.annotations", job_number, number);
        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_uid != 0)
                return -EPERM;
        n = read_full_fd(fd, ANNOTATIONS_FILE_MAX, ret);
        if (n < 0)
                return (int) n;
        *ret_len = (size_t) n;
        return 0;
}

/* ::add-mask:: in a step: masked in the job's later steps too. > 0: a value new to the job. */
static int job_add_mask(StepRef *ref, const char *value, size_t len) {
        int r;

        r = run_job_add_mask(ref->mr->run, ref->job, value, len);
        if (r == -E2BIG) {
                JobCtx *jc = job_ctx(ref->mr, ref->job);

                if (!jc->masks_full)
                        log_warning(
                                "Run %" PRIu64 ", job %s: more than %u values or %u bytes masked with "
                                "::add-mask::; further values are masked only in the step that adds them",
                                ref->mr->id, ref->mr->run->jobs[ref->job].def->id, RUN_JOB_MASKS_MAX,
                                RUN_JOB_MASKS_SIZE_MAX);
                jc->masks_full = true;
                return 0;
        }
        return r;
}

/* Kept for a restarted agent with the run's secrets (never under the state directory). */
static void job_keep_masks(StepRef *ref, int r) {
        if (r > 0)
                r = secret_store_save(ref->mr);
        if (r < 0)
                log_warning_errno(r,
                        "Run %" PRIu64
                        ", job %s: cannot keep a value the step masked for the job's later steps: %m",
                        ref->mr->id, ref->mr->run->jobs[ref->job].def->id);
}

/* The values the step masked, as runner-step recorded them before its exit status: also those the
 * control socket did not carry (the agent was away and systemd dropped the socket, or it was full).
 * The record goes once they are kept, so that an agent that dies before reads it again. */
static void step_take_masked(StepRef *ref) {
        ManagedRun *mr = ref->mr;
        const RunJob *j = &mr->run->jobs[ref->job];
        unsigned number = j->steps[ref->step].number;
        MaskList l = {};
        bool new = false;
        int r, err = 0;

        r = secret_store_read_masked(mr->manager, mr->id, j->number, number, &l);
        if (r < 0)
                err = r;
        for (size_t i = 0; i < l.n; i++) {
                r = job_add_mask(ref, l.values[i], l.lens[i]);
                if (r > 0)
                        new = true;
                else if (r < 0)
                        err = r;
                explicit_bzero(l.values[i], l.lens[i]);
        }
        mask_list_done(&l);
        if (new)
                job_keep_masks(ref, 1); /* one save for all */
        if (err < 0)
                log_warning_errno(err,
                        "Run %" PRIu64 ": cannot take the values step %u of job %s masked; those the agent "
                        "did not get from it are masked in that step only: %m",
                        mr->id, number, j->def->id);
        secret_store_forget_masked(mr->manager, mr->id, j->number, number);
}

void on_step_exited(StepProcess *p, int code, int sig, void *userdata) {
        StepRef *ref = userdata;
        JobCtx *jc = job_ctx(ref->mr, ref->job);
        unsigned number = ref->mr->run->jobs[ref->job].steps[ref->step].number;
        _cleanup_free_ char *output = NULL, *env = NULL, *path = NULL, *state = NULL, *message = NULL,
                            *annotations = NULL, *oom = NULL;
        RunStepResult res = { .exit_code = code, .exit_signal = sig };
        RunActions actions = {};
        int r, r2;

        step_fds_forget(ref);
        step_take_masked(ref);
        res.message = oom = oom_message(ref->mr, ref->job, code, sig);
        r = read_file_command(jc, number, "output", &output, &res.output_len, &message);
        if (r >= 0)
                r = read_file_command(jc, number, "env", &env, &res.env_len, &message);
        if (r >= 0)
                r = read_file_command(jc, number, "path", &path, &res.path_len, &message);
        if (r >= 0)
                r = read_file_command(jc, number, "state", &state, &res.state_len, &message);
        res.state = state;
        res.output = output;
        res.env = env;
        res.path = path;
        r2 = read_annotations(
                ref->mr, ref->mr->run->jobs[ref->job].number, number, &annotations, &res.annotations_len);
        if (r2 < 0)
                log_warning_errno(r2,
                        "Run %" PRIu64 ", job %s, step %u: ignoring the step's annotations: %m", ref->mr->id,
                        ref->mr->run->jobs[ref->job].def->id, number);
        res.annotations = annotations;

        if (r < 0)
                r = run_step_failed(
                        ref->mr->run, ref->job, ref->step, message ?: "out of memory", now(), &actions);
        else
                r = run_step_exited(ref->mr->run, ref->job, ref->step, &res, now(), &actions);
        if (r >= 0)
                run_loop_drive(ref->mr, &actions);
        run_actions_done(&actions);
}

int step_cgroup_path(ManagedRun *mr, size_t job, size_t step, char **ret) {
        _cleanup_free_ char *slice = NULL;
        int r;

        r = run_slice_cgroup_path(mr->id, mr->run->jobs[job].number, &slice);
        if (r < 0)
                return r;
        *ret = strdupf("%s/%s", slice, mr->run->jobs[job].steps[step].unit);
        return *ret ? 0 : -ENOMEM;
}

void on_step_failed(StepProcess *p, int error, const char *message, void *userdata) {
        StepRef *ref = userdata;
        RunActions actions = {};
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;

        log_warning("Run %" PRIu64 ", job %s, step %u: %s", ref->mr->id,
                ref->mr->run->jobs[ref->job].def->id, ref->mr->run->jobs[ref->job].steps[ref->step].number,
                message);
        step_fds_forget(ref);
        step_take_masked(ref); /* the socket may have lost some; the exit status is all that is missing */
        /* Whatever still runs in the step's scope (an entry whose shim died or broke the protocol) is
         * no longer supervised: it must not run beside the job's next step. */
        if (step_cgroup_path(ref->mr, ref->job, ref->step, &path) >= 0 &&
                (fd = cgroup_open(ref->mr->manager->cgroot, path)) >= 0)
                (void) cgroup_kill(fd);
        if (run_step_failed(ref->mr->run, ref->job, ref->step, message, now(), &actions) >= 0)
                run_loop_drive(ref->mr, &actions);
        run_actions_done(&actions);
}

static void on_step_mask(StepProcess *p, const char *value, size_t len, void *userdata) {
        StepRef *ref = userdata;

        job_keep_masks(ref, job_add_mask(ref, value, len));
}

const StepCallbacks step_callbacks = {
        .started = on_step_started,
        .exited = on_step_exited,
        .failed = on_step_failed,
        .mask = on_step_mask,
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

/* The job's private /tmp, /var/tmp, /dev/shm (sticky, like the machine's) and home (its user's), in
 * <runtime>/r<RUN>/j<J>/private, root's 0700: reachable only through the binds runner-step makes in
 * the step's mount namespace (README, "Steps are untrusted"). The home is made last: its owner tells a
 * later agent which user the job has (job_user_recover()). */
static const struct {
        const char *name, *mount_point;
} private_dirs[] = {
        { "tmp", "/tmp" }, { "var-tmp", "/var/tmp" }, { "shm", "/dev/shm" },
        { "home", NULL }, /* over the home of the job's user */
};

static int job_prepare_private(ManagedRun *mr, size_t job, const char *files) {
        JobCtx *jc = job_ctx(mr, job);
        _cleanup_free_ char *private = strdupf("%s/private", files);
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!private)
                return -ENOMEM;
        r = mkdir_p(private, 0700, 0, 0);
        if (r < 0)
                return r;
        fd = open(private, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (size_t i = 0; i < ELEMENTSOF(private_dirs); i++) {
                bool home = !private_dirs[i].mount_point;

                if (mkdirat(fd, private_dirs[i].name, 0700) < 0 && errno != EEXIST)
                        return -errno;
                if (fchmodat(fd, private_dirs[i].name, home ? 0700 : 01777, 0) < 0 ||
                        fchownat(fd, private_dirs[i].name, home ? jc->uid : 0, home ? jc->uid : 0,
                                AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
        }
        return 0;
}

/* The job's directories: the workspace (its user's), and below the runtime directory one for the
 * agent's own files (root's) with the user's file-command directory and the private ones in it. */
/* GITHUB_EVENT_PATH: github.event as JSON, as on GitHub, the job's user's (README, "Contexts of a
 * run"). Written anew when a restarted agent prepares the job again. */
static int write_event_file(ManagedRun *mr, size_t job) {
        JobCtx *jc = job_ctx(mr, job);
        const ExprValue *event = expr_object_getz(mr->run->github, "event");
        _cleanup_free_ char *json = NULL;
        size_t len = 2;
        int r;

        if (event)
                r = expr_value_to_json(event, true, &json, &len);
        else
                r = (json = strdup("{}")) ? 0 : -ENOMEM;
        if (r < 0)
                return r;
        (void) unlinkat(jc->files_fd, "event.json", 0);
        return write_new_file_at(jc->files_fd, "event.json", json, len, 0600, jc->uid, jc->uid);
}

int job_prepare_dirs(ManagedRun *mr, size_t job, char **ret_workspace_job) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        const RunJob *j = &mr->run->jobs[job];
        _cleanup_free_ char *ws = NULL, *files = NULL, *tmp = NULL;
        int r;

        r = run_job_workspace(mr->run, job, &ws);
        if (r < 0)
                return r;
        if (jc->files_fd >= 0) {
                *ret_workspace_job = TAKE_PTR(ws);
                return 0;
        }

        r = job_user_acquire(mr, job);
        if (r < 0)
                return r;
        r = mkdir_p(mr->run->workspace_root, 0755, (uid_t) -1, (gid_t) -1);
        if (r >= 0)
                r = mkdir_p(ws, 0700, jc->uid, jc->uid);
        if (r < 0)
                return r;

        files = strdupf("%s/r%" PRIu64 "/j%u", m->runtime_dir, mr->id, j->number);
        tmp = strdupf("%s/r%" PRIu64 "/j%u/tmp", m->runtime_dir, mr->id, j->number);
        if (!files || !tmp)
                return -ENOMEM;
        /* 0711: the step user may reach its file-command files by name, and list nothing else. */
        r = mkdir_p(files, 0711, (uid_t) -1, (gid_t) -1);
        if (r >= 0)
                r = mkdir_p(tmp, 0700, jc->uid, jc->uid);
        if (r >= 0)
                r = job_prepare_private(mr, job, files);
        if (r < 0)
                return r;
        jc->files_fd = open(files, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (jc->files_fd < 0)
                return -errno;
        r = write_event_file(mr, job);
        if (r < 0) {
                jc->files_fd = safe_close(jc->files_fd);
                return r;
        }
        jc->files_dir = TAKE_PTR(files);
        *ret_workspace_job = TAKE_PTR(ws);
        return 0;
}

static int build_environ(
        ManagedRun *mr, size_t job, size_t step, const RunStepSpec *spec, char **ret, size_t *ret_len) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        unsigned number = mr->run->jobs[job].steps[step].number;
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
        fprintf(f, "GITHUB_STATE=%s/s%u.state%c", jc->files_dir, number, '\0');
        fprintf(f, "RUNNER_TEMP=%s/tmp%c", jc->files_dir, '\0');
        fprintf(f, "GITHUB_EVENT_PATH=%s/event.json%c", jc->files_dir, '\0');
        fprintf(f, "HOME=%s%cUSER=%s%cLOGNAME=%s%cLANG=C.UTF-8%c", m->step_home, '\0', jc->user, '\0',
                jc->user, '\0', '\0');
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

/* What the step masks in its output (README, "Secrets"), for runner-step --masks-fd: a sealed memfd,
 * so that the values are in no command line, environment or file. -EBADF: nothing to mask. */
static int masks_memfd(ManagedRun *mr, size_t job) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;
        int r;

        r = run_step_masks(mr->run, job, &text, &len);
        if (r < 0)
                return r;
        if (len == 0)
                return -EBADF;
        fd = memfd_create("runner-step-masks", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        for (size_t done = 0; done < len;) {
                ssize_t n = write(fd, text + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        explicit_bzero(text, len);
                        return r;
                }
                done += (size_t) n;
        }
        explicit_bzero(text, len);
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0 ||
                lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* ---- the kinds of step ---- */

/* run: the script in s<N>.sh, readable by the step's user, run by the step's shell command line. */
static int shell_prepare(ManagedRun *mr, size_t job, size_t step, const RunStepSpec *spec, char ***ret_argv,
        char **ret_message) {
        JobCtx *jc = job_ctx(mr, job);
        unsigned number = mr->run->jobs[job].steps[step].number;
        _cleanup_free_ char *script = NULL;
        char name[64];
        int r;

        snprintf(name, sizeof(name), "s%u.sh", number);
        r = write_new_file_at(
                jc->files_fd, name, spec->script, strlen(spec->script), 0600, jc->uid, jc->uid);
        if (r < 0) {
                *ret_message = strdupf("Failed to create the step's files: %s", strerror(-r));
                return r;
        }
        script = strdupf("%s/%s", jc->files_dir, name);
        if (!script)
                return -ENOMEM;
        r = run_shell_argv(spec->shell, script, ret_argv);
        if (r < 0)
                *ret_message = strdupf("Invalid shell command line '%s'", spec->shell);
        return r;
}

static const StepKindOps step_kind_shell = {
        .name = "run",
        .prepare = shell_prepare,
};

/* actions/checkout (README, "The run's source"): the agent's script, run as the job's user like a
 * run: step, reads the run's source from its stdin: a descriptor of the snapshot the agent kept, so
 * that only this step's process gets it, and the agent never unpacks it. */
static int checkout_open_stdin(ManagedRun *mr, char **ret_message) {
        _cleanup_close_ int dir_fd = -EBADF;
        int fd;

        if (!mr->run->source_format)
                return -EBADF; /* the script says there is no source */
        dir_fd = run_dir_open(mr->manager, mr->id);
        if (dir_fd < 0) {
                *ret_message = strdupf("Failed to open the run's directory: %s", strerror(-dir_fd));
                return dir_fd;
        }
        fd = openat(dir_fd, "source", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                *ret_message = strdupf("Failed to open the run's source: %m");
                return -errno;
        }
        return fd;
}

static const StepKindOps step_kind_checkout = {
        .name = "actions/checkout",
        .prepare = shell_prepare,
        .open_stdin = checkout_open_stdin,
};

/* The node binary for runs.using ([Actions] Node16= and so on, README, "Actions"): the one configured,
 * or node in the default PATH. */
static int node_binary(Manager *m, const char *using, char **ret) {
        const char *configured = streq(using, "node16") ? m->config.node16
                : streq(using, "node20")                ? m->config.node20
                                                        : m->config.node24;

        if (configured[0]) {
                *ret = strdup(configured);
                return *ret ? 0 : -ENOMEM;
        }
        for (const char *p = DEFAULT_PATH; *p;) {
                size_t n = strcspn(p, ":");
                _cleanup_free_ char *path = strdupf("%.*s/node", (int) n, p);

                if (!path)
                        return -ENOMEM;
                if (access(path, X_OK) >= 0) {
                        *ret = TAKE_PTR(path);
                        return 0;
                }
                p += n + (p[n] == ':');
        }
        return -ENOENT;
}

/* A JavaScript action (README, "Actions"): node runs its main, pre or post file, the entry process of
 * the step as a shell is for run: (GitHub's cancellation reference names node as such an entry). */
static int node_prepare(ManagedRun *mr, size_t job, size_t step, const RunStepSpec *spec, char ***ret_argv,
        char **ret_message) {
        _cleanup_free_ char *node = NULL;
        char **argv;
        int r;

        r = node_binary(mr->manager, spec->node, &node);
        if (r == -ENOENT) {
                *ret_message = strdupf(
                        "No node for '%s' actions: install node, or set [Actions] %c%s= in agent.conf.",
                        spec->node, 'N', spec->node + 1);
                return r;
        }
        if (r < 0)
                return r;
        argv = calloc(3, sizeof(char *));
        if (!argv)
                return -ENOMEM;
        argv[0] = TAKE_PTR(node);
        argv[1] = strdup(spec->script);
        if (!argv[1]) {
                strv_free(argv);
                return -ENOMEM;
        }
        *ret_argv = argv;
        return 0;
}

static const StepKindOps step_kind_node = {
        .name = "node",
        .prepare = node_prepare,
};

static const StepKindOps *step_kind_of(const RunStepSpec *spec) {
        return spec->checkout ? &step_kind_checkout : spec->node ? &step_kind_node : &step_kind_shell;
}

/* ---- the job's slice: its [Job] limits (README, "Steps are untrusted") ---- */

static void on_job_slice_started(ScopeJob *sj, int error, const char *message, void *userdata) {
        JobCtx *jc = userdata;

        jc->slice_start = scope_job_free(jc->slice_start);
        /* It exists already when a restarted agent goes on with a job between two steps: it has them. */
        if (error < 0 && error != -EEXIST)
                log_warning("Run %" PRIu64 ", job %s: the job's slice was not started with its limits: %s",
                        jc->mr->id, jc->mr->run->jobs[jc->index].def->id, message);
}

/* Sent before the first step's scope, on the same connection: systemd creates the slice with its limits
 * before the scope in it. */
static void job_slice_start(ManagedRun *mr, size_t job, const char *slice) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        const Config *c = &m->config;
        _cleanup_free_ char *description = NULL;
        int r;

        if (jc->slice_started)
                return;
        jc->slice_started = true;
        description = strdupf("runner-agent run %" PRIu64 ", job %s", mr->id, mr->run->jobs[job].def->id);
        r = slice_start(m->watcher, slice, description,
                &(SliceLimits){ .memory_max = c->job_memory_max,
                        .memory_high = c->job_memory_high,
                        .tasks_max = c->job_tasks_max,
                        .cpu_weight = c->job_cpu_weight,
                        .io_weight = c->job_io_weight },
                on_job_slice_started, jc, &jc->slice_start);
        if (r < 0)
                log_warning_errno(r,
                        "Run %" PRIu64 ", job %s: cannot start the job's slice with its limits: %m", mr->id,
                        mr->run->jobs[job].def->id);
}

/* ---- starting a step: the part every kind shares ---- */

/* The files of GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STATE. */
static const char *const step_file_commands[] = { "output", "env", "path", "state" };

/* The step's files, runner-step's command line (who runs the entry, where, with which environment,
 * where its output and exit status go, the journal fields of its lines, then the entry's argv from the
 * step's kind), and the shim started and held until the step's scope exists. */
int start_step(ManagedRun *mr, size_t job, size_t step, const RunStepSpec *spec, char **ret_message) {
        Manager *m = mr->manager;
        JobCtx *jc = job_ctx(mr, job);
        const RunJob *j = &mr->run->jobs[job];
        const RunStep *s = &j->steps[step];
        unsigned number = s->number;
        const StepKindOps *kind = step_kind_of(spec);
        _cleanup_free_ char *ws = NULL, *environ_text = NULL, *slice = NULL, *description = NULL;
        _cleanup_free_ char *environ_path = NULL, *workdir_path = NULL;
        _cleanup_close_ int masks_fd = -EBADF, stdin_fd = -EBADF;
        char **argv = NULL, **shim_argv = NULL, name[64];
        size_t environ_len = 0, n = 0, allocated = 0;
        StepRef *ref;
        int r;

        r = job_prepare_dirs(mr, job, &ws);
        if (r < 0) {
                *ret_message = strdupf("Failed to prepare the job's directories: %s", strerror(-r));
                return r;
        }
        step_oom_baseline(mr, job);

        /* The files the step writes to are made by us, empty, and given to the step's user: what we
         * read back later must be a file we made (read_user_file_at() checks). */
        r = 0;
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(step_file_commands); i++) {
                snprintf(name, sizeof(name), "s%u.%s", number, step_file_commands[i]);
                r = write_new_file_at(jc->files_fd, name, "", 0, 0600, jc->uid, jc->uid);
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

        environ_path = strdupf("%s/s%u.environ", jc->files_dir, number);
        if (!environ_path)
                return -ENOMEM;
        /* The working directory may name a secret: in a file of root's, not runner-step's command line,
         * which anyone may read in /proc. */
        snprintf(name, sizeof(name), "s%u.workdir", number);
        r = write_new_file_at(jc->files_fd, name, spec->working_directory, strlen(spec->working_directory),
                0600, (uid_t) -1, (gid_t) -1);
        if (r < 0) {
                *ret_message = strdupf("Failed to write the step's working directory: %s", strerror(-r));
                return r;
        }
        workdir_path = strdupf("%s/%s", jc->files_dir, name);
        if (!workdir_path)
                return -ENOMEM;
        r = kind->prepare(mr, job, step, spec, &argv, ret_message);
        if (r < 0)
                return r;
        if (kind->open_stdin) {
                stdin_fd = kind->open_stdin(mr, ret_message);
                if (stdin_fd < 0 && stdin_fd != -EBADF) {
                        strv_free(argv);
                        return stdin_fd;
                }
        }

        masks_fd = masks_memfd(mr, job);
        if (masks_fd < 0 && masks_fd != -EBADF) {
                strv_free(argv);
                *ret_message = strdupf(
                        "Failed to pass the secrets' masks to runner-step: %s", strerror(-masks_fd));
                return masks_fd;
        }

        r = strv_push(&shim_argv, &n, &allocated, strdup(m->shim_path));
        if (r >= 0 && masks_fd >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdup("--masks-fd=4"));
        if (r >= 0 && stdin_fd >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdup("--stdin-fd=5"));
        if (r >= 0 && run_step_debug(mr->run))
                r = strv_push(&shim_argv, &n, &allocated, strdup("--debug"));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--user=%u:%u", jc->uid, jc->uid));
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(private_dirs); i++)
                r = strv_push(&shim_argv, &n, &allocated,
                        strdupf("--bind=%s/private/%s:%s", jc->files_dir, private_dirs[i].name,
                                private_dirs[i].mount_point ?: m->step_home));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdup("--hide-processes"));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdup("--private-ipc"));
        if (r >= 0 && m->seccomp_path)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--seccomp=%s", m->seccomp_path));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--workdir-file=%s", workdir_path));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated, strdupf("--env-file=%s", environ_path));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated,
                        strdupf("--log=%s/runs/%" PRIu64 "/logs/j%u-s%u.log", m->state_dir, mr->id,
                                j->number, number));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated,
                        strdupf("--exit-status=%s/runs/%" PRIu64 "/logs/j%u-s%u.exit", m->state_dir, mr->id,
                                j->number, number));
        if (r >= 0) {
                _cleanup_free_ char *masked = NULL;

                /* Without it, values the step masks still reach the job through the control socket
                 * (README, "Workflow commands"). */
                if (secret_store_masked_path(m, mr->id, j->number, number, &masked) >= 0)
                        r = strv_push(&shim_argv, &n, &allocated, strdupf("--masked-file=%s", masked));
                else
                        log_warning("Run %" PRIu64
                                    ": cannot give step %u of job %s a record of the values it "
                                    "masks; a restart while it ends may lose them",
                                mr->id, number, j->def->id);
        }
        if (r >= 0 && m->config.max_step_log_size > 0)
                r = strv_push(&shim_argv, &n, &allocated,
                        strdupf("--max-log-size=%" PRIu64, m->config.max_step_log_size));
        if (r >= 0)
                r = strv_push(&shim_argv, &n, &allocated,
                        strdupf("--annotations=%s/runs/%" PRIu64 "/logs/j%u-s%u.annotations", m->state_dir,
                                mr->id, j->number, number));
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
        job_slice_start(mr, job, slice);
        ref = jc->refs[step];
        step_ref_done(ref);
        *ref = (StepRef){ .mr = mr, .job = job, .step = step, .scope_fd = -EBADF };

        r = step_process_start(m->event, m->watcher,
                &(StepParams){ .shim_argv = shim_argv,
                        .unit = s->unit,
                        .slice = slice,
                        .description = description,
                        .masks_fd = masks_fd,
                        .stdin_fd = stdin_fd },
                &step_callbacks, ref, &jc->steps[step]);
        strv_free(shim_argv);
        if (r < 0) {
                *ret_message = strdupf("Failed to start runner-step: %s", strerror(-r));
                return r;
        }
        return 0;
}
