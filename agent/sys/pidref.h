/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "macro.h"

/* A process as {pid, pidfd}. The PID is for humans and for interfaces that only take PIDs
 * (StartTransientUnit's PIDs=, logs); every signal and every wait goes through the pidfd, so a
 * recycled PID is never hit. */
typedef struct PidRef {
        pid_t pid;
        int fd;
} PidRef;

#define PIDREF_NULL ((PidRef){ .pid = 0, .fd = -EBADF })
#define TAKE_PIDREF(p) TAKE_GENERIC(p, PidRef, PIDREF_NULL)

static inline bool pidref_is_set(const PidRef *p) {
        return p && p->pid > 0 && p->fd >= 0;
}

/* Opens a pidfd for pid. Race-free only while pid cannot be recycled: for our own unreaped children,
 * or when the caller verifies the process afterwards (see pidref_verify()). */
int pidref_set_pid(PidRef *pidref, pid_t pid);

/* A pidfd received from elsewhere, as a PidRef (taking the fd on success). -EBADF: fd is not a pidfd;
 * -ESRCH: its process has been reaped already. */
int pidref_from_pidfd(int fd, PidRef *ret);

/* Reads /proc/PID/name (at most max bytes), verified afterwards to be this process's and not a
 * successor's with a recycled PID: -ESRCH once it has exited. */
int pidref_read_proc(const PidRef *pidref, const char *name, size_t max, char **ret);

/* The parent's PID, read while the process is known to be alive (-ESRCH once it has exited). */
int pidref_get_ppid(const PidRef *pidref, pid_t *ret);

/* Forks. Returns 0 in the child (ret untouched) and 1 in the parent with *ret set. The pidfd is
 * opened before the parent could reap the child, so it always refers to the child. */
int pidref_fork(PidRef *ret);

/* Sends sig through the pidfd. -ESRCH once the process has exited. */
int pidref_kill(const PidRef *pidref, int sig);

/* Returns 1 if the process has exited (its pidfd is readable), 0 if it still runs. Waits at most
 * timeout_msec (0: only looks, -1: forever). */
int pidref_wait_exit(const PidRef *pidref, int timeout_msec);

/* Returns 0 if the process is still alive, so that what was read about pidref->pid (its
 * /proc entries) is known to describe this process and not a successor with a recycled PID. */
int pidref_verify(const PidRef *pidref);

/* Reaps one of our own children, blocking. Returns 0 with *ret filled. */
int pidref_reap(const PidRef *pidref, siginfo_t *ret);

void pidref_done(PidRef *pidref);
