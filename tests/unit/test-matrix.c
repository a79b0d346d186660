/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The matrix expansion table: definitions (as JSON, which keeps key order like the YAML mapping
 * would) with the combinations expected, in order, each as its matrix context and the values of its
 * display name, or the error expected. The rules are GitHub's, as the README's "Matrix jobs"
 * describes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "macro.h"
#include "matrix.h"
#include "strbuf.h"

typedef struct Case {
        const char *name;
        const char *definition;
        /* one line per combination: "MATRIX-AS-JSON | SUFFIX", or "! " and the start of the error */
        const char *expected;
} Case;

static const Case cases[] = {
        { "one vector", "{\"os\": [\"linux\", \"mac\"]}",
                "{\"os\":\"linux\"} | linux\n"
                "{\"os\":\"mac\"} | mac\n" },
        { "the first key varies slowest", "{\"v\": [1, 2, 3], \"os\": [\"linux\", \"mac\"]}",
                "{\"v\":1,\"os\":\"linux\"} | 1, linux\n"
                "{\"v\":1,\"os\":\"mac\"} | 1, mac\n"
                "{\"v\":2,\"os\":\"linux\"} | 2, linux\n"
                "{\"v\":2,\"os\":\"mac\"} | 2, mac\n"
                "{\"v\":3,\"os\":\"linux\"} | 3, linux\n"
                "{\"v\":3,\"os\":\"mac\"} | 3, mac\n" },
        { "three vectors", "{\"a\": [1, 2], \"b\": [\"x\", \"y\"], \"c\": [true, false]}",
                "{\"a\":1,\"b\":\"x\",\"c\":true} | 1, x, true\n"
                "{\"a\":1,\"b\":\"x\",\"c\":false} | 1, x, false\n"
                "{\"a\":1,\"b\":\"y\",\"c\":true} | 1, y, true\n"
                "{\"a\":1,\"b\":\"y\",\"c\":false} | 1, y, false\n"
                "{\"a\":2,\"b\":\"x\",\"c\":true} | 2, x, true\n"
                "{\"a\":2,\"b\":\"x\",\"c\":false} | 2, x, false\n"
                "{\"a\":2,\"b\":\"y\",\"c\":true} | 2, y, true\n"
                "{\"a\":2,\"b\":\"y\",\"c\":false} | 2, y, false\n" },
        { "exclude a whole combination",
                "{\"arch\": [\"x64\", \"x86\"], \"os\": [\"linux\", \"win\"],"
                " \"exclude\": [{\"arch\": \"x86\", \"os\": \"linux\"}]}",
                "{\"arch\":\"x64\",\"os\":\"linux\"} | x64, linux\n"
                "{\"arch\":\"x64\",\"os\":\"win\"} | x64, win\n"
                "{\"arch\":\"x86\",\"os\":\"win\"} | x86, win\n" },
        { "exclude matches partially",
                "{\"v\": [1, 2, 3], \"os\": [\"linux\", \"win\"], \"exclude\": [{\"os\": \"win\"}]}",
                "{\"v\":1,\"os\":\"linux\"} | 1, linux\n"
                "{\"v\":2,\"os\":\"linux\"} | 2, linux\n"
                "{\"v\":3,\"os\":\"linux\"} | 3, linux\n" },
        { "several excludes",
                "{\"v\": [1, 2, 3], \"os\": [\"linux\", \"win\"], \"exclude\": [{\"v\": 1}, {\"v\": 3, \"os\": \"linux\"}]}",
                "{\"v\":2,\"os\":\"linux\"} | 2, linux\n"
                "{\"v\":2,\"os\":\"win\"} | 2, win\n"
                "{\"v\":3,\"os\":\"win\"} | 3, win\n" },
        { "exclude compares as == does: strings without case, numbers with strings",
                "{\"os\": [\"linux\", \"Win\"], \"v\": [\"1\", 2], \"exclude\": [{\"os\": \"LINUX\", \"v\": 1}, {\"os\": \"win\", \"v\": \"2.0\"}]}",
                "{\"os\":\"linux\",\"v\":2} | linux, 2\n"
                "{\"os\":\"Win\",\"v\":\"1\"} | Win, 1\n" },
        { "exclude inside object values, partially",
                "{\"cfg\": [{\"cc\": \"gcc\", \"v\": 13}, {\"cc\": \"clang\", \"v\": 17}, {\"cc\": \"clang\", \"v\": 18}],"
                " \"exclude\": [{\"cfg\": {\"cc\": \"clang\", \"v\": 17}}]}",
                "{\"cfg\":{\"cc\":\"gcc\",\"v\":13}} | gcc, 13\n"
                "{\"cfg\":{\"cc\":\"clang\",\"v\":18}} | clang, 18\n" },
        { "exclude of every combination leaves none",
                "{\"os\": [\"linux\"], \"exclude\": [{\"os\": \"linux\"}]}", "" },
        { "exclude key not in the matrix",
                "{\"os\": [\"linux\"], \"exclude\": [{\"os\": \"linux\", \"arch\": \"x64\"}]}",
                "! exclude key 'arch' is not a key of the matrix (item 1)" },
        { "exclude keys are the vectors only, not include extras",
                "{\"os\": [\"linux\"], \"include\": [{\"extra\": 1}], \"exclude\": [{\"extra\": 1}]}",
                "! exclude key 'extra' is not a key of the matrix" },
        { "empty exclude item", "{\"os\": [\"linux\"], \"exclude\": [{}]}", "! exclude item 1 is empty" },
        { "exclude item not a mapping", "{\"os\": [\"linux\"], \"exclude\": [\"linux\"]}",
                "! exclude item 1 must be a mapping" },
        { "include extras without filter go to every combination",
                "{\"os\": [\"linux\", \"mac\"], \"include\": [{\"color\": \"green\"}]}",
                "{\"os\":\"linux\",\"color\":\"green\"} | linux\n"
                "{\"os\":\"mac\",\"color\":\"green\"} | mac\n" },
        { "include adds extras to the combinations it matches",
                "{\"arch\": [\"x64\", \"x86\"], \"os\": [\"linux\", \"win\"], \"include\": [{\"arch\": \"x64\", \"os\": \"linux\", \"publish\": true}]}",
                "{\"arch\":\"x64\",\"os\":\"linux\",\"publish\":true} | x64, linux\n"
                "{\"arch\":\"x64\",\"os\":\"win\"} | x64, win\n"
                "{\"arch\":\"x86\",\"os\":\"linux\"} | x86, linux\n"
                "{\"arch\":\"x86\",\"os\":\"win\"} | x86, win\n" },
        { "GitHub's documented example",
                "{\"fruit\": [\"apple\", \"pear\"], \"animal\": [\"cat\", \"dog\"], \"include\": ["
                "{\"color\": \"green\"}, {\"color\": \"pink\", \"animal\": \"cat\"},"
                " {\"fruit\": \"apple\", \"shape\": \"circle\"}, {\"fruit\": \"banana\"},"
                " {\"fruit\": \"banana\", \"animal\": \"cat\"}]}",
                "{\"fruit\":\"apple\",\"animal\":\"cat\",\"color\":\"pink\",\"shape\":\"circle\"} | apple, cat\n"
                "{\"fruit\":\"apple\",\"animal\":\"dog\",\"color\":\"green\",\"shape\":\"circle\"} | apple, dog\n"
                "{\"fruit\":\"pear\",\"animal\":\"cat\",\"color\":\"pink\"} | pear, cat\n"
                "{\"fruit\":\"pear\",\"animal\":\"dog\",\"color\":\"green\"} | pear, dog\n"
                "{\"fruit\":\"banana\"} | banana\n"
                "{\"fruit\":\"banana\",\"animal\":\"cat\"} | banana, cat\n" },
        { "a later include overwrites an earlier extra (in any case; the first spelling stays)",
                "{\"os\": [\"linux\"], \"include\": [{\"cc\": \"gcc\", \"opt\": 1}, {\"os\": \"linux\", \"CC\": \"clang\"}]}",
                "{\"os\":\"linux\",\"cc\":\"clang\",\"opt\":1} | linux\n" },
        { "an include never overwrites an original value: it is appended",
                "{\"os\": [\"linux\"], \"v\": [1], \"include\": [{\"os\": \"linux\", \"v\": 2}]}",
                "{\"os\":\"linux\",\"v\":1} | linux, 1\n"
                "{\"os\":\"linux\",\"v\":2} | linux, 2\n" },
        { "appended includes, in order, named by all their values",
                "{\"os\": [\"linux\"], \"include\": [{\"os\": \"mac\", \"xcode\": 15}, {\"os\": \"bsd\"}]}",
                "{\"os\":\"linux\"} | linux\n"
                "{\"os\":\"mac\",\"xcode\":15} | mac, 15\n"
                "{\"os\":\"bsd\"} | bsd\n" },
        { "an appended include puts its matrix keys before its extras",
                "{\"os\": [\"linux\"], \"v\": [1], \"include\": [{\"extra\": \"x\", \"os\": \"mac\"}]}",
                "{\"os\":\"linux\",\"v\":1} | linux, 1\n"
                "{\"os\":\"mac\",\"extra\":\"x\"} | mac, x\n" },
        { "an include matching only an excluded combination is appended",
                "{\"os\": [\"linux\", \"win\"], \"exclude\": [{\"os\": \"win\"}], \"include\": [{\"os\": \"win\", \"shell\": \"pwsh\"}]}",
                "{\"os\":\"linux\"} | linux\n"
                "{\"os\":\"win\",\"shell\":\"pwsh\"} | win, pwsh\n" },
        { "an include that matches adds nothing new when it has no extras",
                "{\"os\": [\"linux\", \"mac\"], \"include\": [{\"os\": \"mac\"}]}",
                "{\"os\":\"linux\"} | linux\n"
                "{\"os\":\"mac\"} | mac\n" },
        { "two includes match one combination: both extras",
                "{\"os\": [\"linux\", \"mac\"], \"include\": [{\"os\": \"mac\", \"a\": 1}, {\"os\": \"mac\", \"b\": 2}]}",
                "{\"os\":\"linux\"} | linux\n"
                "{\"os\":\"mac\",\"a\":1,\"b\":2} | mac\n" },
        { "includes only", "{\"include\": [{\"os\": \"linux\", \"v\": 1}, {\"os\": \"mac\"}]}",
                "{\"os\":\"linux\",\"v\":1} | linux, 1\n"
                "{\"os\":\"mac\"} | mac\n" },
        { "an appended include is not matched by a later one",
                "{\"os\": [\"linux\"], \"include\": [{\"os\": \"mac\"}, {\"os\": \"mac\", \"x\": 1}]}",
                "{\"os\":\"linux\"} | linux\n"
                "{\"os\":\"mac\"} | mac\n"
                "{\"os\":\"mac\",\"x\":1} | mac, 1\n" },
        { "empty include item", "{\"os\": [\"linux\"], \"include\": [{}]}", "! include item 1 is empty" },
        { "include not a sequence", "{\"os\": [\"linux\"], \"include\": {\"os\": \"mac\"}}",
                "! include must be a sequence" },
        { "empty vector", "{\"os\": [\"linux\"], \"v\": []}",
                "! matrix vector 'v' does not contain any values" },
        { "vector not a sequence", "{\"os\": \"linux\"}", "! matrix vector 'os' must be a sequence" },
        { "no vectors", "{}", "! the matrix must define at least one vector or include" },
        { "no vectors and an empty include", "{\"include\": []}",
                "! the matrix must define at least one vector or include" },
        { "an exclude without vectors", "{\"exclude\": [{\"os\": \"linux\"}]}",
                "! exclude key 'os' is not a key of the matrix" },
        { "not a mapping", "[1, 2]", "! the matrix must be a mapping" },
        { "names: numbers as GitHub prints them, booleans, nested values; null and empty left out",
                "{\"py\": [3.10, 1e21], \"flag\": [false], \"n\": [null], \"e\": [\"\"],"
                " \"o\": [{\"a\": [1, {\"b\": \"deep\"}], \"c\": null}]}",
                "{\"py\":3.1,\"flag\":false,\"n\":null,\"e\":\"\",\"o\":{\"a\":[1,{\"b\":\"deep\"}],\"c\":null}} | 3.1, false, 1, deep\n"
                "{\"py\":1e+21,\"flag\":false,\"n\":null,\"e\":\"\",\"o\":{\"a\":[1,{\"b\":\"deep\"}],\"c\":null}} | 1e+21, false, 1, deep\n" },
};

