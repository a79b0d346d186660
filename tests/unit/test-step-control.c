/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's side of the runner-step control protocol: exact grammar, phases, descriptors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "step-control.h"

typedef struct Case {
        StepControlPhase phase;
        const char *text;
        size_t n_fds;
        int expect; /* 0 or -EPROTO */
        StepControlPhase next;
        const char *reason; /* a substring of the violation's reason */
} Case;

static const Case cases[] = {
        /* What the real shim says, in order. */
        { STEP_CONTROL_RELEASED, "started 4242", 1, 0, STEP_CONTROL_STARTED, NULL },
        { STEP_CONTROL_RELEASED, "failed 2", 0, 0, STEP_CONTROL_DONE, NULL },
        { STEP_CONTROL_STARTED, "exited 0 0", 0, 0, STEP_CONTROL_DONE, NULL },
        { STEP_CONTROL_STARTED, "exited 255 0", 0, 0, STEP_CONTROL_DONE, NULL },
        { STEP_CONTROL_STARTED, "exited -1 9", 0, 0, STEP_CONTROL_DONE, NULL },
        { STEP_CONTROL_RELEASED, "started 2147483647", 1, 0, STEP_CONTROL_STARTED, NULL },
        /* A forged result: "exited" before or after its time. */
        { STEP_CONTROL_HELD, "exited 0 0", 0, -EPROTO, 0, "before 'started'" },
        { STEP_CONTROL_RELEASED, "exited 0 0", 0, -EPROTO, 0, "before 'started'" },
        { STEP_CONTROL_DONE, "exited 0 0", 0, -EPROTO, 0, "more than once" },
        /* A second pidfd, or one before the release. */
        { STEP_CONTROL_STARTED, "started 1", 1, -EPROTO, 0, "more than once" },
        { STEP_CONTROL_DONE, "started 1", 1, -EPROTO, 0, "more than once" },
        { STEP_CONTROL_HELD, "started 1", 1, -EPROTO, 0, "before the step was released" },
        { STEP_CONTROL_HELD, "failed 2", 0, -EPROTO, 0, "before the step was released" },
        { STEP_CONTROL_STARTED, "failed 2", 0, -EPROTO, 0, "after the step had started" },
        /* Descriptors where none belong, or too many. */
        { STEP_CONTROL_RELEASED, "started 1", 0, -EPROTO, 0, "exactly one descriptor" },
        { STEP_CONTROL_RELEASED, "started 1", 2, -EPROTO, 0, "exactly one descriptor" },
        { STEP_CONTROL_STARTED, "exited 0 0", 1, -EPROTO, 0, "descriptor attached" },
        { STEP_CONTROL_RELEASED, "failed 2", 2, -EPROTO, 0, "descriptor attached" },
        /* The grammar is exact. */
        { STEP_CONTROL_RELEASED, "started 0", 1, -EPROTO, 0, "valid PID" },
        { STEP_CONTROL_RELEASED, "started -1", 1, -EPROTO, 0, "valid PID" },
        { STEP_CONTROL_RELEASED, "started +5", 1, -EPROTO, 0, "valid PID" },
        { STEP_CONTROL_RELEASED, "started 05", 1, -EPROTO, 0, "valid PID" },
        { STEP_CONTROL_RELEASED, "started  5", 1, -EPROTO, 0, "valid PID" },
        { STEP_CONTROL_RELEASED, "started 5 ", 1, -EPROTO, 0, "valid PID" },
        { STEP_CONTROL_RELEASED, "started 5\n", 1, -EPROTO, 0, "valid PID" },
        { STEP_CONTROL_RELEASED, "started 2147483648", 1, -EPROTO, 0, "valid PID" },
        { STEP_CONTROL_RELEASED, "started 99999999999999999999999", 1, -EPROTO, 0, "valid PID" },
        { STEP_CONTROL_RELEASED, "started 1                                 ", 1, -EPROTO, 0, "valid PID" },
        { STEP_CONTROL_RELEASED, "started", 1, -EPROTO, 0, "unknown message" },
        { STEP_CONTROL_RELEASED, "startedx 5", 1, -EPROTO, 0, "unknown message" },
        { STEP_CONTROL_RELEASED, "failed 0", 0, -EPROTO, 0, "valid error number" },
        { STEP_CONTROL_RELEASED, "failed 4096", 0, -EPROTO, 0, "valid error number" },
        { STEP_CONTROL_STARTED, "exited 256 0", 0, -EPROTO, 0, "valid exit code" },
        { STEP_CONTROL_STARTED, "exited -2 9", 0, -EPROTO, 0, "valid exit code" },
        { STEP_CONTROL_STARTED, "exited -0 0", 0, -EPROTO, 0, "valid exit code" }, /* found by fuzzing */
        { STEP_CONTROL_STARTED, "exited 0 65", 0, -EPROTO, 0, "valid exit code" },
        { STEP_CONTROL_STARTED, "exited 0", 0, -EPROTO, 0, "valid exit code" },
        { STEP_CONTROL_STARTED, "exited 1 9", 0, -EPROTO, 0, "or neither" },
        { STEP_CONTROL_STARTED, "exited -1 0", 0, -EPROTO, 0, "or neither" },
        { STEP_CONTROL_STARTED, "go", 0, -EPROTO, 0, "unknown message" },
        /* mask: only while the entry runs, with a value, without descriptors. */
        { STEP_CONTROL_STARTED, "mask s3cret", 0, 0, STEP_CONTROL_STARTED, NULL },
        { STEP_CONTROL_STARTED, "mask  a b ", 0, 0, STEP_CONTROL_STARTED, NULL },
        { STEP_CONTROL_STARTED, "mask ", 0, -EPROTO, 0, "without a value" },
        { STEP_CONTROL_STARTED, "mask", 0, -EPROTO, 0, "unknown message" },
        { STEP_CONTROL_STARTED, "mask x", 1, -EPROTO, 0, "descriptor attached to 'mask'" },
        { STEP_CONTROL_RELEASED, "mask x", 0, -EPROTO, 0, "outside the step's run" },
        { STEP_CONTROL_HELD, "mask x", 0, -EPROTO, 0, "outside the step's run" },
        { STEP_CONTROL_DONE, "mask x", 0, -EPROTO, 0, "outside the step's run" },
        { STEP_CONTROL_STARTED, "", 0, -EPROTO, 0, "empty" },
};

