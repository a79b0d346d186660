/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

/* Blocking work off the event loop (README, "Running workflows": nothing blocks the loop): state files
 * written and fsync()ed, workspaces removed, NSS asked. One thread takes jobs in the order they were
 * submitted, so two writes of one file land in order; each job's completion is called back from the
 * loop, in the same order. */

typedef struct Worker Worker;

/* Runs on the worker thread: must touch nothing the loop uses without owning it (its data). */
typedef int (*worker_func_t)(void *data);
/* Runs in the loop with what func returned; frees data if it owns it. */
typedef void (*worker_done_t)(int result, void *data);

/* background: the thread, and what it spawns, at the lowest CPU and I/O priority (nice 19, best-effort
 * level 7), for work that may wait while the machine is busy. */
int worker_new(sd_event *event, bool background, Worker **ret);
/* Queues func(data); done(result, data) follows from the loop (done may be NULL). */
int worker_submit(Worker *w, worker_func_t func, worker_done_t done, void *data);
/* Jobs queued or running now; 0 when idle. */
unsigned worker_pending(const Worker *w);
/* Drops the jobs not started yet: their completions are called with -ECANCELED (the one running
 * finishes). */
void worker_cancel_queued(Worker *w);
/* Finishes every queued job, calls their completions, and ends the thread. */
Worker *worker_free(Worker *w);
