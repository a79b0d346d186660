/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The action store (README, "Actions"; action-store.h). The loop only queues operations and calls
 * back; unpacking, listing, removing and fetching from the mirror run on the action worker. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "action-name.h"
#include "action-store.h"
#include "fileio.h"
#include "fs-util.h"
#include "json-util.h"
#include "log.h"
#include "manager-internal.h"
#include "worker.h"

/* One git command of a fetch from the mirror may take this long; stopping the agent ends it at once. */
#define FETCH_TIMEOUT_MSEC (5 * 60 * 1000)
/* tar, when it unpacks what the caller has already checked; rm of an old tree. */
#define LOCAL_TIMEOUT_MSEC (10 * 60 * 1000)
#define ACTION_JSON_MAX (64U * 1024U)
/* The names of an archive's members, one a line: beyond this, the archive is refused. */
#define LIST_MAX (64U * 1024U * 1024U)
#define MESSAGE_MAX 300

typedef enum ActionOpKind {
        ACTION_OP_ADD,
        ACTION_OP_REMOVE,
        ACTION_OP_LIST,
        ACTION_OP_RESOLVE,
} ActionOpKind;

struct ActionOp {
        ActionOpKind kind;
        /* the loop's */
        ActionResolved resolved;
        ActionStoreDone done;
        void *userdata;
        bool cancelled;
        /* the worker's: copies, nothing the loop uses */
        char *store;  /* STATE_DIRECTORY/actions */
        int abort_fd; /* the manager's, readable once the agent stops; open while the worker lives */
        char *owner, *repo, *ref;
        char *commit; /* add: the commit the caller named */
        char *source; /* add: the source the caller named */
        char *by;
        int tar_fd;
        char *mirror; /* resolve: [Actions] Mirror=, or NULL */
        uid_t fetch_uid;
        gid_t fetch_gid;
        /* results */
        int error;
        char *message;
        char *dir, *out_commit;
        json_object *result;
};

static struct ActionOp *action_op_free(struct ActionOp *op) {
        if (!op)
                return NULL;
        free(op->store);
        free(op->owner);
        free(op->repo);
        free(op->ref);
        free(op->commit);
        free(op->source);
        free(op->by);
        safe_close(op->tar_fd);
        free(op->mirror);
        free(op->message);
        free(op->dir);
        free(op->out_commit);
        json_object_put(op->result);
        free(op);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ActionOp *, action_op_free);

_printf_(3, 4) static int op_fail(struct ActionOp *op, int error, const char *fmt, ...) {
        va_list ap;

        free(op->message);
        va_start(ap, fmt);
        if (vasprintf(&op->message, fmt, ap) < 0)
                op->message = NULL;
        va_end(ap);
        return error;
}

/* ---- processes: tar, git, rm ---- */

/* The environment of every command: nothing of the agent's, git without the system's or any user's
 * configuration, hooks, prompts or pagers (README, "Actions"). */
