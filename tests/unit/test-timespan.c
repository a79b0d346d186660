/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs <setjmp.h>, <stdarg.h>, <stddef.h> and <stdint.h> before it */
#include <cmocka.h>

#include "macro.h"
#include "timespan.h"

static const struct {
        const char *input;
        int error;
        uint64_t usec;
} parse_cases[] = {
        /* the cancellation defaults and how the README writes them (Cancellation) */
        { "7500ms", 0, 7500 * USEC_PER_MSEC },
        { "2500ms", 0, 2500 * USEC_PER_MSEC },
        { "5min", 0, 300 * USEC_PER_SEC },
        { "2.5s", 0, 2500 * USEC_PER_MSEC },
        { "300s", 0, 300 * USEC_PER_SEC },
        /* a bare number is seconds */
        { "300", 0, 300 * USEC_PER_SEC },
        { "0", 0, 0 },
        { "0.5", 0, 500 * USEC_PER_MSEC },
        { ".5s", 0, 500 * USEC_PER_MSEC },
        /* every unit spelling */
        { "1us", 0, 1 },
        { "1usec", 0, 1 },
        { "1\xc2\xb5s", 0, 1 },
        { "1ms", 0, USEC_PER_MSEC },
        { "1msec", 0, USEC_PER_MSEC },
        { "1s", 0, USEC_PER_SEC },
        { "1sec", 0, USEC_PER_SEC },
        { "1second", 0, USEC_PER_SEC },
        { "2seconds", 0, 2 * USEC_PER_SEC },
        { "1m", 0, 60 * USEC_PER_SEC },
        { "1min", 0, 60 * USEC_PER_SEC },
        { "1minute", 0, 60 * USEC_PER_SEC },
        { "3minutes", 0, 180 * USEC_PER_SEC },
        { "1h", 0, 3600 * USEC_PER_SEC },
        { "1hr", 0, 3600 * USEC_PER_SEC },
        { "1hour", 0, 3600 * USEC_PER_SEC },
        { "2hours", 0, 7200 * USEC_PER_SEC },
        { "1d", 0, 86400 * USEC_PER_SEC },
        { "1day", 0, 86400 * USEC_PER_SEC },
        { "1w", 0, 604800 * USEC_PER_SEC },
        { "1M", 0, 2629800 * USEC_PER_SEC },
        { "1month", 0, 2629800 * USEC_PER_SEC },
        { "1y", 0, 31557600 * USEC_PER_SEC },
        /* combinations, spaces */
        { "1h 30min", 0, 5400 * USEC_PER_SEC },
        { "1h30min", 0, 5400 * USEC_PER_SEC },
        { "  2s 500ms  ", 0, 2500 * USEC_PER_MSEC },
        { "5 min", 0, 300 * USEC_PER_SEC },
        { "1.5min", 0, 90 * USEC_PER_SEC },
        /* precision below a microsecond is dropped, not rounded */
        { "1.0000009s", 0, USEC_PER_SEC },
        { "0.0005ms", 0, 0 },
        { "infinity", 0, USEC_INFINITY },
        { " infinity ", 0, USEC_INFINITY },
        /* malformed */
        { "", -EINVAL, 0 },
        { "   ", -EINVAL, 0 },
        { "ms", -EINVAL, 0 },
        { "5 parsecs", -EINVAL, 0 },
        { "5mins", -EINVAL, 0 },
        { "1.2.3s", -EINVAL, 0 },
        { "5min!", -EINVAL, 0 },
        { "infinityx", -EINVAL, 0 },
        { "1s infinity", -EINVAL, 0 },
        /* negative and too large */
        { "-1s", -ERANGE, 0 },
        { "1s -1s", -ERANGE, 0 },
        { "18446744073709551615", -ERANGE, 0 },
        { "600000y", -ERANGE, 0 },
        { "99999999999999999999999999s", -ERANGE, 0 },
};

static void test_parse_table(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(parse_cases); i++) {
                uint64_t v = 4242;
                int r = parse_timespan(parse_cases[i].input, &v);

                if (r != parse_cases[i].error || (r == 0 && v != parse_cases[i].usec))
                        fail_msg("parse_timespan(\"%s\") = %d, %llu; expected %d, %llu",
                                parse_cases[i].input, r, (unsigned long long) v, parse_cases[i].error,
                                (unsigned long long) parse_cases[i].usec);
                if (r < 0)
                        assert_int_equal(v, 4242); /* untouched on failure */
        }
}

static void test_parse_too_long(void **state) {
        char buf[400];
        uint64_t v;

        memset(buf, '1', sizeof(buf) - 1);
        buf[sizeof(buf) - 1] = '\0';
        assert_int_equal(parse_timespan(buf, &v), -EINVAL);
        assert_int_equal(parse_timespan(NULL, &v), -EINVAL);
}

static void test_format(void **state) {
        static const struct {
                uint64_t usec;
                const char *text;
        } cases[] = {
                { 0, "0" },
                { 1, "1us" },
                { 7500 * USEC_PER_MSEC, "7s 500ms" },
                { 300 * USEC_PER_SEC, "5min" },
                { 5400 * USEC_PER_SEC, "1h 30min" },
                { 86400 * USEC_PER_SEC + 1, "1d 1us" },
                { USEC_INFINITY, "infinity" },
        };
        char buf[TIMESPAN_MAX];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t back;

                assert_string_equal(format_timespan(buf, sizeof(buf), cases[i].usec), cases[i].text);
                /* what we print, we read back */
                assert_int_equal(parse_timespan(buf, &back), 0);
                assert_int_equal(back, cases[i].usec);
        }

        /* a short buffer is cut, never overrun */
        assert_string_equal(format_timespan(buf, 4, 7500 * USEC_PER_MSEC), "7s");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_table),
                cmocka_unit_test(test_parse_too_long),
                cmocka_unit_test(test_format),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
