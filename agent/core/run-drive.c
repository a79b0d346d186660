/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <limits.h>

#include "run.h"

static void effect(const RunDriverOps *ops, void *userdata, RunAction *a, RunActions *more) {
        RunEffect f = NULL;

        switch (a->type) {
        case RUN_ACTION_START_STEP:
                f = ops->start_step;
                break;
        case RUN_ACTION_CLEAN_JOB:
                f = ops->clean_job;
                break;
        case RUN_ACTION_CHANGED:
                f = ops->changed;
                break;
        case RUN_ACTION_SIGNAL_STEP:
                f = ops->step_signalled;
                break;
        case RUN_ACTION_KILL_STEP:
                f = ops->step_killed;
                break;
        case RUN_ACTION_ABORT_STEP:
                f = ops->abort_step;
                break;
        case RUN_ACTION_KILL_RUN:
                f = ops->kill_run;
                break;
        case RUN_ACTION_EVENT:
                f = ops->event;
                break;
        case RUN_ACTION_ACQUIRE_GROUP:
                f = ops->acquire_group;
                break;
        case RUN_ACTION_JOBS_ADDED:
                f = ops->jobs_added;
                break;
        case RUN_ACTION_LOAD_ACTION:
                f = ops->load_action;
                break;
        case RUN_ACTION_STEPS_INSERTED:
                f = ops->steps_inserted;
                break;
        }
        if (f)
                f(userdata, a, more);
}

int run_drive(Run *run, const RunDriverOps *ops, void *userdata, RunActions *actions) {
        int ret = 0;

        for (;;) {
                RunActions more = {};
                unsigned room;
                int r;

                /* Signals and kills first, everything else after: a cancel request reaches every step to
                 * cancel before anything else is done about it (README, Cancellation). */
                for (size_t i = 0; i < actions->n; i++) {
                        RunAction *a = &actions->actions[i];

                        if (a->type == RUN_ACTION_SIGNAL_STEP && ops->signal_step)
                                ops->signal_step(userdata, a, &more);
                        else if (a->type == RUN_ACTION_KILL_STEP && ops->kill_step)
                                ops->kill_step(userdata, a, &more);
                }
                for (size_t i = 0; i < actions->n; i++)
                        effect(ops, userdata, &actions->actions[i], &more);

                room = ops->room ? ops->room(userdata) : UINT_MAX;
                r = run_advance(run, ops->now(userdata), &room, &more);
                if (r < 0 && ret == 0)
                        ret = r;
                run_actions_done(actions);
                *actions = more;
                if (actions->n == 0)
                        return ret;
        }
}
