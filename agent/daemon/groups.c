/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Concurrency groups across all runs of the agent (README, "Concurrency groups"): the core's table
 * (concurrency.c) bound to the runs. A request to acquire and a release are queued and decided from a
 * fresh loop iteration, so that what they do to other runs, or to other jobs of the same run, never
 * happens inside a run's driving. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "log.h"
#include "manager-internal.h"

typedef struct GroupTask {
        ConcurrencyOwner owner;
        bool release;
} GroupTask;

static RunGroup *owner_group(ManagedRun *mr, size_t job) {
        if (!mr || !mr->run)
                return NULL;
        if (job == SIZE_MAX)
                return &mr->run->group;
        return job < mr->run->n_jobs ? &mr->run->jobs[job].group : NULL;
}

static void drive(ManagedRun *mr, RunActions *actions) {
        run_loop_drive(mr, actions);
        run_actions_done(actions);
}

/* owner holds its group now: it may start. */
static void took_over(Manager *m, ConcurrencyOwner owner) {
        ManagedRun *mr = manager_find_run(m, owner.run);
        RunActions actions = {};

        if (!mr || !mr->run || mr->run->status == RUN_STATUS_COMPLETED)
                return;
        if (run_group_acquired(mr->run, owner.job, now(), &actions) < 0) {
                run_actions_done(&actions);
                return;
        }
        journal_group(mr, owner.job, owner_group(mr, owner.job)->name, false);
        drive(mr, &actions);
}

static void acquire(Manager *m, ConcurrencyOwner owner) {
        ManagedRun *mr = manager_find_run(m, owner.run), *other;
        RunGroup *g = owner_group(mr, owner.job);
        ConcurrencyDecision d;
        RunActions actions = {};
        _cleanup_free_ char *group = NULL; /* g moves with its job when jobs are appended below */
        char cause[32];
        int r;

        if (!g || !g->name || mr->run->status == RUN_STATUS_COMPLETED)
                return;
        group = strdup(g->name);
        if (!group) {
                log_oom();
                return;
        }
        r = concurrency_acquire(&m->groups, g->name, owner, g->cancel_in_progress, &d);
        if (r < 0) {
                log_error_errno(
                        r, "Run %" PRIu64 ": failed to enter concurrency group '%s': %m", mr->id, g->name);
                return;
        }
        snprintf(cause, sizeof(cause), "%" PRIu64, owner.run);

        if (d.replaced && (other = manager_find_run(m, d.pending.run)) && other->run) {
                r = run_group_replaced(other->run, d.pending.job, cause, now(), &actions);
                if (r < 0 && r != -ESTALE)
                        log_oom();
                drive(other, &actions);
        }
        if (d.cancel_holder && (other = manager_find_run(m, d.holder.run)) && other->run) {
                if (d.holder.job == SIZE_MAX)
                        r = manager_cancel_for_group(m, d.holder.run, owner.run);
                else {
                        r = run_job_cancel_concurrency(other->run, d.holder.job, cause, now(), &actions);
                        drive(other, &actions);
                }
                if (r < 0 && !IN_SET(r, -EALREADY, -ESTALE, -ESHUTDOWN))
                        log_error_errno(r,
                                "Run %" PRIu64 ": failed to cancel what holds concurrency group "
                                "'%s': %m",
                                mr->id, group);
        }
        /* Driving a run above may have appended jobs to this one (a matrix from ${{ }} expanded): its
         * jobs may have moved. */
        g = owner_group(mr, owner.job);
        if (d.acquired)
                took_over(m, owner);
        else if (g && g->name && g->state == RUN_GROUP_PENDING)
                journal_group(mr, owner.job, g->name, true);
}

static void release(Manager *m, ConcurrencyOwner owner) {
        ConcurrencyOwner next;

        if (concurrency_release(&m->groups, owner, &next) > 0)
                took_over(m, next);
}

static int on_group_tasks(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        /* what is decided here may queue more: all of it in this iteration */
        while (m->n_group_tasks > 0 && !m->handing_over) {
                GroupTask t = m->group_tasks[0];

                memmove(m->group_tasks, m->group_tasks + 1, --m->n_group_tasks * sizeof(GroupTask));
                if (t.release)
                        release(m, t.owner);
                else
                        acquire(m, t.owner);
        }
        m->n_group_tasks = 0;
        return 0;
}

static void queue(Manager *m, ConcurrencyOwner owner, bool release_it) {
        int r;

        if (array_grow((void **) &m->group_tasks, &m->allocated_group_tasks, m->n_group_tasks + 1,
                    sizeof(GroupTask)) < 0) {
                log_oom();
                return;
        }
        m->group_tasks[m->n_group_tasks++] = (GroupTask){ .owner = owner, .release = release_it };
        if (!m->group_source) {
                r = sd_event_add_defer(m->event, &m->group_source, on_group_tasks, m);
                if (r < 0) {
                        log_error_errno(r, "Failed to queue concurrency group work: %m");
                        return;
                }
        }
        r = sd_event_source_set_enabled(m->group_source, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error_errno(r, "Failed to queue concurrency group work: %m");
}

void groups_acquire(ManagedRun *mr, size_t job) {
        queue(mr->manager, (ConcurrencyOwner){ .run = mr->id, .job = job }, false);
}

void groups_release(ManagedRun *mr, size_t job) {
        if (job == SIZE_MAX && mr->run)
                for (size_t i = 0; i < mr->run->n_jobs; i++)
                        if (mr->run->jobs[i].group.name)
                                queue(mr->manager, (ConcurrencyOwner){ .run = mr->id, .job = i }, true);
        queue(mr->manager, (ConcurrencyOwner){ .run = mr->id, .job = job }, true);
}

void groups_restore(Manager *m) {
        /* holders first, so that a pending member finds the group held as before */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < m->n_runs; i++) {
                        ManagedRun *mr = m->runs[i];
                        RunGroupState want = pass == 0 ? RUN_GROUP_HELD : RUN_GROUP_PENDING;

                        if (!mr->run || mr->run->status == RUN_STATUS_COMPLETED)
                                continue;
                        if (mr->run->group.name && mr->run->group.state == want)
                                groups_acquire(mr, SIZE_MAX);
                        for (size_t j = 0; j < mr->run->n_jobs; j++)
                                if (mr->run->jobs[j].group.name && mr->run->jobs[j].group.state == want &&
                                        mr->run->jobs[j].phase != RUN_JOB_DONE)
                                        groups_acquire(mr, j);
                }
}

void groups_done(Manager *m) {
        m->group_source = sd_event_source_disable_unref(m->group_source);
        free(m->group_tasks);
        m->group_tasks = NULL;
        m->n_group_tasks = m->allocated_group_tasks = 0;
        concurrency_table_done(&m->groups);
}