static char *const child_env[] = {
        (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        (char *) "LC_ALL=C",
        (char *) "HOME=/nonexistent",
        (char *) "GIT_CONFIG_NOSYSTEM=1",
        (char *) "GIT_CONFIG_GLOBAL=/dev/null",
        (char *) "GIT_TERMINAL_PROMPT=0",
        (char *) "GIT_ASKPASS=/bin/false",
        (char *) "SSH_ASKPASS=/bin/false",
        (char *) "GIT_SSH_COMMAND=ssh -o BatchMode=yes",
        (char *) "GIT_CONFIG_COUNT=3",
        (char *) "GIT_CONFIG_KEY_0=core.hooksPath",
        (char *) "GIT_CONFIG_VALUE_0=/dev/null",
        /* The fetch directory is the runner user's, below a directory of root's. */
        (char *) "GIT_CONFIG_KEY_1=safe.directory",
        (char *) "GIT_CONFIG_VALUE_1=*",
        (char *) "GIT_CONFIG_KEY_2=advice.detachedHead",
        (char *) "GIT_CONFIG_VALUE_2=false",
        NULL,
};

/* The last line of what a command wrote to stderr, without control characters, for a message. */
static char *last_line(int fd) {
        _cleanup_free_ char *text = NULL;
        char *line, *end;
        off_t size = lseek(fd, 0, SEEK_END);
        off_t from = size > 4096 ? size - 4096 : 0;
        ssize_t n;

        if (size <= 0)
                return NULL;
        text = malloc((size_t) (size - from) + 1);
        if (!text)
                return NULL;
        n = pread(fd, text, (size_t) (size - from), from);
        if (n <= 0)
                return NULL;
        text[n] = '\0';
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
                text[--n] = '\0';
        line = strrchr(text, '\n');
        /* tar's last line says only that it failed: the one before says why. */
        if (line && strstr(line, "Exiting with failure status")) {
                *line = '\0';
                line = strrchr(text, '\n');
        }
        line = line ? line + 1 : text;
        for (end = line; *end; end++)
                if ((unsigned char) *end < ' ' || *end == 0x7f)
                        *end = ' ';
        if (strlen(line) > MESSAGE_MAX)
                line[MESSAGE_MAX] = '\0';
        return strdup(line);
}

/* Runs argv (as the runner user when drop) in cwd (NULL: /), stdin from in_fd (< 0: /dev/null),
 * stdout to out_fd (< 0: /dev/null), in a process group of its own, killed with it when it takes
 * longer than timeout_msec or the agent stops. Returns its exit status (> 0: failed, and
 * *ret_error the last line of its stderr), or -ETIMEDOUT, -ECANCELED, -errno. */
static int run(const struct ActionOp *op, char *const argv[], const char *cwd, bool drop, int in_fd,
        int out_fd, int timeout_msec, char **ret_error) {
        _cleanup_close_ int err_fd = -EBADF, pidfd = -EBADF;
        char uid_arg[32], gid_arg[32];
        char *full[32];
        size_t n = 0;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none;
        pid_t pid;
        int status, r;

        if (drop) {
                snprintf(uid_arg, sizeof(uid_arg), "--reuid=%u", op->fetch_uid);
                snprintf(gid_arg, sizeof(gid_arg), "--regid=%u", op->fetch_gid);
                full[n++] = (char *) "setpriv";
                full[n++] = uid_arg;
                full[n++] = gid_arg;
                full[n++] = (char *) "--clear-groups";
                full[n++] = (char *) "--";
        }
        for (size_t i = 0; argv[i]; i++) {
                if (n >= ELEMENTSOF(full) - 1)
                        return -E2BIG;
                full[n++] = argv[i];
        }
        full[n] = NULL;

        err_fd = memfd_create("runner-action-stderr", MFD_CLOEXEC);
        if (err_fd < 0)
                return -errno;
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        /* The agent blocks SIGCHLD, SIGTERM and SIGINT for its loop; the child must not inherit that. */
        sigemptyset(&none);
        (void) posix_spawnattr_setsigmask(&attr, &none);
        (void) posix_spawnattr_setpgroup(&attr, 0);
        (void) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
        (void) posix_spawn_file_actions_addchdir_np(&fa, cwd ?: "/");
        if (in_fd >= 0)
                (void) posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
        else
                (void) posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (out_fd >= 0)
                (void) posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
        else
                (void) posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        (void) posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
        r = posix_spawnp(&pid, full[0], &fa, &attr, full, child_env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return -r;

        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd >= 0) {
                struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN },
                        { .fd = op->abort_fd, .events = POLLIN } };

                do
                        r = poll(p, 2, timeout_msec);
                while (r < 0 && errno == EINTR);
                if (r <= 0 || (p[1].revents & POLLIN)) {
                        (void) kill(-pid, SIGKILL);
                        (void) kill(pid, SIGKILL);
                        r = r == 0 ? -ETIMEDOUT : -ECANCELED;
                } else
                        r = 0;
        } else
                r = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (r < 0)
                return r;
        r = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r != 0 && ret_error)
                *ret_error = last_line(err_fd);
        return r;
}

static int remove_tree(const struct ActionOp *op, const char *path) {
        char *argv[] = { (char *) "rm", (char *) "-rf", (char *) "--one-file-system", (char *) "--",
                (char *) path, NULL };

        return run(op, argv, NULL, false, -EBADF, -EBADF, LOCAL_TIMEOUT_MSEC, NULL) == 0 ? 0 : -EIO;
}

/* ---- unpacking into the store ---- */

static __thread int walk_error;

/* What an action's tree may hold: directories, regular files and symlinks, root's, not writable by
 * anyone else, without set-ID bits (README, "Actions"). The tree is below a directory only root can
 * enter, so nothing changes it during the walk. */
static int fix_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        mode_t mode;

        if (type == FTW_SL || type == FTW_SLN)
                mode = 0;
        else if (type == FTW_D || type == FTW_DP)
                mode = 0755;
        else if (type == FTW_F && S_ISREG(st->st_mode))
                mode = st->st_mode & 0111 ? 0755 : 0644;
        else {
                walk_error = type == FTW_F ? -EPERM : -EIO;
                return 1;
        }
        if (lchown(path, 0, 0) < 0 || (mode != 0 && chmod(path, mode) < 0)) {
                walk_error = -errno;
                return 1;
        }
        return 0;
}

