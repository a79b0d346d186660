/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The journal copy of a step's output (README, "Running workflows"): lines go to journald through a
 * bounded queue that a thread of its own drains, so that journald's pace never reaches the step. The
 * copy is budgeted below journald's own rate limit, so that what journald keeps is exactly what was
 * sent: a step's first JOURNAL_BURST_LINES lines, then JOURNAL_LINES_PER_SEC a second. Lines beyond
 * the budget or the queue are left out of the journal copy only, counted, and stated in one entry
 * (RUNNER_LINES_LEFT_OUT, RUNNER_BYTES_LEFT_OUT, RUNNER_LOG) when the step's output ends. */
typedef struct JournalCopy JournalCopy;

enum {
        JOURNAL_STDOUT,
        JOURNAL_STDERR,
        _JOURNAL_STREAM_MAX,
};

/* fields: NAME=VALUE strings added to every entry, borrowed until journal_copy_free(). */
int journal_copy_new(const char *const *fields, size_t n_fields, const char *log_path, JournalCopy **ret);
/* Starts the thread that sends to journald (otherwise the first line does). */
void journal_copy_start(JournalCopy *j);
/* Output of a stream, as it came; cut into lines (longer ones into pieces) here, in this thread. */
void journal_copy_feed(JournalCopy *j, unsigned stream, const char *data, size_t len);
/* The stream ended: its last line, if it had no newline. */
void journal_copy_end_stream(JournalCopy *j, unsigned stream);
/* A message of the shim itself, never left out. */
void journal_copy_message(JournalCopy *j, int priority, const char *text);
/* Waits up to timeout_usec for the queue to reach journald (what is left then is left out), then, if
 * lines were left out since the last time, states how many and waits a little for that too. */
void journal_copy_flush(JournalCopy *j, uint64_t timeout_usec);
/* Returns NULL. Ends the thread if it is idle; one stuck in journald is left to the process's exit
 * (*ret_stuck set), as nothing can interrupt it. */
JournalCopy *journal_copy_free(JournalCopy *j, bool *ret_stuck);
