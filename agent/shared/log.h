/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "macro.h"

/* Logging for the programs (never for the core): a line on stderr with a "<N>" syslog prefix, which
 * journald turns into the priority when the daemon runs as a service. The *_errno variants set errno
 * for %m and return the (negative) error, so that the caller can log and return in one line. */

static inline _printf_(3, 4) int log_full_errno(int level, int error, const char *fmt, ...) {
        va_list ap;

        errno = error < 0 ? -error : error;
        fprintf(stderr, "<%d>", level);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return error < 0 ? error : -error;
}

#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error(...) ((void) log_full_errno(LOG_ERR, 0, __VA_ARGS__))
#define log_warning(...) ((void) log_full_errno(LOG_WARNING, 0, __VA_ARGS__))
#define log_info(...) ((void) log_full_errno(LOG_INFO, 0, __VA_ARGS__))
#define log_debug(...) ((void) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__))
#define log_oom() log_full_errno(LOG_ERR, -ENOMEM, "Out of memory.")
