/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journal copy's count of the lines a flood leaves out (step-journal.c), 16 bytes at a time: the
 * same as byte by byte, whatever the length, the alignment and the density of newlines. Only the pure
 * counting is tested here: feeding the copy starts a thread that sends to the real journald. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs <setjmp.h>, <stdarg.h>, <stddef.h> and <stdint.h> before it */
#include <cmocka.h>

#include "../../agent/shim/step-journal.c"

static uint64_t count_slowly(const char *data, size_t len) {
        uint64_t c = 0;

        for (size_t i = 0; i < len; i++)
                c += data[i] == '\n';
        return c;
}

static void test_count_newlines(void **state) {
        static char buf[300 * 1024];
        unsigned seed = 1;

        (void) state;
        /* Every length around the vector's width and past the 255 rounds a byte sum can hold. */
        for (size_t len = 0; len < 100; len++)
                for (size_t off = 0; off < 8; off++) {
                        memset(buf, '\n', off + len);
                        assert_int_equal(count_newlines(buf + off, len), len);
                        memset(buf, 'x', off + len);
                        assert_int_equal(count_newlines(buf + off, len), 0);
                }
        memset(buf, '\n', sizeof(buf));
        assert_int_equal(count_newlines(buf, sizeof(buf)), sizeof(buf));
        for (size_t len = 255 * 16 - 1; len <= 255 * 16 * 2 + 1; len += 255 * 16 / 2 + 1)
                assert_int_equal(count_newlines(buf + 1, len), len);
        for (unsigned t = 0; t < 200; t++) {
                size_t len = (size_t) rand_r(&seed) % sizeof(buf), off = (size_t) rand_r(&seed) % 32;
                unsigned density = 1 + (unsigned) rand_r(&seed) % 64;

                if (off > len)
                        off = len;
                for (size_t i = 0; i < len; i++)
                        buf[i] = (unsigned) rand_r(&seed) % density == 0 ? '\n' : (char) rand_r(&seed);
                assert_int_equal(count_newlines(buf + off, len - off), count_slowly(buf + off, len - off));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_count_newlines),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
