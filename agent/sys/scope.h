/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "pidref.h"

/* Asynchronous creation of a transient scope unit around a process the caller holds: the process
 * must be the caller's unreaped child, blocked until the scope exists, so that its PID can neither
 * be recycled nor have forked before systemd moved it into the scope's cgroup. */

typedef struct ScopeJob ScopeJob;

/* One subscription to systemd's JobRemoved per connection, shared by every job started through it, so
 * that n jobs in flight cost n lookups per signal rather than n callbacks. On a direct connection to
 * systemd (its private socket) signals carry no sender, so the rule names none there. */
typedef struct UnitWatcher UnitWatcher;

int unit_watcher_new(sd_bus *bus, UnitWatcher **ret);
/* Jobs still pending are failed with -ECANCELED first (their handlers are not called). */
UnitWatcher *unit_watcher_free(UnitWatcher *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(UnitWatcher *, unit_watcher_free);

/* The connection to systemd for unit jobs: its private socket when we may use it (root; one hop less
 * than the bus, and no bus policy in the way), else the system bus. Attached to no event loop. */
int bus_open_systemd(sd_bus **ret);

/* error is 0 when the job finished with result "done"; otherwise -errno, with message saying what
 * systemd answered (a D-Bus error or the job result). job stays valid until scope_job_free(). */
typedef void (*scope_job_handler_t)(ScopeJob *job, int error, const char *message, void *userdata);

typedef struct ScopeParams {
        const char *unit;        /* "runner-r1-j1-s1.scope" */
        const char *slice;       /* "runner-r1-j1.slice"; NULL: systemd's default */
        const char *description; /* NULL: none */
        const PidRef *pid;       /* the held child */
} ScopeParams;

/* Calls StartTransientUnit with mode "fail", queued on the watcher's bus without blocking. The
 * handler is called exactly once, from the event loop the bus is attached to. */
int scope_start(UnitWatcher *w, const ScopeParams *params, scope_job_handler_t handler, void *userdata,
        ScopeJob **ret);

/* A slice's resource limits; UINT64_MAX: none (infinity); a weight of 0: systemd's default. */
typedef struct SliceLimits {
        uint64_t memory_max, memory_high, tasks_max;
        uint64_t cpu_weight, io_weight;
} SliceLimits;

/* Starts the slice unit with these limits (StartTransientUnit, mode "fail"), queued like
 * scope_start(): a scope started in it afterwards on the same watcher is created in the slice with its
 * limits already set, since systemd handles the calls in order. */
int slice_start(UnitWatcher *w, const char *unit, const char *description, const SliceLimits *limits,
        scope_job_handler_t handler, void *userdata, ScopeJob **ret);

/* Stops a unit (StopUnit, mode "replace"); the handler as above. A unit that is not loaded counts as
 * stopped: the handler gets 0. */
int unit_stop(UnitWatcher *w, const char *unit, scope_job_handler_t handler, void *userdata, ScopeJob **ret);

const char *scope_job_unit(const ScopeJob *job);

/* Cancels what is still pending (the handler is then not called) and frees the job. */
ScopeJob *scope_job_free(ScopeJob *job);
DEFINE_TRIVIAL_CLEANUP_FUNC(ScopeJob *, scope_job_free);

/* Questions about our own unit, asked asynchronously on a bus attached to the loop. The handler is
 * called exactly once (error < 0: systemd could not be asked, or did not answer within timeout_usec);
 * the query stays valid until unit_query_free(), which also cancels one still pending. */
typedef struct UnitQuery UnitQuery;
UnitQuery *unit_query_free(UnitQuery *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(UnitQuery *, unit_query_free);

/* The type of the job systemd runs for our own unit right now ("stop", "restart", …), or NULL when
 * there is none (a signal from elsewhere). */
typedef void (*unit_job_type_handler_t)(UnitQuery *q, int error, const char *type, void *userdata);
int unit_get_own_job_type_async(sd_bus *bus, uint64_t timeout_usec, unit_job_type_handler_t handler,
        void *userdata, UnitQuery **ret);

/* When our own unit last left the active state, on CLOCK_MONOTONIC (µs; 0: never): at the start of a
 * new agent, when the previous one stopped serving. */
typedef void (*unit_timestamp_handler_t)(UnitQuery *q, int error, uint64_t usec, void *userdata);
int unit_get_own_inactive_since_async(sd_bus *bus, uint64_t timeout_usec, unit_timestamp_handler_t handler,
        void *userdata, UnitQuery **ret);