static char *iso_time(void) {
        char buf[32];
        time_t t = time(NULL);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return NULL;
        return strdup(buf);
}

/* Every member of the tar in fd stays inside the directory it is unpacked in (tar itself drops a
 * leading / and refuses .. only with a warning or an error in the middle of unpacking). */
static int tar_check(struct ActionOp *op, int fd) {
        _cleanup_close_ int list_fd = -EBADF;
        _cleanup_free_ char *err = NULL, *text = NULL;
        char *argv[] = { (char *) "tar", (char *) "--list", (char *) "--absolute-names",
                (char *) "--quoting-style=c", (char *) "--file=-", NULL };
        char *line, *next;
        int r;

        list_fd = memfd_create("runner-action-list", MFD_CLOEXEC);
        if (list_fd < 0)
                return -errno;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        r = run(op, argv, NULL, false, fd, list_fd, LOCAL_TIMEOUT_MSEC, &err);
        if (r != 0)
                return op_fail(op, -EINVAL, "The action is not a tar archive tar can read (%s).",
                        r > 0 ? strna(err) : strerror(-r));
        if (lseek(list_fd, 0, SEEK_SET) < 0)
                return -errno;
        r = read_full_fd(list_fd, LIST_MAX, &text);
        if (r == -EFBIG)
                return op_fail(op, -EINVAL, "The action's archive has more than %u bytes of member names.",
                        LIST_MAX);
        if (r < 0)
                return r;
        for (line = text; *line; line = next) {
                next = strchrnul(line, '\n');
                if (*next)
                        *next++ = '\0';
                if (!action_tar_member_safe(line))
                        return op_fail(op, -EINVAL,
                                "The action's archive has a member outside its directory (%.200s): absolute names and .. are refused.",
                                line);
        }
        return 0;
}

/* Unpacks the tar in fd as the entry path (relative to the store) of name, with its action.json:
 * into .tmp, then in place by an atomic rename, or an atomic exchange with the entry it replaces. */
