/* SPDX-License-Identifier: GPL-2.0-or-later */
/* [Agent] MaxParallelJobs= over all runs (README, Running workflows): the agent counts the jobs running
 * from start to completion, gives run_advance() the room left, and when room frees lets every run start
 * the jobs it has queued. */
#include <limits.h>

#include "manager-internal.h"

unsigned sched_room(Manager *m) {
        unsigned max = m->config.max_parallel_jobs == 0 ? JOB_USERS
                                                        : MIN(m->config.max_parallel_jobs, JOB_USERS);

        /* A job's user is taken at its first step and given back after its end: either may be later. */
        return MIN(m->running_jobs >= max ? 0 : max - m->running_jobs, job_users_free(m));
}

static void kick(ManagedRun *mr) {
        RunActions actions = {};

        if (!mr->run || mr->run->status == RUN_STATUS_COMPLETED)
                return;
        run_loop_drive(mr, &actions);
        run_actions_done(&actions);
}

void sched_kick_all(Manager *m) {
        for (size_t i = 0; i < m->n_runs; i++)
                kick(m->runs[i]);
}

void sched_job_changed(ManagedRun *mr, size_t job) {
        JobCtx *jc = job_ctx(mr, job);
        bool running = mr->run->jobs[job].status == RUN_STATUS_IN_PROGRESS;

        if (running == jc->counted)
                return;
        jc->counted = running;
        if (running)
                mr->manager->running_jobs++;
        else
                mr->manager->running_jobs--;
}
