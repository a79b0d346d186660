/* SPDX-License-Identifier: GPL-2.0-or-later */
/* $GITHUB_OUTPUT / $GITHUB_ENV / $GITHUB_PATH parsing, with GitHub's rules and messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "file-command.h"
#include "macro.h"
#include "test-util.h"

typedef struct Case {
        const char *text;
        const char *expected; /* "name=value;" for each entry, then "!error" if parsing fails */
} Case;

static const Case cases[] = {
        { "", "" },
        { "a=1\n", "a=1;" },
        { "a=1", "a=1;" },
        { "a=\n", "a=;" },
        { "a=b=c\n", "a=b=c;" },
        { "\n\na=1\n\nb=2\n", "a=1;b=2;" },
        { "a=1\r\n", "a=1\r;" }, /* lines end at LF, as GitHub's runner reads them on Linux */
        { " a = 1 \n", " a = 1 ;" },
        { "a=1\na=2\n", "a=1;a=2;" },
        { "x<<EOF\nline 1\nline 2\nEOF\n", "x=line 1\nline 2;" },
        { "x<<EOF\nEOF\n", "x=;" },
        { "x<<EOF\n\nEOF\n", "x=;" },
        { "x<<EOF\n\n\nEOF\n", "x=\n;" },
        { "x<<EOF\na=b\nEOF\ny=1", "x=a=b;y=1;" },
        { "x<<EOF\n EOF\nEOF \nEOF", "x= EOF\nEOF ;" },
        { "x<<a=b\nv\na=b\n", "x=v;" }, /* << before = makes a heredoc */
        { "x=a<<b\n", "x=a<<b;" },      /* = before << makes a value */
        { "ghadelimiter_1<<ghadelimiter_2\n{\"a\": 1}\nghadelimiter_2\n", "ghadelimiter_1={\"a\": 1};" },
        { "a=1\nnot a command\nb=2\n", "a=1;!line 2: Invalid format 'not a command'" },
        { "=1\n", "!line 1: Invalid format, the name must not be empty: '=1'" },
        { "<<EOF\nEOF\n", "!line 1: Invalid format, the name and the delimiter must not be empty: '<<EOF'" },
        { "x<<\n", "!line 1: Invalid format, the name and the delimiter must not be empty: 'x<<'" },
        { "a=1\nx<<EOF\nvalue\nEOF trailing\n",
                "a=1;!line 2: Invalid value. Matching delimiter not found 'EOF'" },
        { "x<<EOF\nvalueEOF\n", "!line 1: Invalid value. Matching delimiter not found 'EOF'" },
};

static char *render(const char *text) {
        _cleanup_(file_command_entries_done) FileCommandEntries e = {};
        char error[256] = "", *out = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        r = file_command_parse(text, strlen(text), &e, error, sizeof(error));
        f = open_memstream(&out, &size);
        assert_non_null(f);
        for (size_t i = 0; i < e.n; i++) {
                assert_int_equal(strlen(e.entries[i].value), e.entries[i].value_len);
                fprintf(f, "%s=%s;", e.entries[i].name, e.entries[i].value);
        }
        if (r < 0) {
                assert_int_equal(r, -EINVAL);
                fprintf(f, "!%s", error);
        }
        assert_int_equal(fclose(f), 0);
        return out;
}

static void test_entries(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *got = render(cases[i].text);
                if (!streq(got, cases[i].expected))
                        fail_msg("case %zu: expected '%s', got '%s'", i, cases[i].expected, got);
        }
}

static void test_lines_and_binary(void **state) {
        _cleanup_(file_command_entries_done) FileCommandEntries e = {};
        static const char text[] = "\na=1\nb<<E\nx\0y\nE\nc=3\n";

        assert_int_equal(file_command_parse(text, sizeof(text) - 1, &e, NULL, 0), 0);
        assert_int_equal(e.n, 3);
        assert_int_equal(e.entries[0].line, 2);
        assert_int_equal(e.entries[1].line, 3);
        assert_int_equal(e.entries[1].value_len, 3);
        assert_memory_equal(e.entries[1].value, "x\0y", 3);
        assert_int_equal(e.entries[2].line, 6);
}

static void test_limit(void **state) {
        _cleanup_(file_command_entries_done) FileCommandEntries e = {};
        _cleanup_free_ char *big = repeat_text("a=", "x", FILE_COMMAND_MAX_SIZE, "");
        char error[128];

        assert_int_equal(file_command_parse(big, strlen(big), &e, error, sizeof(error)), -E2BIG);
        assert_string_equal(error, "file has 1048578 bytes, more than the limit of 1048576");
        big[FILE_COMMAND_MAX_SIZE] = '\0';
        assert_int_equal(file_command_parse(big, strlen(big), &e, error, sizeof(error)), 0);
        assert_int_equal(e.entries[0].value_len, FILE_COMMAND_MAX_SIZE - 2);
}

static void test_paths(void **state) {
        static const char text[] = "/opt/tool/bin\n\n/usr/local/go/bin\nrelative dir\n";
        char **paths = NULL;
        size_t n = 0;

        assert_int_equal(file_command_parse_paths(text, sizeof(text) - 1, &paths, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(paths[0], "/opt/tool/bin");
        assert_string_equal(paths[1], "/usr/local/go/bin");
        assert_string_equal(paths[2], "relative dir");
        assert_null(paths[3]);
        for (size_t i = 0; i < n; i++)
                free(paths[i]);
        free(paths);

        assert_int_equal(file_command_parse_paths("", 0, &paths, &n), 0);
        assert_int_equal(n, 0);
        free(paths);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_entries),
                cmocka_unit_test(test_lines_and_binary),
                cmocka_unit_test(test_limit),
                cmocka_unit_test(test_paths),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