static char *render(const MatrixExpansion *m) {
        _cleanup_(strbuf_done) StrBuf b = {};
        char *s;

        for (size_t i = 0; i < m->n; i++) {
                _cleanup_free_ char *json = NULL;
                assert_int_equal(expr_value_to_json(m->items[i].matrix, false, &json, NULL), 0);
                assert_int_equal(strbuf_puts(&b, json), 0);
                assert_int_equal(strbuf_puts(&b, " | "), 0);
                assert_int_equal(strbuf_puts(&b, m->items[i].suffix), 0);
                assert_int_equal(strbuf_puts(&b, "\n"), 0);
        }
        assert_int_equal(strbuf_take(&b, &s, NULL), 0);
        return s;
}

static int expand_json(const char *json, MatrixExpansion *ret, MatrixError *error) {
        _cleanup_(expr_value_unrefp) ExprValue *definition = NULL;
        char why[256];

        if (expr_value_from_json(json, strlen(json), &definition, why, sizeof(why)) < 0)
                fail_msg("invalid JSON in the table: %s: %s", why, json);
        return matrix_expand(definition, ret, error);
}

static void test_table(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                _cleanup_(matrix_expansion_done) MatrixExpansion m = {};
                _cleanup_free_ char *got = NULL;
                MatrixError error = {};
                int r;

                r = expand_json(c->definition, &m, &error);
                if (startswith(c->expected, "! ")) {
                        assert_int_equal(r, -EINVAL);
                        if (!startswith(error.message, c->expected + 2))
                                fail_msg("%s: error '%s', expected '%s'", c->name, error.message,
                                        c->expected + 2);
                        continue;
                }
                if (r < 0)
                        fail_msg("%s: %s", c->name, error.message);
                got = render(&m);
                if (!streq(got, c->expected))
                        fail_msg("%s: expected\n%sgot\n%s", c->name, c->expected, got);
        }
}

