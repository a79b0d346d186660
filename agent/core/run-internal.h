/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* What run.c shares with cancel.c and run-state.c, and nothing else includes. */

#include "run.h"

/* Makes run->jobs for run->workflow: instances[d] instances of definition d (NULL: one each), grouped by
 * definition in workflow order and numbered from 1 in that order, each with its steps; run->n_jobs counts
 * those made, so that run_free() can free them on failure. (run-state.c reads them back the same way.) */
int run_jobs_init(Run *run, const unsigned *instances);
/* Appends n instances of definition def after the run's jobs, numbered on, without their combinations;
 * with actions, RUN_ACTION_JOBS_ADDED says so. -E2BIG beyond RUN_MAX_JOBS. */
#define RUN_MAX_JOBS 65536U
/* Steps a job may have with those its actions add (README, "Actions"). */
#define RUN_MAX_JOB_STEPS 10000U
#define RUN_MAX_ADDED_STEPS 20000U /* in all the jobs of a run */
/* Composite actions in composite actions, as deep as GitHub allows. */
#define RUN_MAX_COMPOSITE_DEPTH 10U
/* The action.yml texts a run's jobs loaded, together (README, "Actions"): each is kept in memory and in
 * run-state.json (escaped, up to twice as long), whose reader takes at most 64 MiB; a step loads one
 * each time it runs, and a composite action may use itself 10000 times. */
#define RUN_MAX_ACTION_TEXT (8U * 1024U * 1024U)
int run_jobs_append(Run *run, size_t def, size_t n, RunActions *actions);

int run_action_push(RunActions *a, const RunAction *action);
int run_changed(RunActions *a, size_t job, size_t step);
/* Sets a deadline (RunStep.timer, RunJob.timer, Run.timer) usec after now (monotonic µs); usec infinity
 * (UINT64_MAX): never, which clears the one set before. The agent learns of it from run_next_deadline(). */
void run_timer_start(uint64_t *timer, uint64_t now, uint64_t usec);

/* text is copied; condition is the workflow's. */
int run_event_push(RunActions *a, RunEvent event, size_t job, size_t step, const char *condition,
        bool result, const char *text);

/* The if: of a step: its own, or its action's pre-if: or post-if: for a pre or post step. */
const WorkflowCondition *run_step_condition_def(const RunJob *j, const RunStep *s);

/* ... as written, or what an absent one means. */
const char *run_step_condition_text(const RunJob *j, const RunStep *s);

/* The if: as written, or what an absent one means. */
const char *run_condition_text(const WorkflowCondition *c);

/* Evaluate a running job's if: with the job-level status functions, a step's with the step-level
 * ones (the tables in README, Cancellation). An if: that cannot be evaluated is false; *ret_error says why
 * (NULL otherwise). */
int run_eval_job_condition(Run *run, size_t job, bool *ret, char **ret_error);
int run_eval_step_condition(Run *run, size_t job, size_t step, bool *ret, char **ret_error);

/* strategy.fail-fast (cancel.c): instance job of a matrix failed; every sibling that has not concluded
 * is cancelled with the cancellation sequence, as a run cancel would, and concludes cancelled. */
int run_fail_fast(Run *run, size_t job, RunTime now, RunActions *a);

/* After a restart (run-state.c): the inputs and env of the composite actions' steps in progress,
 * evaluated again, not kept on disk, where they could only be kept masked. */
int run_restore_composites(Run *run);

/* The step handed to the agent and not yet concluded; NULL if that is not (job, step). */
RunStep *run_running_step(Run *run, size_t job, size_t step);

/* The running step ends with outcome: its timer stops, it concludes, the job goes on to its next step. */
int run_step_finish(
        Run *run, size_t job, size_t step, RunConclusion outcome, RunTime now, RunActions *actions);

/* The job completes with outcome (before continue-on-error); the steps of a job that never started are
 * skipped. */
int run_job_conclude(Run *run, size_t job, RunConclusion outcome, RunTime now, RunActions *actions);

/* The step's escalation when its entry process has just started (cancel.c). */
int cancel_step_started(Run *run, size_t job, size_t step, RunTime now, RunActions *actions);
/* The step ended while being cancelled (cancel.c): concludes, or waits for populated 0. */
int cancel_step_ended(Run *run, size_t job, size_t step, RunTime now, RunActions *actions);
