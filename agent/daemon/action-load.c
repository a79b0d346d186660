/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Loading the action of a uses: step (README, "Actions"), for RUN_ACTION_LOAD_ACTION: a local action
 * (./path) from the job's workspace, an action of the store copied into the job's own directory of
 * actions first, as GitHub copies it into _actions; then its action.yml parsed, and the answer given to
 * the core with run_step_action_loaded(). Everything read here is the job's user's: it is read as such
 * (read_user_file_at(), beneath the directory it belongs in). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "action-store.h"
#include "action.h"
#include "fileio.h"
#include "fs-util.h"
#include "log.h"
#include "manager-internal.h"
#include "worker.h"

/* The action.yml errors quoted in a step's message: the first few, the rest counted. */
#define LOAD_ERRORS_QUOTED 5U

struct ActionLoad {
        ManagedRun *mr;
        size_t job, step;
        ActionLoad *next, *prev; /* JobCtx.loads */
        ActionResolve *resolve;  /* the store's answer is awaited */
        bool on_worker;          /* the copy is under way */
        bool orphaned;           /* its job went away meanwhile: the copy's completion frees it */
        char *uses;              /* as written */
        char *store_dir;         /* the store's tree */
        char *dest;              /* the job's copy: <files>/actions/<owner>/<repo>/<ref> */
        char *staging;           /* where it is made: <files>/.copy-<step>, root's */
        char *subdir;            /* the action in it: owner/repo/PATH@ref, NULL: the root */
        uid_t uid;
};

static ActionLoad *action_load_free(ActionLoad *l) {
        if (!l)
                return NULL;
        action_resolve_cancel(l->resolve);
        free(l->uses);
        free(l->store_dir);
        free(l->dest);
        free(l->staging);
        free(l->subdir);
        free(l);
        return NULL;
}

static void load_unlink(ActionLoad *l) {
        JobCtx *jc = job_ctx(l->mr, l->job);

        if (l->prev)
                l->prev->next = l->next;
        else if (jc->loads == l)
                jc->loads = l->next;
        if (l->next)
                l->next->prev = l->prev;
        l->next = l->prev = NULL;
}

void job_ctx_cancel_loads(JobCtx *jc) {
        while (jc->loads) {
                ActionLoad *l = jc->loads;

                jc->loads = l->next;
                l->resolve = action_resolve_cancel(l->resolve);
                if (l->on_worker)
                        l->orphaned = true;
                else
                        action_load_free(l);
        }
}

/* Opens path (relative) below dir_fd without leaving it, symlinks inside it allowed. */
static int open_beneath(int dir_fd, const char *path, int flags) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        long fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));

        return fd < 0 ? -errno : (int) fd;
}

/* Reads and parses the action.yml (or action.yaml) in dir_fd, the job's user's. Returns 0, or < 0 with
 * *message saying why for the step's log. */
static int read_action(
        int dir_fd, uid_t uid, const char *what, Action **ret_action, char **ret_text, char **message) {
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        _cleanup_free_ char *text = NULL;
        const char *name = "action.yml";
        FILE *f;
        size_t size = 0;
        int r;

        r = read_user_file_at(dir_fd, name, uid, WORKFLOW_MAX_SIZE, &text);
        if (r == -ENOENT) {
                name = "action.yaml";
                r = read_user_file_at(dir_fd, name, uid, WORKFLOW_MAX_SIZE, &text);
        }
        if (r == -ENOENT) {
                *message = strdupf("Can't find 'action.yml' or 'action.yaml' for action '%s'.", what);
                return r;
        }
        if (r == -EFBIG) {
                *message = strdupf("%s/%s is larger than %u bytes.", what, name, WORKFLOW_MAX_SIZE);
                return r;
        }
        if (r < 0) {
                *message = strdupf("Failed to read %s/%s: %s", what, name, strerror(-r));
                return r;
        }
        r = action_load(text, (size_t) r, ret_action, &errors);
        if (r != -EINVAL) {
                if (r >= 0)
                        *ret_text = TAKE_PTR(text);
                return r;
        }
        f = open_memstream(message, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "%s/%s is not a valid action:", what, name);
        for (size_t i = 0; i < errors.n && i < LOAD_ERRORS_QUOTED; i++)
                fprintf(f, " %u:%u: %s%s", errors.errors[i].pos.line, errors.errors[i].pos.column,
                        errors.errors[i].message, i + 1 < MIN(errors.n, LOAD_ERRORS_QUOTED) ? ";" : "");
        if (errors.n > LOAD_ERRORS_QUOTED)
                fprintf(f, " (and %zu more)", errors.n - LOAD_ERRORS_QUOTED);
        if (fclose(f) != 0)
                return -ENOMEM;
        return -EINVAL;
}

