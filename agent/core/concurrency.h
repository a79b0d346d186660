/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Concurrency groups (README, "Concurrency groups"): across all runs of the agent, at most one holder
 * (a run, or a job of a run) in progress per group and one pending. Names are compared ignoring case.
 * Pure bookkeeping: the caller evaluates the names, cancels and starts what the decisions say. */

/* Characters a group name must stay under, as on GitHub. */
#define CONCURRENCY_MAX_GROUP 400U

/* Who holds or waits for a group: a run (job SIZE_MAX) or one job of it. */
typedef struct ConcurrencyOwner {
        uint64_t run;
        size_t job;
} ConcurrencyOwner;

typedef struct ConcurrencyGroup {
        char *name; /* as the first of its members spelled it */
        bool has_holder, has_pending;
        ConcurrencyOwner holder, pending;
} ConcurrencyGroup;

typedef struct ConcurrencyTable {
        ConcurrencyGroup *groups; /* only groups with a holder or a pending member */
        size_t n, allocated;
} ConcurrencyTable;

/* What acquiring decided. */
typedef struct ConcurrencyDecision {
        bool acquired;            /* the newcomer holds the group: it may start */
        bool cancel_holder;       /* cancel-in-progress: cancel holder, the newcomer waits for its end */
        ConcurrencyOwner holder;  /* … */
        bool replaced;            /* an older pending member was displaced: it concludes cancelled */
        ConcurrencyOwner pending; /* … */
} ConcurrencyDecision;

void concurrency_table_done(ConcurrencyTable *t);

/* NULL if name is a valid group name; otherwise why not, as a static text. */
const char *concurrency_group_invalid(const char *name);

/* owner asks for group: it holds it when nobody does, otherwise it becomes the pending member,
 * displacing an older pending one, and with cancel_in_progress the holder is to be cancelled. Asking
 * again for a group owner holds or waits for changes nothing but the cancellation. Returns 0, -EINVAL
 * for an invalid name, -EBUSY if owner is in another group, or -ENOMEM. */
int concurrency_acquire(ConcurrencyTable *t, const char *group, ConcurrencyOwner owner,
        bool cancel_in_progress, ConcurrencyDecision *ret);

/* owner concluded: it leaves its group. Returns 1 with *ret_next set when the pending member takes
 * over (it now holds the group and may start), 0 otherwise (also when owner was in none). */
int concurrency_release(ConcurrencyTable *t, ConcurrencyOwner owner, ConcurrencyOwner *ret_next);

/* The group owner holds (*ret_pending false) or waits for (true); NULL if none. */
const char *concurrency_find(const ConcurrencyTable *t, ConcurrencyOwner owner, bool *ret_pending);
