/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The run's source (README, "The run's source"): made here, by runnerctl as the user who runs it, and
 * handed to the agent as an open descriptor. The agent (root) never opens a path the user names, so
 * `--source` cannot make it read what the user could not. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "escape.h"
#include "macro.h"
#include "run-options.h"
#include "runnerctl.h"

extern char **environ;

void run_source_done(RunSource *s) {
        s->fd = safe_close(s->fd);
        s->sha = mfree(s->sha);
        s->ref = mfree(s->ref);
        s->repository = mfree(s->repository);
}

/* The snapshot is made in memory, in a memfd that no one else can open, and sealed before it is sent:
 * the agent takes only a sealed memfd (README, "The run's source"), which it can read knowing the
 * content is fixed and that no file system (FUSE, a network one) stands behind it that could leave it
 * waiting. Its memory is this process's until the agent has copied it. */
static int open_snapshot(void) {
        int fd = memfd_create("runner-source", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        return fd < 0 ? -errno : fd;
}

int spawn(char *const argv[], int out_fd, bool quiet, char **ret_out) {
        posix_spawn_file_actions_t fa;
        int pipefd[2] = { -EBADF, -EBADF }, status, r;
        pid_t pid;

        if (out_fd < 0 && pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0) {
                safe_close(pipefd[0]);
                safe_close(pipefd[1]);
                return -r;
        }
        (void) posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        (void) posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : pipefd[1], STDOUT_FILENO);
        if (quiet)
                (void) posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        safe_close(pipefd[1]);
        if (r != 0) {
                safe_close(pipefd[0]);
                return -r;
        }
        if (out_fd < 0) {
                char buf[4096];
                size_t len = 0;
                ssize_t n;

                while (len < sizeof(buf) - 1 &&
                        (n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) != 0) {
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                break;
                        len += (size_t) n;
                }
                safe_close(pipefd[0]);
                buf[len] = '\0';
                buf[strcspn(buf, "\n")] = '\0';
                if (ret_out)
                        *ret_out = strdup(buf);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (ret_out && !*ret_out && out_fd < 0)
                return -ENOMEM;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int snapshot_into_memfd(char *const argv[], RunSource *s, const char *failed, const char *hint) {
        int r;

        s->fd = open_snapshot();
        if (s->fd < 0) {
                fprintf(stderr, "runnerctl: cannot create a memory file for the run's source: %s\n",
                        strerror(-s->fd));
                return s->fd;
        }
        r = spawn(argv, s->fd, false, NULL);
        if (r != 0) {
                fprintf(stderr, "runnerctl: %s (%s)%s\n", failed, r < 0 ? strerror(-r) : "see above", hint);
                return -EIO;
        }
        if (fcntl(s->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                r = -errno;
                fprintf(stderr, "runnerctl: cannot seal the run's source: %s\n", strerror(-r));
                return r;
        }
        return 0;
}

static int git_line(const char *dir, char **ret, ...) {
        char *argv[16] = { (char *) "git", (char *) "-C", (char *) dir };
        size_t n = 3;
        va_list ap;
        char *a;

        va_start(ap, ret);
        while ((a = va_arg(ap, char *)) && n < ELEMENTSOF(argv) - 1)
                argv[n++] = a;
        va_end(ap);
        argv[n] = NULL;
        *ret = NULL;
        return spawn(argv, -EBADF, true, ret);
}

static int snapshot_git(const char *top, RunSource *s) {
        _cleanup_free_ char *ref = NULL, *url = NULL, *tag = NULL;
        char *argv[] = { (char *) "git", (char *) "-C", (char *) top, (char *) "bundle", (char *) "create",
                (char *) "--quiet", (char *) "-", (char *) "HEAD", NULL, (char *) "--tags", NULL };
        int r;

        r = git_line(top, &s->sha, "rev-parse", "--verify", "HEAD", NULL);
        if (r != 0 || !run_sha_valid(s->sha)) {
                fprintf(stderr,
                        "runnerctl: the git repository has no commit to make the run's source of (or give --source DIR or --no-source)\n");
                return -EINVAL;
        }
        /* The branch checked out, else a tag HEAD is at, as a push of it would have it. */
        if (git_line(top, &ref, "symbolic-ref", "-q", "HEAD", NULL) == 0 && run_ref_valid(ref))
                s->ref = TAKE_PTR(ref);
        else if (git_line(top, &tag, "describe", "--exact-match", "--tags", "HEAD", NULL) == 0 &&
                asprintf(&s->ref, "refs/tags/%s", tag) >= 0 && !run_ref_valid(s->ref))
                s->ref = mfree(s->ref);
        if (git_line(top, &url, "config", "--get", "remote.origin.url", NULL) != 0 ||
                run_repository_from_url(url, &s->repository) < 0)
                (void) run_repository_from_url(top, &s->repository);

        argv[8] = s->ref ?: (char *) "HEAD";
        r = snapshot_into_memfd(argv, s, "git bundle create failed", "; give --source DIR or --no-source");
        if (r < 0)
                return r;
        s->format = "git-bundle";
        return 0;
}

static int snapshot_dir(const char *dir, RunSource *s) {
        _cleanup_free_ char *e = escape_for_terminal(dir), *failed = NULL;
        char *argv[] = { (char *) "tar", (char *) "-C", (char *) dir, (char *) "-cf", (char *) "-",
                (char *) ".", NULL };
        _cleanup_close_ int dfd = -EBADF;
        struct stat st;
        int r;

        /* Opened as this user: what they cannot read, they cannot hand on (tar, as this user too,
         * refuses what is unreadable further down). */
        errno = 0;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fstat(dfd, &st) < 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "runnerctl: --source %s: %s\n", strna(e),
                        errno ? strerror(errno) : "not a directory");
                return -EINVAL;
        }
        if (asprintf(&failed, "--source %s: tar could not read it all", strna(e)) < 0) {
                failed = NULL;
                return -ENOMEM;
        }
        r = snapshot_into_memfd(argv, s, failed, "");
        if (r < 0)
                return r;
        s->format = "tar";
        return 0;
}

int run_source_make(const char *workflow, const char *dir, bool none, RunSource *ret) {
        _cleanup_(run_source_done) RunSource s = { .fd = -EBADF };
        _cleanup_free_ char *top = NULL, *where = NULL;
        int r;

        if (none) {
                *ret = s;
                s = (RunSource){ .fd = -EBADF };
                return 0;
        }
        if (dir)
                r = snapshot_dir(dir, &s);
        else if ((where = strdup(workflow)) &&
                git_line(dirname(where), &top, "rev-parse", "--show-toplevel", NULL) == 0 && top[0] == '/')
                r = snapshot_git(top, &s);
        else
                r = 0; /* not in a git work tree: no source */
        if (r < 0)
                return r;
        *ret = s;
        s = (RunSource){ .fd = -EBADF };
        return 0;
}
