/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cmocka.h needs <setjmp.h>, <stdarg.h>, <stddef.h> and <stdint.h> before it */
#include <cmocka.h>

#include "expr-lexer.h"
#include "macro.h"

#define NUM_NAN (-12345.678) /* marks "Number() gives NaN": expr_parse_number() fails */

static const struct {
        const char *text;
        double value;
} number_cases[] = {
        { "", 0 },
        { "   ", 0 },
        { "0", 0 },
        { "1", 1 },
        { "-1", -1 },
        { "+1", 1 },
        { "1.5", 1.5 },
        { ".5", 0.5 },
        { "1.", 1 },
        { "-.5", -0.5 },
        { "1e3", 1000 },
        { "1E-3", 0.001 },
        { "-1.5e+2", -150 },
        { "0.1e1", 1 },
        { "00012", 12 },
        { " 12 ", 12 },
        { "\t12\n", 12 },
        { "\xc2\xa0"
          "12\xe2\x80\xa8",
                12 }, /* NBSP and LINE SEPARATOR are trimmed */
        { "0x1F", 31 },
        { "0X1f", 31 },
        { "0xff", 255 },
        { "0o17", 15 },
        { "0b101", 5 },
        { "Infinity", INFINITY },
        { "+Infinity", INFINITY },
        { "-Infinity", -INFINITY },
        { "1e400", INFINITY },
        { "0x", NUM_NAN },
        { "0x1g", NUM_NAN },
        { "-0x1", NUM_NAN },
        { "0b2", NUM_NAN },
        { "0o8", NUM_NAN },
        { "0x1.5", NUM_NAN },
        { "infinity", NUM_NAN },
        { "inf", NUM_NAN },
        { "nan", NUM_NAN },
        { "NaN", NUM_NAN },
        { "abc", NUM_NAN },
        { "1a", NUM_NAN },
        { "1 2", NUM_NAN },
        { "1e", NUM_NAN },
        { "1e+", NUM_NAN },
        { "e5", NUM_NAN },
        { ".", NUM_NAN },
        { "-", NUM_NAN },
        { "--1", NUM_NAN },
        { "+-1", NUM_NAN },
        { "1_000", NUM_NAN },
        { "1,5", NUM_NAN },
        { "0x1p3", NUM_NAN },
};

static void test_numbers(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(number_cases); i++) {
                const char *t = number_cases[i].text;
                double v = 4242, want = number_cases[i].value;
                int r = expr_parse_number(t, strlen(t), &v);

                if (want == NUM_NAN) {
                        if (r != -EINVAL)
                                fail_msg("Number('%s'): expected NaN, got %d %g", t, r, v);
                        assert_true(v == 4242); /* untouched */
                } else if (r != 0 || !(v == want))
                        fail_msg("Number('%s'): expected %g, got %d %g", t, want, r, v);
        }
}

/* Renders the token types of an expression as one line, e.g. "identifier . identifier == string". */
static void render(const ExprTokens *t, char *buf, size_t size) {
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < t->n && t->tokens[i].type != EXPR_TOKEN_EOF; i++)
                n += (size_t) snprintf(buf + n, size - n, "%s%s", i > 0 ? " " : "",
                        expr_token_type_to_string(t->tokens[i].type));
}

static const struct {
        const char *text;
        const char *tokens;
} token_cases[] = {
        { "", "" },
        { "  \t\n ", "" },
        { "github.ref == 'refs/heads/main'", "identifier . identifier == string" },
        { "a.b.c", "identifier . identifier . identifier" },
        { "a['b'][0]", "identifier [ string ] [ number ]" },
        { "a.*.b", "identifier . * . identifier" },
        { "f(1, 'x', true, false, null)", "identifier ( number , string , true , false , null )" },
        { "!a && b || c", "! identifier && identifier || identifier" },
        { "a != b", "identifier != identifier" },
        { "a<b<=c>d>=e", "identifier < identifier <= identifier > identifier >= identifier" },
        { "!!a", "! ! identifier" },
        { "a==!b", "identifier == ! identifier" },
        /* keywords are keywords only where they are not property names */
        { "a.true.null.false", "identifier . identifier . identifier . identifier" },
        { "TRUE", "identifier" },
        { "NaN Infinity", "number number" },
        /* a dot after a value is member access, elsewhere it starts a number */
        { ".5", "number" },
        { "(a).b", "( identifier ) . identifier" },
        { "a[0].b", "identifier [ number ] . identifier" },
        { "f(.5)", "identifier ( number )" },
        { "-1 +2 0x10 1e3 -.5", "number number number number number" },
        { "pull-request", "identifier" },
        { "_a-b_9", "identifier" },
        { "'a''b' ''", "string string" },
        { "\xc2\xa0"
          "a",
                "identifier" },
};