static void put_range(StrBuf *s, const char *key, unsigned n) {
        char buf[32];

        assert_int_equal(strbuf_puts(s, key), 0);
        for (unsigned i = 0; i < n; i++) {
                snprintf(buf, sizeof(buf), "%s%u", i ? ", " : "", i);
                assert_int_equal(strbuf_puts(s, buf), 0);
        }
        assert_int_equal(strbuf_puts(s, "]"), 0);
}

/* {"a": [0, …, a-1], "b": [0, …, b-1] and what follows */
static char *two_vectors(unsigned a, unsigned b, const char *rest) {
        _cleanup_(strbuf_done) StrBuf s = {};
        char *ret;

        put_range(&s, "{\"a\": [", a);
        put_range(&s, ", \"b\": [", b);
        assert_int_equal(strbuf_puts(&s, rest), 0);
        assert_int_equal(strbuf_puts(&s, "}"), 0);
        assert_int_equal(strbuf_take(&s, &ret, NULL), 0);
        return ret;
}

static void expect_count(const char *json, int expected_r, size_t expected_n, const char *message) {
        _cleanup_(matrix_expansion_done) MatrixExpansion m = {};
        MatrixError error = {};
        int r = expand_json(json, &m, &error);

        if (r != expected_r)
                fail_msg("%d (%s), expected %d", r, error.message, expected_r);
        if (r < 0)
                assert_true(startswith(error.message, message));
        else
                assert_int_equal(m.n, expected_n);
}

