/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "pidref.h"

/* Asynchronous creation of a transient scope unit around a process the caller holds: the process
 * must be the caller's unreaped child, blocked until the scope exists, so that its PID can neither
 * be recycled nor have forked before systemd moved it into the scope's cgroup. */

typedef struct ScopeJob ScopeJob;

/* error is 0 when the job finished with result "done"; otherwise -errno, with message saying what
 * systemd answered (a D-Bus error or the job result). job stays valid until scope_job_free(). */
typedef void (*scope_job_handler_t)(ScopeJob *job, int error, const char *message, void *userdata);

typedef struct ScopeParams {
        const char *unit;        /* "runner-r1-j1-s1.scope" */
        const char *slice;       /* "runner-r1-j1.slice"; NULL: systemd's default */
        const char *description; /* NULL: none */
        const PidRef *pid;       /* the held child */
} ScopeParams;

/* Subscribes to JobRemoved for the unit, then calls StartTransientUnit with mode "fail"; both are
 * queued on bus and neither blocks. The handler is called exactly once, from the event loop the bus
 * is attached to. */
int scope_start(
        sd_bus *bus, const ScopeParams *params, scope_job_handler_t handler, void *userdata, ScopeJob **ret);

const char *scope_job_unit(const ScopeJob *job);

/* Cancels what is still pending (the handler is then not called) and frees the job. */
ScopeJob *scope_job_free(ScopeJob *job);
DEFINE_TRIVIAL_CLEANUP_FUNC(ScopeJob *, scope_job_free);