static int loaded_action_new(
        Action *action, char *text, const char *dir, const WorkflowActionRef *ref, RunLoadedAction **ret) {
        RunLoadedAction *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        *a = (RunLoadedAction){ .n_ref = 1, .action = action, .text = text, .dir = strdup(dir) };
        if (ref->owner) {
                a->repository = strdupf("%s/%s", ref->owner, ref->repo);
                a->ref = strdup(ref->ref);
        }
        if (!a->dir || (ref->owner && (!a->repository || !a->ref))) {
                a->action = NULL;
                a->text = NULL;
                run_loaded_action_unref(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

/* The action in dir_fd (the job user's), found at dir: parsed, and the core told. */
static void answer_from(
        ManagedRun *mr, size_t job, size_t step, int dir_fd, const char *dir, RunActions *actions) {
        const WorkflowStep *d = mr->run->jobs[job].steps[step].def;
        _cleanup_(run_loaded_action_unrefp) RunLoadedAction *loaded = NULL;
        _cleanup_free_ char *message = NULL, *text = NULL;
        Action *action = NULL;
        int r;

        r = read_action(dir_fd, job_ctx(mr, job)->uid, d->uses, &action, &text, &message);
        if (r >= 0) {
                r = loaded_action_new(action, text, dir, &d->action, &loaded);
                if (r >= 0)
                        TAKE_PTR(text);
                else
                        action_free(action);
        }
        if (r == -ENOMEM && !message)
                message = strdup("Out of memory loading the action.");
        if (run_step_action_loaded(mr->run, job, step, loaded, message, now(), actions) < 0)
                log_warning("Run %" PRIu64 ": the action of job %s, step %u, was not awaited.", mr->id,
                        mr->run->jobs[job].def->id, mr->run->jobs[job].steps[step].number);
}

static void answer_error(ManagedRun *mr, size_t job, size_t step, const char *message, RunActions *actions) {
        (void) run_step_action_loaded(mr->run, job, step, NULL, message, now(), actions);
}

/* ---- an action of the store: copied into the job's directory of actions ---- */

static int spawn_wait(const char *path, char *const argv[]) {
        pid_t pid;
        int status, r;

        r = posix_spawn(&pid, path, NULL, NULL, argv, (char *[]){ NULL });
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* On the worker: the store's tree to <dest>, the job's user's, unless the job has it already (a second
 * step using the same action). Made in <files>, which only root may write to, given to the user there,
 * then renamed into place. Every directory above the copy is root's too: the job's processes (left
 * running by its earlier steps) cannot put a symlink where the agent writes. */
static int copy_action(void *data) {
        ActionLoad *l = data;
        _cleanup_free_ char *parent = NULL, *uid = NULL;
        struct stat st;
        int r;

        if (lstat(l->dest, &st) >= 0)
                return 0;
        parent = strdup(l->dest);
        uid = strdupf("%u:%u", l->uid, l->uid);
        if (!parent || !uid)
                return -ENOMEM;
        *strrchr(parent, '/') = '\0';
        /* 0711: the job's user reaches its copy by name, and lists nothing else. Root's, all of it: what
         * is made, copied and given away in here as root (cp follows a symlink at its destination, and
         * rm_rf_at() leaves one there) must not be a name the job's user can put there first. */
        r = mkdir_p(parent, 0711, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return r;
        (void) rm_rf_at(AT_FDCWD, l->staging);
        r = spawn_wait("/bin/cp",
                (char *[]){ (char *) "cp", (char *) "-R", (char *) "-P",
                        (char *) "--preserve=mode,timestamps", (char *) "--", l->store_dir, l->staging,
                        NULL });
        if (r >= 0)
                r = spawn_wait("/bin/chown",
                        (char *[]){ (char *) "chown", (char *) "-R", (char *) "-h", (char *) "--", uid,
                                l->staging, NULL });
        if (r >= 0 && rename(l->staging, l->dest) < 0)
                r = -errno;
        if (r < 0)
                (void) rm_rf_at(AT_FDCWD, l->staging);
        return r;
}

static void copied_action(int result, void *data) {
        ActionLoad *l = data;
        ManagedRun *mr = l->mr;
        RunActions actions = {};
        _cleanup_free_ char *message = NULL, *dir = NULL;
        _cleanup_close_ int root_fd = -EBADF, dir_fd = -EBADF;

        l->on_worker = false;
        if (l->orphaned) {
                action_load_free(l);
                return;
        }
        load_unlink(l);
        if (result < 0)
                message = strdupf(
                        "Failed to copy the action '%s' for the job: %s", l->uses, strerror(-result));
        else {
                root_fd = open(l->dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                dir_fd = root_fd < 0 ? -errno
                        : l->subdir  ? open_beneath(root_fd, l->subdir, O_RDONLY | O_DIRECTORY)
                                     : dup(root_fd);
                if (dir_fd < 0)
                        message = strdupf(
                                "The action '%s' has no directory '%s'.", l->uses, l->subdir ?: ".");
                else
                        dir = l->subdir ? strdupf("%s/%s", l->dest, l->subdir) : strdup(l->dest);
        }
        if (dir)
                answer_from(mr, l->job, l->step, dir_fd, dir, &actions);
        else
                answer_error(mr, l->job, l->step, message ?: "Out of memory loading the action.", &actions);
        action_load_free(l);
        run_loop_drive(mr, &actions);
        run_actions_done(&actions);
}

static void on_resolved(
        int error, const char *dir, const char *commit, const char *message, void *userdata) {
        ActionLoad *l = userdata;
        ManagedRun *mr = l->mr;
        RunActions actions = {};
        int r;

        l->resolve = NULL;
        if (error < 0) {
                load_unlink(l);
                answer_error(mr, l->job, l->step, message, &actions);
                action_load_free(l);
                run_loop_drive(mr, &actions);
                run_actions_done(&actions);
                return;
        }
        l->store_dir = strdup(dir);
        r = l->store_dir ? worker_submit(mr->manager->worker, copy_action, copied_action, l) : -ENOMEM;
        if (r < 0) {
                load_unlink(l);
                answer_error(mr, l->job, l->step, "Failed to queue the copy of the action.", &actions);
                action_load_free(l);
                run_loop_drive(mr, &actions);
                run_actions_done(&actions);
                return;
        }
        l->on_worker = true;
}

/* ---- RUN_ACTION_LOAD_ACTION ---- */

void step_load_action(ManagedRun *mr, size_t job, size_t step, RunActions *more) {
        JobCtx *jc = job_ctx(mr, job);
        const WorkflowStep *d = mr->run->jobs[job].steps[step].def;
        const WorkflowActionRef *ref = &d->action;
        _cleanup_free_ char *ws = NULL, *message = NULL;
        ActionLoad *l;
        int r;

        r = job_prepare_dirs(mr, job, &ws);
        if (r < 0) {
                message = strdupf("Failed to prepare the job's directories: %s", strerror(-r));
                return answer_error(mr, job, step, message ?: "Out of memory.", more);
        }

        if (!ref->owner) {
                /* ./path: in the workspace as the steps before left it. */
                _cleanup_close_ int ws_fd = -EBADF, dir_fd = -EBADF;
                _cleanup_free_ char *dir = NULL;
                const char *rel = ref->path + 2;

                ws_fd = open(ws, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (ws_fd < 0) {
                        message = strdupf("Failed to open the workspace: %m");
                        return answer_error(mr, job, step, message ?: "Out of memory.", more);
                }
                dir_fd = *rel ? open_beneath(ws_fd, rel, O_RDONLY | O_DIRECTORY) : dup(ws_fd);
                if (dir_fd < 0) {
                        message = strdupf(
                                "Can't find the local action '%s' in the workspace (%s); did a step check out the repository first (actions/checkout)?",
                                d->uses, strerror(errno));
                        return answer_error(mr, job, step, message ?: "Out of memory.", more);
                }
                dir = *rel ? strdupf("%s/%s", ws, rel) : strdup(ws);
                if (!dir)
                        return answer_error(mr, job, step, "Out of memory.", more);
                return answer_from(mr, job, step, dir_fd, dir, more);
        }

        l = calloc(1, sizeof(*l));
        if (!l)
                return answer_error(mr, job, step, "Out of memory.", more);
        *l = (ActionLoad){ .mr = mr, .job = job, .step = step, .uid = jc->uid };
        l->uses = strdup(d->uses);
        l->dest = strdupf("%s/actions/%s/%s/%s", jc->files_dir, ref->owner, ref->repo, ref->ref);
        l->staging = strdupf("%s/.copy-%u", jc->files_dir, mr->run->jobs[job].steps[step].number);
        if (ref->path)
                l->subdir = strdup(ref->path);
        if (!l->uses || !l->dest || !l->staging || (ref->path && !l->subdir)) {
                action_load_free(l);
                return answer_error(mr, job, step, "Out of memory.", more);
        }
        r = action_store_resolve(mr->manager, ref->owner, ref->repo, ref->ref, on_resolved, l, &l->resolve);
        if (r < 0) {
                message = strdupf(
                        "Failed to look the action '%s' up in the action store: %s", d->uses, strerror(-r));
                action_load_free(l);
                return answer_error(mr, job, step, message ?: "Out of memory.", more);
        }
        l->next = jc->loads;
        if (jc->loads)
                jc->loads->prev = l;
        jc->loads = l;
}