static void test_limits(void **state) {
        _cleanup_free_ char *exact = two_vectors(16, 16, "");
        _cleanup_free_ char *one_more = two_vectors(16, 16, ", \"include\": [{\"a\": 99}]");
        _cleanup_free_ char *excluded = two_vectors(17, 16, ", \"exclude\": [{\"a\": 16}]");
        _cleanup_free_ char *over = two_vectors(257, 1, "");
        _cleanup_free_ char *product = two_vectors(300, 300, ", \"exclude\": [{\"a\": 0}]");
        _cleanup_(matrix_expansion_done) MatrixExpansion m = {};

        expect_count(exact, 0, 256, NULL);
        expect_count(one_more, -EINVAL, 0, "the matrix has more than 256 combinations");
        /* the limit counts what is left after exclude */
        expect_count(excluded, 0, 256, NULL);
        expect_count(over, -EINVAL, 0, "the matrix has more than 256 combinations");
        expect_count(product, -EINVAL, 0, "the matrix's cross product has more than 65536");

        assert_int_equal(expand_json(exact, &m, NULL), 0);
        assert_string_equal(m.items[0].suffix, "0, 0");
        assert_string_equal(m.items[17].suffix, "1, 1");
        assert_string_equal(m.items[255].suffix, "15, 15");
}

static void test_display_name(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        char long_suffix[300];

        assert_int_equal(matrix_display_name("build", "1, linux", &a), 0);
        assert_string_equal(a, "build (1, linux)");
        assert_int_equal(matrix_display_name("build", "", &b), 0);
        assert_string_equal(b, "build");

        memset(long_suffix, 'x', sizeof(long_suffix) - 1);
        long_suffix[sizeof(long_suffix) - 1] = '\0';
        assert_int_equal(matrix_display_name("build", long_suffix, &c), 0);
        assert_int_equal(strlen(c), 100);
        assert_true(startswith(c, "build (xxx"));

        /* characters, not bytes: "é (" and 97 two-byte letters, never cut inside one */
        {
                char s[2 * 120 + 1] = {};
                for (size_t i = 0; i < 120; i++)
                        memcpy(s + 2 * i, "\xc3\xa9", 2);
                assert_int_equal(matrix_display_name("\xc3\xa9", s, &d), 0);
                assert_int_equal(strlen(d), 2 + 2 + 2 * 97);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_display_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
