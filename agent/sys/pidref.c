/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include "pidref.h"

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
