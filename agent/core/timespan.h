/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Time spans as systemd writes them: "7500ms", "2.5s", "5min", "1h 30min", "infinity". A bare number
 * is seconds. Returns 0, -EINVAL for malformed input, or -ERANGE for negative or overflowing values. */
int parse_timespan(const char *s, uint64_t *ret_usec);

/* The longest text format_timespan() writes, "infinity" or up to nine "<n><unit> " parts. */
#define TIMESPAN_MAX 96

/* Writes usec as "7s 500ms", "5min", "0" or "infinity" into buf (at least TIMESPAN_MAX bytes). */
const char *format_timespan(char *buf, size_t size, uint64_t usec);
