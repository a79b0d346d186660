/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "step-control.h"

/* One decimal number in [min, max] at *p, without sign (unless negative is allowed), leading zeros,
 * spaces or anything sscanf() would forgive. Advances *p past it. */
static bool parse_number(const char **p, const char *end, long min, long max, long *ret) {
        const char *s = *p;
        bool negative = false;
        long v = 0;

        if (s < end && *s == '-' && min < 0) {
                negative = true;
                s++;
        }
        if (s >= end || *s < '0' || *s > '9')
                return false;
        /* No leading zeros, and no "-0": one spelling per value. */
        if (*s == '0' && ((s + 1 < end && s[1] >= '0' && s[1] <= '9') || negative))
                return false;
        for (; s < end && *s >= '0' && *s <= '9'; s++) {
                v = v * 10 + (*s - '0');
                if (v > 0x7fffffffL) /* beyond any valid value; also keeps v from overflowing */
                        return false;
        }
        if (negative)
                v = -v;
        if (v < min || v > max)
                return false;
        *p = s;
        *ret = v;
        return true;
}

/* "WORD" followed by a single space at data; returns where the arguments begin, or NULL. */
static const char *word(const char *data, const char *end, const char *w) {
        size_t n = strlen(w);

        if ((size_t) (end - data) <= n || memcmp(data, w, n) != 0 || data[n] != ' ')
                return NULL;
        return data + n + 1;
}

int step_control_parse(StepControlPhase phase, const char *data, size_t len, size_t n_fds,
        StepControlMessage *ret, StepControlPhase *ret_phase, const char **ret_reason) {
        const char *end = data + len, *p;
        StepControlMessage m = {};
        StepControlPhase next;
        long a, b;

#define VIOLATION(reason) \
        do { \
                *ret_reason = reason; \
                return -EPROTO; \
        } while (false)

        if (!data || len == 0)
                VIOLATION("an empty message");
        if (len > STEP_CONTROL_MESSAGE_MAX)
                VIOLATION("a message longer than any the protocol has");
        if (memchr(data, '\0', len))
                VIOLATION("a message with a NUL byte");

        if ((p = word(data, end, "started"))) {
                if (!parse_number(&p, end, 1, 0x7fffffff, &a) || p != end)
                        VIOLATION("'started' without a valid PID");
                if (n_fds != 1)
                        VIOLATION("'started' without exactly one descriptor attached");
                m = (StepControlMessage){ .type = STEP_CONTROL_MSG_STARTED, .pid = (int) a };
                if (phase != STEP_CONTROL_RELEASED)
                        VIOLATION(phase == STEP_CONTROL_HELD ? "'started' before the step was released"
                                                             : "'started' more than once");
                next = STEP_CONTROL_STARTED;
        } else if ((p = word(data, end, "failed"))) {
                if (!parse_number(&p, end, 1, 4095, &a) || p != end)
                        VIOLATION("'failed' without a valid error number");
                if (n_fds != 0)
                        VIOLATION("a descriptor attached to 'failed'");
                m = (StepControlMessage){ .type = STEP_CONTROL_MSG_FAILED, .error = (int) a };
                if (phase != STEP_CONTROL_RELEASED)
                        VIOLATION(phase == STEP_CONTROL_HELD
                                        ? "'failed' before the step was released"
                                        : "'failed' after the step had started or ended");
                next = STEP_CONTROL_DONE;
        } else if ((p = word(data, end, "exited"))) {
                if (!parse_number(&p, end, -1, 255, &a) || p >= end || *p++ != ' ' ||
                        !parse_number(&p, end, 0, _NSIG - 1, &b) || p != end)
                        VIOLATION("'exited' without a valid exit code and signal");
                if ((a >= 0) != (b == 0))
                        VIOLATION("'exited' with both an exit code and a signal, or neither");
                if (n_fds != 0)
                        VIOLATION("a descriptor attached to 'exited'");
                m = (StepControlMessage){
                        .type = STEP_CONTROL_MSG_EXITED, .code = (int) a, .signal = (int) b
                };
                if (phase != STEP_CONTROL_STARTED)
                        VIOLATION(phase == STEP_CONTROL_DONE ? "'exited' more than once"
                                                             : "'exited' before 'started'");
                next = STEP_CONTROL_DONE;
        } else if ((p = word(data, end, "mask"))) {
                /* The value may be anything but NUL (checked above): it is masked as it is. */
                if (p == end)
                        VIOLATION("'mask' without a value");
                if (n_fds != 0)
                        VIOLATION("a descriptor attached to 'mask'");
                m = (StepControlMessage){
                        .type = STEP_CONTROL_MSG_MASK, .value = p, .value_len = (size_t) (end - p)
                };
                if (phase != STEP_CONTROL_STARTED)
                        VIOLATION("'mask' outside the step's run (before 'started' or after 'exited')");
                next = STEP_CONTROL_STARTED;
        } else
                VIOLATION("an unknown message");
#undef VIOLATION

        *ret = m;
        *ret_phase = next;
        return 0;
}
