/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manager.h"

/* The agent's structured journal events (README, "Cancellation": the events and their fields): each has a
 * MESSAGE_ID the catalog explains, RUNNER_EVENT (a short name, what `runnerctl events` shows), RUNNER_RUN_ID
 * and, where they apply, RUNNER_JOB, RUNNER_STEP, RUNNER_STEP_NAME, RUNNER_UNIT and the fields of the
 * decision. */

/* Events are queued and written in order by a thread (see journal.c). Writes what is queued and ends
 * the thread (before exit). */
void journal_stop(void);

void journal_run_submitted(ManagedRun *mr, const char *by);
/* A run, job (step SIZE_MAX) or step (neither) that concluded; nothing for other changes. */
void journal_change(ManagedRun *mr, size_t job, size_t step);
void journal_step_started(ManagedRun *mr, size_t job, size_t step, pid_t entry);
/* A decision of the state machine (RUN_ACTION_EVENT). */
void journal_decision(ManagedRun *mr, const RunAction *a);
/* What the agent did for the decisions: a signal sent (processes: how many got it), a step's scope
 * killed, a step that was told not to start, the run's slice killed. */
void journal_signal(ManagedRun *mr, size_t job, size_t step, int sig, pid_t pid, unsigned processes,
        uint64_t elapsed_usec);
void journal_step_killed(ManagedRun *mr, size_t job, size_t step, unsigned processes, uint64_t elapsed_usec);
/* The run (job SIZE_MAX) or the job waits for its concurrency group, or holds it now. */
void journal_group(ManagedRun *mr, size_t job, const char *group, bool pending);
void journal_step_aborted(ManagedRun *mr, size_t job, size_t step, bool held);
/* systemctl restart (or an upgrade): the agent leaves runs runs with steps steps running to the next. */
void journal_agent_handed_over(unsigned runs, unsigned steps);
/* The next agent took them over: away_usec since the previous one stopped serving (0: unknown),
 * overdue: stages of cancellations that fell due meanwhile and are carried out now. */
void journal_agent_readopted(
        unsigned runs, unsigned steps, unsigned ended, uint64_t away_usec, unsigned overdue);
/* A run the agent found unfinished at start: the processes left in its slice are killed. */
void journal_run_interrupted(uint64_t id, const char *slice, unsigned processes, const char *why);
void journal_run_forced(ManagedRun *mr, const char *why, unsigned processes, uint64_t elapsed_usec);
/* Job end: a process the steps left (orphan), and the job's slice killed. */
void journal_orphan(ManagedRun *mr, size_t job, pid_t pid, const char *command);
void journal_job_slice_killed(ManagedRun *mr, size_t job, size_t processes, unsigned orphans);