static int install(struct ActionOp *op, int fd, const char *path, const char *name, const char *commit,
        const char *source) {
        _cleanup_free_ char *staging = NULL, *tree = NULL, *err = NULL, *target = NULL;
        _cleanup_(json_object_putp) json_object *meta = NULL;
        _cleanup_free_ char *added = iso_time();
        const char *text;
        char *argv[] = { (char *) "tar", (char *) "--extract", (char *) "--file=-",
                (char *) "--no-same-owner", (char *) "--no-same-permissions",
                (char *) "--warning=no-timestamp", NULL };
        int r;

        staging = strdupf("%s/.tmp/add-XXXXXX", op->store);
        if (!staging || !mkdtemp(staging))
                return staging ? -errno : -ENOMEM;
        tree = strdupf("%s/tree", staging);
        target = strdupf("%s/%s", op->store, path);
        if (!tree || !target || !added) {
                r = -ENOMEM;
                goto fail;
        }
        if (mkdir(tree, 0755) < 0) {
                r = -errno;
                goto fail;
        }
        if (lseek(fd, 0, SEEK_SET) < 0) {
                r = -errno;
                goto fail;
        }
        r = run(op, argv, tree, false, fd, -EBADF, LOCAL_TIMEOUT_MSEC, &err);
        if (r != 0) {
                r = op_fail(op, r > 0 ? -EINVAL : r, "Unpacking the action failed: %s.",
                        r > 0 ? strna(err) : strerror(-r));
                goto fail;
        }
        walk_error = 0;
        /* Not FTW_MOUNT: nothing is mounted in a tree just unpacked, and on overlayfs a file's st_dev
         * is its layer's, not the directory's, so FTW_MOUNT would skip every file unseen. */
        if (nftw(tree, fix_entry, 16, FTW_PHYS) != 0) {
                r = walk_error == -EPERM
                        ? op_fail(op, -EINVAL,
                                  "The action's archive has a device file, FIFO or socket: refused.")
                        : (walk_error ?: -errno);
                goto fail;
        }

        meta = json_object_new_object();
        if (!meta || json_object_object_add(meta, "name", json_object_new_string(name)) < 0 ||
                json_object_object_add(meta, "commit", commit ? json_object_new_string(commit) : NULL) < 0 ||
                json_object_object_add(meta, "source", json_object_new_string(source ?: "")) < 0 ||
                json_object_object_add(meta, "added_at", json_object_new_string(added)) < 0 ||
                json_object_object_add(meta, "added_by", json_object_new_string(op->by ?: "")) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        text = json_object_to_json_string_ext(
                meta, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        {
                _cleanup_close_ int dfd = open(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                r = dfd < 0 ? -errno : write_file_atomic_at(dfd, "action.json", text, strlen(text), 0644);
        }
        if (r < 0)
                goto fail;
        if (chmod(staging, 0755) < 0) {
                r = -errno;
                goto fail;
        }

        /* OWNER/ and OWNER/REPO/ */
        for (char *slash = strchr(target + strlen(op->store) + 1, '/'); slash;
                slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                r = mkdir(target, 0755) < 0 && errno != EEXIST ? -errno : 0;
                *slash = '/';
                if (r < 0)
                        goto fail;
        }
        if (renameat2(AT_FDCWD, staging, AT_FDCWD, target, RENAME_NOREPLACE) < 0) {
                if (errno != EEXIST) {
                        r = -errno;
                        goto fail;
                }
                /* Jobs see the old tree or the new one, never neither; the old is then removed. */
                if (renameat2(AT_FDCWD, staging, AT_FDCWD, target, RENAME_EXCHANGE) < 0) {
                        r = -errno;
                        goto fail;
                }
                (void) remove_tree(op, staging);
        }
        return 0;
fail:
        (void) remove_tree(op, staging);
        return r;
}

/* Stores the tar under the ref and, for a tag or branch whose commit is known, under the commit too. */
static int install_both(struct ActionOp *op, int fd, const char *commit, const char *source) {
        const char *refs[2] = { op->ref, commit && !streq(commit, op->ref) ? commit : NULL };
        int r;

        op->result = json_object_new_array();
        if (!op->result)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(refs) && refs[i]; i++) {
                _cleanup_free_ char *path = NULL, *name = NULL;

                r = action_store_path(op->owner, op->repo, refs[i], &path);
                if (r >= 0)
                        r = action_canonical_name(op->owner, op->repo, refs[i], &name);
                if (r < 0)
                        return r;
                r = install(op, fd, path, name, commit, source);
                if (r < 0)
                        return r;
                json_object_array_add(op->result, json_object_new_string(name));
        }
        return 0;
}

static int do_add(struct ActionOp *op) {
        int r = tar_check(op, op->tar_fd);

        if (r < 0)
                return r;
        return install_both(op, op->tar_fd, op->commit, op->source);
}

/* ---- lookup, fetch ---- */

/* The entry's tree and commit, or -ENOENT. */
static int lookup(struct ActionOp *op) {
        _cleanup_free_ char *path = NULL, *meta_path = NULL, *tree = NULL, *text = NULL;
        _cleanup_(json_object_putp) json_object *meta = NULL;
        json_object *v;
        struct stat st;
        int r;

        r = action_store_path(op->owner, op->repo, op->ref, &path);
        if (r < 0)
                return r;
        meta_path = strdupf("%s/%s/action.json", op->store, path);
        tree = strdupf("%s/%s/tree", op->store, path);
        if (!meta_path || !tree)
                return -ENOMEM;
        if (lstat(tree, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOENT;
        if (read_full_file_at(AT_FDCWD, meta_path, ACTION_JSON_MAX, &text) >= 0 &&
                (meta = json_tokener_parse(text)) && json_object_object_get_ex(meta, "commit", &v) && v &&
                json_object_is_type(v, json_type_string)) {
                op->out_commit = strdup(json_object_get_string(v));
                if (!op->out_commit)
                        return -ENOMEM;
        }
        op->dir = TAKE_PTR(tree);
        return 0;
}

/* A line a git command printed on stdout (rev-parse). */
static int git_line(struct ActionOp *op, const char *dir, char *const argv[], char **ret, char **ret_error) {
        _cleanup_close_ int out = memfd_create("runner-action-out", MFD_CLOEXEC);
        _cleanup_free_ char *text = NULL;
        int r;

        if (out < 0)
                return -errno;
        r = run(op, argv, dir, true, -EBADF, out, FETCH_TIMEOUT_MSEC, ret_error);
        if (r != 0)
                return r;
        if (lseek(out, 0, SEEK_SET) < 0)
                return -errno;
        r = read_full_fd(out, 4096, &text);
        if (r < 0)
                return r;
        text[strcspn(text, "\n")] = '\0';
        *ret = TAKE_PTR(text);
        return 0;
}

/* Fetches ref from url into the bare repository dir (as the runner user) and returns its commit. A tag
 * or a branch is fetched shallow; a commit too when the server allows it, else every branch and tag. */
static int fetch_one(
        struct ActionOp *op, const char *dir, const char *url, char **ret_commit, char **ret_error) {
        _cleanup_free_ char *peel = NULL, *commit = NULL;
        bool sha = action_ref_is_sha(op->ref);
        int r;

        peel = strdupf("%s^{commit}", sha ? op->ref : "FETCH_HEAD");
        if (!peel)
                return -ENOMEM;
        r = run(op,
                (char *[]){ (char *) "git", (char *) "fetch", (char *) "--quiet", (char *) "--depth=1",
                        (char *) "--no-tags", (char *) "--", (char *) url, op->ref, NULL },
                dir, true, -EBADF, -EBADF, FETCH_TIMEOUT_MSEC, ret_error);
        if (r != 0 && sha && r > 0) {
                free(*ret_error);
                *ret_error = NULL;
                r = run(op,
                        (char *[]){ (char *) "git", (char *) "fetch", (char *) "--quiet",
                                (char *) "--no-tags", (char *) "--", (char *) url,
                                (char *) "+refs/heads/*:refs/heads/*", (char *) "+refs/tags/*:refs/tags/*",
                                NULL },
                        dir, true, -EBADF, -EBADF, FETCH_TIMEOUT_MSEC, ret_error);
        }
        if (r != 0)
                return r;
        r = git_line(op, dir,
                (char *[]){ (char *) "git", (char *) "rev-parse", (char *) "--verify", (char *) "--quiet",
                        peel, NULL },
                &commit, ret_error);
        if (r != 0 || !action_ref_is_sha(commit))
                return r != 0 ? r : 1;
        *ret_commit = TAKE_PTR(commit);
        return 0;
}

static int do_fetch(struct ActionOp *op) {
        _cleanup_free_ char *dir = NULL, *plain = NULL, *git = NULL, *commit = NULL, *error = NULL,
                            *name = NULL, *lower_plain = NULL, *lower_git = NULL;
        _cleanup_close_ int tar = -EBADF;
        const char *url = NULL;
        size_t n_urls = 2;
        int r;

        r = action_canonical_name(op->owner, op->repo, op->ref, &name);
        if (r >= 0)
                r = action_mirror_urls(op->mirror, op->owner, op->repo, &plain, &git);
        if (r < 0)
                return r;
        /* The mirror's paths are case-sensitive, GitHub's names are not: as written in uses:, then in
         * lowercase (the store's own spelling, "owner/repo@ref"). */
        {
                _cleanup_free_ char *owner = strndup(name, strcspn(name, "/")),
                                    *repo = strndup(
                                            strchr(name, '/') + 1, strcspn(strchr(name, '/') + 1, "@"));

                if (!owner || !repo)
                        return -ENOMEM;
                if (!streq(owner, op->owner) || !streq(repo, op->repo)) {
                        r = action_mirror_urls(op->mirror, owner, repo, &lower_plain, &lower_git);
                        if (r < 0)
                                return r;
                        n_urls = 4;
                }
        }
        dir = strdupf("%s/.tmp/fetch-XXXXXX", op->store);
        if (!dir || !mkdtemp(dir))
                return dir ? -errno : -ENOMEM;
        /* Git runs as the runner user (no process of a job's), in a directory only it may enter: .tmp
         * is root's, mode 0711, so that git can reach its directory by its path but no one can list
         * .tmp. */
        if (chown(dir, op->fetch_uid, op->fetch_gid) < 0) {
                r = -errno;
                goto finish;
        }
        r = run(op,
                (char *[]){ (char *) "git", (char *) "init", (char *) "--quiet", (char *) "--bare", NULL },
                dir, true, -EBADF, -EBADF, FETCH_TIMEOUT_MSEC, &error);
        if (r != 0) {
                r = op_fail(op, r > 0 ? -EIO : r, "Cannot fetch %s from the mirror: git init failed (%s).",
                        name, r > 0 ? strna(error) : strerror(-r));
                goto finish;
        }
        for (size_t i = 0; i < n_urls; i++) {
                url = (const char *[]){ plain, git, lower_plain, lower_git }[i];
                error = mfree(error);
                r = fetch_one(op, dir, url, &commit, &error);
                if (r == 0 || r < 0)
                        break;
        }
        if (r != 0) {
                /* -ECANCELED: the agent is stopping, which op_done() says. */
                if (r < 0 && !IN_SET(r, -ENOMEM, -ECANCELED))
                        r = op_fail(op, r, "Fetching %s from %s failed: %s.", name, url,
                                r == -ETIMEDOUT ? "git took longer than 5 minutes" : strerror(-r));
                else if (r > 0)
                        r = op_fail(op, -ENOENT,
                                "Action %s is not in the action store, and the mirror [Actions] Mirror=%s does not have it (%s). "
                                "Add it with `runnerctl action add %s SOURCE` (a directory, a tarball or a git URL).",
                                name, op->mirror, strna(error), name);
                goto finish;
        }

        tar = memfd_create("runner-action-tar", MFD_CLOEXEC);
        if (tar < 0) {
                r = -errno;
                goto finish;
        }
        error = mfree(error);
        r = run(op,
                (char *[]){ (char *) "git", (char *) "archive", (char *) "--format=tar", (char *) "--",
                        commit, NULL },
                dir, true, -EBADF, tar, FETCH_TIMEOUT_MSEC, &error);
        if (r != 0) {
                r = op_fail(op, r > 0 ? -EIO : r,
                        "Cannot fetch %s from the mirror: git archive failed (%s).", name,
                        r > 0 ? strna(error) : strerror(-r));
                goto finish;
        }
        r = tar_check(op, tar);
        if (r >= 0)
                r = install_both(op, tar, commit, url);
        if (r >= 0)
                log_info("Fetched action %s (commit %s) from %s into the action store.", name, commit, url);
finish:
        (void) remove_tree(op, dir);
        return r;
}

static int do_resolve(struct ActionOp *op) {
        _cleanup_free_ char *name = NULL;
        int r;

        r = lookup(op);
        if (r != -ENOENT)
                return r;
        if (op->mirror) {
                r = do_fetch(op);
                if (r < 0)
                        return r;
                json_object_put(TAKE_PTR(op->result));
                return lookup(op);
        }
        r = action_canonical_name(op->owner, op->repo, op->ref, &name);
        if (r < 0)
                return r;
        return op_fail(op, -ENOENT,
                "Action %s is not in the action store (%s). An administrator adds it with `runnerctl action add %s SOURCE` "
                "(a directory, a tarball or a git URL), or sets [Actions] Mirror= in agent.conf to a git mirror to fetch it from.",
                name, op->store, name);
}

/* ---- remove, list ---- */

static int do_remove(struct ActionOp *op) {
        _cleanup_free_ char *path = NULL, *target = NULL, *holder = NULL, *moved = NULL;
        int r;

        r = action_store_path(op->owner, op->repo, op->ref, &path);
        if (r < 0)
                return r;
        target = strdupf("%s/%s", op->store, path);
        holder = strdupf("%s/.tmp/rm-XXXXXX", op->store);
        if (!target || !holder)
                return -ENOMEM;
        if (!mkdtemp(holder))
                return -errno;
        moved = strdupf("%s/entry", holder);
        if (!moved)
                r = -ENOMEM;
        /* Out of sight at once, then removed. */
        else if (rename(target, moved) < 0)
                r = errno == ENOENT ? 0 : -errno;
        else
                r = 1;
        (void) remove_tree(op, holder);
        if (r < 0)
                return r;
        /* OWNER/REPO/ and OWNER/ once empty. */
        for (int i = 0; i < 2; i++) {
                char *slash = strrchr(target, '/');

                *slash = '\0';
                if (rmdir(target) < 0)
                        break;
        }
        op->result = json_object_new_boolean(r > 0);
        return op->result ? 0 : -ENOMEM;
}

static int compare_names(const void *a, const void *b) {
        json_object *x = *(json_object *const *) a, *y = *(json_object *const *) b, *vx, *vy;

        json_object_object_get_ex(x, "name", &vx);
        json_object_object_get_ex(y, "name", &vy);
        return strcmp(json_object_get_string(vx) ?: "", json_object_get_string(vy) ?: "");
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* The names of dir's subdirectories that are entries (not starting with ., except for repositories). */
static int subdirs(const char *dir, bool dots, char ***ret) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        char **l = NULL;
        size_t n = 0, allocated = 0;
        struct dirent *de;

        if (!d)
                return errno == ENOENT ? (*ret = NULL, 0) : -errno;
        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, "..") || (!dots && de->d_name[0] == '.'))
                        continue;
                /* Some file systems do not fill d_type. */
                if (de->d_type == DT_UNKNOWN &&
                        fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISDIR(st.st_mode))
                        de->d_type = DT_DIR;
                if (de->d_type != DT_DIR)
                        continue;
                if (array_grow((void **) &l, &allocated, n + 1, sizeof(char *)) < 0 ||
                        !(l[n] = strdup(de->d_name))) {
                        if (l)
                                l[n] = NULL;
                        strv_free(l);
                        return -ENOMEM;
                }
                l[++n] = NULL;
        }
        *ret = l;
        return 0;
}

static void strv_freep(char ***l) {
        strv_free(*l);
}

static int do_list(struct ActionOp *op) {
        _cleanup_(strv_freep) char **owners = NULL;
        int r;

        op->result = json_object_new_array();
        if (!op->result)
                return -ENOMEM;
        r = subdirs(op->store, false, &owners);
        if (r < 0)
                return r;
        for (char **o = owners; o && *o; o++) {
                _cleanup_(strv_freep) char **repos = NULL;
                _cleanup_free_ char *odir = strdupf("%s/%s", op->store, *o);

                if (!odir || subdirs(odir, true, &repos) < 0)
                        continue;
                for (char **p = repos; p && *p; p++) {
                        _cleanup_(strv_freep) char **refs = NULL;
                        _cleanup_free_ char *rdir = strdupf("%s/%s", odir, *p);

                        if (!rdir || subdirs(rdir, false, &refs) < 0)
                                continue;
                        for (char **e = refs; e && *e; e++) {
                                _cleanup_free_ char *meta_path = strdupf("%s/%s/action.json", rdir, *e),
                                                    *text = NULL;
                                json_object *meta;

                                if (!meta_path ||
                                        read_full_file_at(AT_FDCWD, meta_path, ACTION_JSON_MAX, &text) < 0)
                                        continue;
                                meta = json_tokener_parse(text);
                                if (!meta || !json_object_is_type(meta, json_type_object)) {
                                        json_object_put(meta);
                                        continue;
                                }
                                json_object_array_add(op->result, meta);
                        }
                }
        }
        json_object_array_sort(op->result, compare_names);
        return 0;
}

/* ---- the worker and the loop ---- */

static int op_run(void *data) {
        struct ActionOp *op = data;

        switch (op->kind) {
        case ACTION_OP_ADD:
                return do_add(op);
        case ACTION_OP_REMOVE:
                return do_remove(op);
        case ACTION_OP_LIST:
                return do_list(op);
        case ACTION_OP_RESOLVE:
                return do_resolve(op);
        }
        return -EINVAL;
}

static void op_done(int result, void *data) {
        _cleanup_(action_op_freep) struct ActionOp *op = data;
        const char *message = op->message;

        if (result == -ECANCELED && !message)
                message = "runner-agent is stopping; try again once it is started again.";
        else if (result < 0 && !message) {
                (void) op_fail(op, result, "The action store failed: %s.", strerror(-result));
                message = op->message ?: strerror(-result);
        }
        if (op->cancelled)
                return;
        if (op->kind == ACTION_OP_RESOLVE)
                op->resolved(result < 0 ? result : 0, result < 0 ? NULL : op->dir,
                        result < 0 ? NULL : op->out_commit, result < 0 ? message : NULL, op->userdata);
        else
                op->done(result < 0 ? result : 0, result < 0 ? message : NULL,
                        result < 0 ? NULL : op->result, op->userdata);
}

static int op_new(Manager *m, ActionOpKind kind, const char *owner, const char *repo, const char *ref,
        struct ActionOp **ret) {
        _cleanup_(action_op_freep) struct ActionOp *op = NULL;

        if (!m->action_worker)
                return -ESHUTDOWN;
        if (owner && (!action_owner_valid(owner) || !action_repo_valid(repo) || !action_ref_valid(ref)))
                return -EINVAL;
        op = calloc(1, sizeof(*op));
        if (!op)
                return -ENOMEM;
        *op = (struct ActionOp){ .kind = kind,
                .tar_fd = -EBADF,
                .abort_fd = m->action_abort_fd,
                .fetch_uid = m->step_uid,
                .fetch_gid = m->step_gid };
        op->store = strdup(m->action_dir);
        if (!op->store)
                return -ENOMEM;
        if (owner) {
                op->owner = strdup(owner);
                op->repo = strdup(repo);
                op->ref = strdup(ref);
                if (!op->owner || !op->repo || !op->ref)
                        return -ENOMEM;
                /* A commit in either case is the same entry and the same fetch. */
                if (action_ref_is_sha(op->ref))
                        for (char *c = op->ref; *c; c++)
                                *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        }
        *ret = TAKE_PTR(op);
        return 0;
}

static int op_submit(Manager *m, struct ActionOp *op) {
        int r = worker_submit(m->action_worker, op_run, op_done, op);

        if (r < 0)
                action_op_free(op);
        return r;
}

int action_store_resolve(Manager *m, const char *owner, const char *repo, const char *ref, ActionResolved cb,
        void *userdata, ActionResolve **ret_handle) {
        struct ActionOp *op = NULL;
        int r;

        r = op_new(m, ACTION_OP_RESOLVE, owner, repo, ref, &op);
        if (r < 0)
                return r;
        op->resolved = cb;
        op->userdata = userdata;
        if (m->config.action_mirror[0]) {
                op->mirror = strdup(m->config.action_mirror);
                if (!op->mirror) {
                        action_op_free(op);
                        return -ENOMEM;
                }
        }
        r = op_submit(m, op);
        if (r < 0)
                return r;
        if (ret_handle)
                *ret_handle = op;
        return 0;
}

ActionResolve *action_resolve_cancel(ActionResolve *r) {
        if (r)
                r->cancelled = true;
        return NULL;
}

int action_store_add(Manager *m, const char *owner, const char *repo, const char *ref, const char *commit,
        const char *source, const char *by, int tar_fd, ActionStoreDone done, void *userdata) {
        struct ActionOp *op = NULL;
        int r;

        r = op_new(m, ACTION_OP_ADD, owner, repo, ref, &op);
        if (r < 0) {
                safe_close(tar_fd);
                return r;
        }
        op->tar_fd = tar_fd;
        op->done = done;
        op->userdata = userdata;
        op->commit = commit ? strdup(commit) : NULL;
        op->source = strdup(source);
        op->by = strdup(by);
        if ((commit && !op->commit) || !op->source || !op->by) {
                action_op_free(op);
                return -ENOMEM;
        }
        for (char *c = op->commit; c && *c; c++)
                *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        return op_submit(m, op);
}

int action_store_remove(Manager *m, const char *owner, const char *repo, const char *ref,
        ActionStoreDone done, void *userdata) {
        struct ActionOp *op = NULL;
        int r;

        r = op_new(m, ACTION_OP_REMOVE, owner, repo, ref, &op);
        if (r < 0)
                return r;
        op->done = done;
        op->userdata = userdata;
        return op_submit(m, op);
}

int action_store_list(Manager *m, ActionStoreDone done, void *userdata) {
        struct ActionOp *op = NULL;
        int r;

        r = op_new(m, ACTION_OP_LIST, NULL, NULL, NULL, &op);
        if (r < 0)
                return r;
        op->done = done;
        op->userdata = userdata;
        return op_submit(m, op);
}

static int sweep_tmp(void *data) {
        struct ActionOp *op = data;
        _cleanup_free_ char *tmp = strdupf("%s/.tmp", op->store);
        int r;

        if (!tmp)
                return -ENOMEM;
        r = remove_tree(op, tmp);
        if (r >= 0 && mkdir(tmp, 0711) < 0 && errno != EEXIST)
                r = -errno;
        return r;
}

static void swept_tmp(int r, void *data) {
        struct ActionOp *op = data;

        if (r < 0 && r != -ECANCELED)
                log_warning_errno(r, "Failed to empty %s/.tmp: %m", op->store);
        action_op_free(op);
}

int action_store_init(Manager *m) {
        struct ActionOp *op = NULL;
        int r;

        m->action_dir = strdupf("%s/actions", m->state_dir);
        if (!m->action_dir)
                return log_oom();
        /* Jobs read the trees: the store is 0755, its .tmp (what is being unpacked or fetched) 0711. */
        r = mkdir_p(m->action_dir, 0755, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", m->action_dir);
        m->action_abort_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->action_abort_fd < 0)
                return log_error_errno(-errno, "Failed to create an eventfd: %m");
        r = worker_new(m->event, true, &m->action_worker);
        if (r < 0)
                return log_error_errno(r, "Failed to start the action store's worker: %m");
        /* What an earlier agent left half-made, removed before anything else runs there. */
        r = op_new(m, ACTION_OP_LIST, NULL, NULL, NULL, &op);
        if (r < 0)
                return log_oom();
        r = worker_submit(m->action_worker, sweep_tmp, swept_tmp, op);
        if (r < 0) {
                action_op_free(op);
                return log_error_errno(r, "Failed to queue the action store's sweep: %m");
        }
        return 0;
}

void action_store_finish(Manager *m) {
        uint64_t one = 1;

        if (m->action_abort_fd >= 0)
                (void) !write(m->action_abort_fd, &one, sizeof(one));
        worker_cancel_queued(m->action_worker);
        m->action_worker = worker_free(m->action_worker);
}
