/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Concurrency groups: the table of who holds and who waits for each group (README, "Concurrency
 * groups"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc-util.h"
#include "concurrency.h"
#include "macro.h"

void concurrency_table_done(ConcurrencyTable *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->groups[i].name);
        free(t->groups);
        *t = (ConcurrencyTable){};
}

const char *concurrency_group_invalid(const char *name) {
        size_t chars = 0;

        if (!name || !name[0])
                return "the concurrency group's name is empty";
        /* characters, counted by their first byte */
        for (const char *p = name; *p; p++)
                if (((unsigned char) *p & 0xC0) != 0x80)
                        chars++;
        if (chars >= CONCURRENCY_MAX_GROUP)
                return "the concurrency group's name has 400 characters or more";
        return NULL;
}

static bool owner_eq(ConcurrencyOwner a, ConcurrencyOwner b) {
        return a.run == b.run && a.job == b.job;
}

static ConcurrencyGroup *find_group(const ConcurrencyTable *t, const char *name) {
        for (size_t i = 0; i < t->n; i++)
                if (strcasecmp(t->groups[i].name, name) == 0)
                        return &t->groups[i];
        return NULL;
}

static ConcurrencyGroup *find_owner(const ConcurrencyTable *t, ConcurrencyOwner o, bool *ret_pending) {
        for (size_t i = 0; i < t->n; i++) {
                ConcurrencyGroup *g = &t->groups[i];

                if (g->has_holder && owner_eq(g->holder, o)) {
                        *ret_pending = false;
                        return g;
                }
                if (g->has_pending && owner_eq(g->pending, o)) {
                        *ret_pending = true;
                        return g;
                }
        }
        return NULL;
}

int concurrency_acquire(ConcurrencyTable *t, const char *group, ConcurrencyOwner owner,
        bool cancel_in_progress, ConcurrencyDecision *ret) {
        ConcurrencyDecision d = {};
        ConcurrencyGroup *g, *mine;
        bool pending;

        if (concurrency_group_invalid(group))
                return -EINVAL;
        g = find_group(t, group);
        mine = find_owner(t, owner, &pending);
        if (mine && mine != g)
                return -EBUSY;
        if (mine) {
                /* asked again (after a restart): the answer stands */
                d.acquired = !pending;
                if (pending && cancel_in_progress && g->has_holder) {
                        d.cancel_holder = true;
                        d.holder = g->holder;
                }
                *ret = d;
                return 0;
        }
        if (!g) {
                _cleanup_free_ char *name = strdup(group);

                if (!name || array_grow((void **) &t->groups, &t->allocated, t->n + 1, sizeof(*g)) < 0)
                        return -ENOMEM;
                g = &t->groups[t->n++];
                *g = (ConcurrencyGroup){ .name = TAKE_PTR(name) };
        }
        if (!g->has_holder) {
                g->has_holder = true;
                g->holder = owner;
                d.acquired = true;
                *ret = d;
                return 0;
        }
        if (g->has_pending) {
                d.replaced = true;
                d.pending = g->pending;
        }
        g->has_pending = true;
        g->pending = owner;
        if (cancel_in_progress) {
                d.cancel_holder = true;
                d.holder = g->holder;
        }
        *ret = d;
        return 0;
}

int concurrency_release(ConcurrencyTable *t, ConcurrencyOwner owner, ConcurrencyOwner *ret_next) {
        ConcurrencyGroup *g;
        bool pending;
        int r = 0;

        g = find_owner(t, owner, &pending);
        if (!g)
                return 0;
        if (pending)
                g->has_pending = false;
        else if (g->has_pending) {
                g->holder = g->pending;
                g->has_pending = false;
                *ret_next = g->holder;
                r = 1;
        } else
                g->has_holder = false;
        if (!g->has_holder && !g->has_pending) {
                free(g->name);
                *g = t->groups[--t->n];
        }
        return r;
}

const char *concurrency_find(const ConcurrencyTable *t, ConcurrencyOwner owner, bool *ret_pending) {
        bool pending = false;
        ConcurrencyGroup *g = find_owner(t, owner, &pending);

        if (ret_pending)
                *ret_pending = pending;
        return g ? g->name : NULL;
}
