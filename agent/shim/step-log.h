/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A step's log file (README, "Running workflows"): the step's bytes as they come, appended with no
 * per-line work. With a limit (--max-log-size), once the output outgrows it the file keeps the first
 * 90% and the last 10% with a marker line between them saying how many bytes were cut; the last part
 * is kept in an unlinked file beside the log until it is put in place. The first write error (a full
 * disk) ends the writing for good: the step's pipes are drained regardless, so it never slows or
 * fails the step. */
typedef struct StepLog {
        int fd;       /* the log, O_APPEND; -EBADF: there is none */
        off_t base;   /* its size when opened: a restarted step appends */
        uint64_t max; /* 0: unlimited */
        uint64_t head_max, tail_max;
        uint64_t size; /* bytes of output in the file (the marker and the tail not counted) */
        bool cutting;  /* output has outgrown max: the tail goes to tail_fd */
        bool finished; /* the marker and the tail are in the file */
        int tail_fd;
        char *dir;           /* the log's directory, for tail_fd */
        uint64_t tail_total; /* bytes that went to the tail; tail_fd holds the last tail_max, circularly */
        char head_last;      /* the head's last byte */
        int error;           /* the first write error, or 0 */
        uint64_t lost;       /* bytes of output not written because of it */
} StepLog;

#define STEP_LOG_NULL \
        (StepLog) { \
                .fd = -EBADF, .tail_fd = -EBADF \
        }

/* Takes over fd, the log at path (opened O_APPEND); the tail is kept beside it. */
int step_log_init(StepLog *l, int fd, const char *path, uint64_t max);
/* Appends (or cuts). Returns 0, or -errno the first time writing fails: the caller reports it, once;
 * nothing more is written after that. */
int step_log_write(StepLog *l, const void *data, size_t len);
/* At a quiet point (the entry exited, the pipes closed): if output was cut, puts the marker and the
 * tail in place so that the file is whole as it stands; more output takes them out again. Returns like
 * step_log_write(). */
int step_log_finish(StepLog *l);
void step_log_done(StepLog *l);
