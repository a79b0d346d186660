/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What runnerctl prints of a workflow's text: no byte a terminal would act on gets through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "escape.h"
#include "macro.h"

static void check(const char *in, size_t n, const char *expected) {
        _cleanup_free_ char *out = escape_for_terminal_length(in, n);

        assert_non_null(out);
        assert_string_equal(out, expected);
}

#define CHECK(in, expected) check(in, STRLEN(in), expected)

static void test_plain_text_is_kept(void **state) {
        CHECK("", "");
        CHECK("Build and test", "Build and test");
        CHECK("a\\nb 'q' \"d\" ~", "a\\nb 'q' \"d\" ~");
}

static void test_newline_and_tab(void **state) {
        CHECK("line 1\nline 2\n", "line 1\\nline 2\\n");
        CHECK("a\tb", "a\\tb");
}

static void test_terminal_sequences(void **state) {
        /* Window title (OSC ... BEL), clear screen (CSI 2J), carriage return, backspace, DEL. */
        CHECK("\033]0;pwned\a", "\\x1b]0;pwned\\x07");
        CHECK("\033[2J", "\\x1b[2J");
        CHECK("ok\rFAIL\b\x7f", "ok\\x0dFAIL\\x08\\x7f");
        CHECK("\x01\x1f", "\\x01\\x1f");
}

static void test_nul_byte(void **state) {
        check("a\0b", 3, "a\\x00b");
}

static void test_valid_utf8_is_kept(void **state) {
        CHECK("Größe ß", "Größe ß");
        CHECK("\u00a0", "\u00a0");         /* the first code point after the C1 controls */
        CHECK("日本語", "日本語");         /* three bytes */
        CHECK("\U0001F680", "\U0001F680"); /* four bytes */
        CHECK("\U0010FFFF", "\U0010FFFF");
}

static void test_c1_controls(void **state) {
        /* U+009B is CSI and U+0085 NEL on terminals that honour C1 controls. */
        CHECK("\xc2\x9b"
              "2J",
                "\\xc2\\x9b2J");
        CHECK("\xc2\x85", "\\xc2\\x85");
        /* And the raw 8-bit CSI. */
        CHECK("\x9b"
              "2J",
                "\\x9b2J");
}

static void test_invalid_utf8(void **state) {
        CHECK("\xc0\xaf", "\\xc0\\xaf");                   /* overlong '/' */
        CHECK("\xe0\x80\xaf", "\\xe0\\x80\\xaf");          /* overlong, three bytes */
        CHECK("\xed\xa0\x80", "\\xed\\xa0\\x80");          /* a surrogate */
        CHECK("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
        CHECK("\xff\xfe", "\\xff\\xfe");
        /* Truncated: at the end, and followed by ASCII. */
        CHECK("ab\xe6\x97", "ab\\xe6\\x97");
        CHECK("\xe6\x97x", "\\xe6\\x97x");
        /* Stops at the given length even when a sequence would continue past it. */
        check("\xc3\xa4", 1, "\\xc3");
}

static void test_worst_case_length(void **state) {
        char in[256];
        _cleanup_free_ char *out = NULL;

        for (size_t i = 0; i < sizeof(in); i++)
                in[i] = (char) (0x80 + i % 0x40); /* continuation bytes only */
        out = escape_for_terminal_length(in, sizeof(in));
        assert_non_null(out);
        assert_int_equal(strlen(out), 4 * sizeof(in));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_text_is_kept),
                cmocka_unit_test(test_newline_and_tab),
                cmocka_unit_test(test_terminal_sequences),
                cmocka_unit_test(test_nul_byte),
                cmocka_unit_test(test_valid_utf8_is_kept),
                cmocka_unit_test(test_c1_controls),
                cmocka_unit_test(test_invalid_utf8),
                cmocka_unit_test(test_worst_case_length),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
