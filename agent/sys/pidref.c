/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include "fileio.h"
#include "pidref.h"

#define PROC_STATUS_MAX (64U * 1024U)

/* The number after "key:" on its own line of a /proc text file; -ENODATA if there is none. */
static int proc_find_number(const char *text, const char *key, long *ret) {
        size_t n = strlen(key);

        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, key, n) == 0 && l[n] == ':') {
                        char *end;
                        long v;

                        errno = 0;
                        v = strtol(l + n + 1, &end, 10);
                        if (errno != 0 || end == l + n + 1 || !IN_SET(*end, '\n', '\0'))
                                return -EBADMSG;
                        *ret = v;
                        return 0;
                }
        return -ENODATA;
}

int pidref_set_pid(PidRef *pidref, pid_t pid) {
        int fd;

        if (pid <= 0)
                return -EINVAL;

        fd = pidfd_open(pid, 0);
        if (fd < 0)
                return -errno;

        pidref_done(pidref);
        *pidref = (PidRef){ .pid = pid, .fd = fd };
        return 0;
}

int pidref_from_pidfd(int fd, PidRef *ret) {
        char path[STRLEN("/proc/self/fdinfo/") + 12];
        _cleanup_free_ char *text = NULL;
        long pid;
        int r;

        if (fd < 0)
                return -EBADF;
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
        r = read_full_file_at(AT_FDCWD, path, PROC_STATUS_MAX, &text);
        if (r < 0)
                return r;
        /* Only pidfds have a "Pid:" line in their fdinfo; -1 (or 0, outside our PID namespace) once
         * the process has been reaped. */
        r = proc_find_number(text, "Pid", &pid);
        if (r == -ENODATA)
                return -EBADF;
        if (r < 0)
                return r;
        if (pid <= 0 || pid > INT32_MAX)
                return -ESRCH;
        *ret = (PidRef){ .pid = (pid_t) pid, .fd = fd };
        return 0;
}

int pidref_read_proc(const PidRef *pidref, const char *name, size_t max, char **ret) {
        char path[STRLEN("/proc//") + 12 + 32];
        _cleanup_free_ char *text = NULL;
        int r;

        if (!pidref_is_set(pidref))
                return -ESRCH;
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pidref->pid, name);
        r = read_full_file_at(AT_FDCWD, path, max, &text);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        /* Only if the process still lives did we read its own file and not a successor's. */
        r = pidref_verify(pidref);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(text);
        return 0;
}

int pidref_get_ppid(const PidRef *pidref, pid_t *ret) {
        _cleanup_free_ char *text = NULL;
        long ppid;
        int r;

        r = pidref_read_proc(pidref, "status", PROC_STATUS_MAX, &text);
        if (r < 0)
                return r;
        r = proc_find_number(text, "PPid", &ppid);
        if (r < 0)
                return r;
        *ret = (pid_t) ppid;
        return 0;
}

int pidref_fork(PidRef *ret) {
        PidRef p = PIDREF_NULL;
        pid_t pid;
        int r;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                return 0;

        r = pidref_set_pid(&p, pid);
        if (r < 0) {
                /* Cannot supervise it without a pidfd: do not leave it running. */
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }

        *ret = p;
        return 1;
}

int pidref_kill(const PidRef *pidref, int sig) {
        if (!pidref_is_set(pidref))
                return -ESRCH;
        if (pidfd_send_signal(pidref->fd, sig, NULL, 0) < 0)
                return -errno;
        return 0;
}

int pidref_wait_exit(const PidRef *pidref, int timeout_msec) {
        struct pollfd pfd;
        int k;

        if (!pidref_is_set(pidref))
                return -ESRCH;

        pfd = (struct pollfd){ .fd = pidref->fd, .events = POLLIN };
        do
                k = poll(&pfd, 1, timeout_msec);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        return k > 0;
}

int pidref_verify(const PidRef *pidref) {
        int r;

        r = pidref_wait_exit(pidref, 0);
        if (r < 0)
                return r;
        return r > 0 ? -ESRCH : 0;
}

int pidref_reap(const PidRef *pidref, siginfo_t *ret) {
        siginfo_t si = {};

        if (!pidref_is_set(pidref))
                return -ESRCH;

        for (;;) {
                if (waitid(P_PIDFD, (id_t) pidref->fd, &si, WEXITED) >= 0)
                        break;
                if (errno != EINTR)
                        return -errno;
        }

        if (ret)
                *ret = si;
        return 0;
}

void pidref_done(PidRef *pidref) {
        if (!pidref)
                return;
        pidref->fd = safe_close(pidref->fd);
        pidref->pid = 0;
}