static void test_tokens(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(token_cases); i++) {
                const char *text = token_cases[i].text;
                ExprTokens t = {};
                ExprError e = {};
                char buf[512];
                int r = expr_lex(text, strlen(text), &t, &e);

                if (r < 0)
                        fail_msg("'%s': %s at %zu", text, e.message, e.offset);
                assert_true(t.n >= 1);
                assert_int_equal(t.tokens[t.n - 1].type, EXPR_TOKEN_EOF);
                assert_int_equal(t.tokens[t.n - 1].offset, strlen(text));
                render(&t, buf, sizeof(buf));
                if (!streq(buf, token_cases[i].tokens))
                        fail_msg("'%s': got \"%s\", expected \"%s\"", text, buf, token_cases[i].tokens);
                expr_tokens_done(&t);
        }
}

static void test_values_and_positions(void **state) {
        static const char text[] = "f('it''s', '''', '', 0x1F, -2.5e1) == a.b";
        ExprTokens t = {};

        assert_int_equal(expr_lex(text, strlen(text), &t, NULL), 0);
        assert_int_equal(t.n, 17); /* 16 tokens and EOF */
        assert_int_equal(t.tokens[2].type, EXPR_TOKEN_STRING);
        assert_string_equal(t.tokens[2].string, "it's");
        assert_int_equal(t.tokens[2].offset, 2);
        assert_int_equal(t.tokens[2].length, 7);
        assert_string_equal(t.tokens[4].string, "'");
        assert_string_equal(t.tokens[6].string, "");
        assert_true(t.tokens[8].number == 31);
        assert_true(t.tokens[10].number == -25);
        assert_int_equal(t.tokens[12].type, EXPR_TOKEN_EQ);
        assert_int_equal(t.tokens[12].offset, 35);
        assert_int_equal(t.tokens[12].length, 2);
        expr_tokens_done(&t);

        assert_int_equal(expr_lex("NaN", 3, &t, NULL), 0);
        assert_true(isnan(t.tokens[0].number));
        expr_tokens_done(&t);
}

static const struct {
        const char *text;
        size_t offset;
        const char *message;
} error_cases[] = {
        { "a = b", 2, "Unexpected symbol: '='" },
        { "a =b", 2, "Unexpected symbol: '=b'" },
        { "a & b", 2, "Unexpected symbol: '&'" },
        { "a | b", 2, "Unexpected symbol: '|'" },
        { "'unterminated", 0, "Unexpected symbol: ''unterminated'" },
        { "x == 'it''", 5, "Unexpected symbol: ''it'''" },
        { "1.2.3", 0, "Unexpected symbol: '1.2.3'" },
        { "9abc", 0, "Unexpected symbol: '9abc'" },
        { "a == -", 5, "Unexpected symbol: '-'" },
        { "@foo", 0, "Unexpected symbol: '@foo'" },
        { "a.$b", 2, "Unexpected symbol: '$b'" },
        { "a ~ b", 2, "Unexpected symbol: '~'" },
        { "a;b", 0, "Unexpected symbol: 'a;b'" },
        { "1-a", 0, "Unexpected symbol: '1-a'" },
        { "1.5.a", 0, "Unexpected symbol: '1.5.a'" },
};

static void test_errors(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(error_cases); i++) {
                const char *text = error_cases[i].text;
                ExprTokens t = {};
                ExprError e = {};
                int r = expr_lex(text, strlen(text), &t, &e);

                if (r != -EINVAL)
                        fail_msg("'%s': expected an error, got %d", text, r);
                assert_null(t.tokens);
                if (e.offset != error_cases[i].offset || !streq(e.message, error_cases[i].message))
                        fail_msg("'%s': got \"%s\" at %zu, expected \"%s\" at %zu", text, e.message,
                                e.offset, error_cases[i].message, error_cases[i].offset);
        }
}

static void test_limits(void **state) {
        _cleanup_free_ char *big = malloc(EXPR_MAX_LENGTH + 1);
        ExprTokens t = {};
        ExprError e = {};

        assert_non_null(big);
        memset(big, 'a', EXPR_MAX_LENGTH + 1);
        assert_int_equal(expr_lex(big, EXPR_MAX_LENGTH, &t, &e), 0); /* exactly at the limit */
        assert_int_equal(t.n, 2);
        expr_tokens_done(&t);
        assert_int_equal(expr_lex(big, EXPR_MAX_LENGTH + 1, &t, &e), -E2BIG);
        assert_string_equal(e.message, "Exceeded max expression length 21000");

        /* an embedded NUL is an error, never the end of the text */
        assert_int_equal(expr_lex("'a\0b'", 5, &t, &e), -EINVAL);
        assert_int_equal(expr_lex("a\0", 2, &t, &e), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_numbers),
                cmocka_unit_test(test_tokens),
                cmocka_unit_test(test_values_and_positions),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