static void test_table(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                StepControlMessage m = {};
                StepControlPhase next = _STEP_CONTROL_PHASE_MAX;
                const char *reason = NULL;
                int r;

                r = step_control_parse(c->phase, c->text, strlen(c->text), c->n_fds, &m, &next, &reason);
                if (r != c->expect)
                        fail_msg("'%s' in phase %d with %zu fds: %d, expected %d (%s)", c->text, c->phase,
                                c->n_fds, r, c->expect, reason ?: "accepted");
                if (r == 0)
                        assert_int_equal(next, c->next);
                else {
                        assert_int_equal(next, _STEP_CONTROL_PHASE_MAX); /* untouched */
                        assert_non_null(reason);
                        if (!strstr(reason, c->reason))
                                fail_msg("'%s': reason '%s' does not say '%s'", c->text, reason, c->reason);
                }
        }
}

static void test_values(void **state) {
        StepControlMessage m;
        StepControlPhase next;
        const char *reason;

        assert_int_equal(
                step_control_parse(STEP_CONTROL_RELEASED, "started 4242", 12, 1, &m, &next, &reason), 0);
        assert_int_equal(m.type, STEP_CONTROL_MSG_STARTED);
        assert_int_equal(m.pid, 4242);
        assert_int_equal(
                step_control_parse(STEP_CONTROL_STARTED, "exited -1 15", 12, 0, &m, &next, &reason), 0);
        assert_int_equal(m.type, STEP_CONTROL_MSG_EXITED);
        assert_int_equal(m.code, -1);
        assert_int_equal(m.signal, 15);
        assert_int_equal(
                step_control_parse(STEP_CONTROL_RELEASED, "failed 13", 9, 0, &m, &next, &reason), 0);
        assert_int_equal(m.type, STEP_CONTROL_MSG_FAILED);
        assert_int_equal(m.error, 13);
        assert_int_equal(
                step_control_parse(STEP_CONTROL_STARTED, "mask a:b c", 10, 0, &m, &next, &reason), 0);
        assert_int_equal(m.type, STEP_CONTROL_MSG_MASK);
        assert_int_equal(m.value_len, 5);
        assert_memory_equal(m.value, "a:b c", 5);
        {
                /* Longer than any message: refused before anything else is looked at. */
                static char longest[STEP_CONTROL_MESSAGE_MAX + 1];

                memcpy(longest, "mask ", 5);
                memset(longest + 5, 'x', sizeof(longest) - 5);
                assert_int_equal(step_control_parse(STEP_CONTROL_STARTED, longest, sizeof(longest) - 1, 0,
                                         &m, &next, &reason),
                        0);
                assert_int_equal(step_control_parse(STEP_CONTROL_STARTED, longest, sizeof(longest), 0, &m,
                                         &next, &reason),
                        -EPROTO);
                assert_non_null(strstr(reason, "longer than"));
        }
        /* A NUL inside: the bytes after it must not be ignored. */
        assert_int_equal(
                step_control_parse(STEP_CONTROL_STARTED, "exited 0 0\0x", 12, 0, &m, &next, &reason),
                -EPROTO);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_values),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
