/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Masking of secrets: the forms of a secret, and the streaming filter whatever the chunks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "mask.h"

static bool has(const MaskList *l, const char *v) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->values[i], v) == 0)
                        return true;
        return false;
}

static void test_secret_forms(void **state) {
        MaskList l = {};

        assert_int_equal(mask_list_add_secret(&l, "abc"), 0);
        assert_true(has(&l, "abc"));
        /* base64 of "abc", "bc", "c", padding trimmed */
        assert_true(has(&l, "YWJj"));
        assert_true(has(&l, "YmM"));
        assert_true(has(&l, "Yw"));
        mask_list_done(&l);

        /* Lines of a multi-line value, \r trimmed, empty lines left out. */
        assert_int_equal(mask_list_add_secret(&l, "line one\r\n\nline two\n"), 0);
        assert_true(has(&l, "line one\r\n\nline two\n"));
        assert_true(has(&l, "line one"));
        assert_true(has(&l, "line two"));
        assert_false(has(&l, ""));
        mask_list_done(&l);

        /* The URL-safe alphabet too: base64("\xfb\xff") = "+/8". */
        assert_int_equal(mask_list_add_secret(&l, "\xfb\xff"), 0);
        assert_true(has(&l, "+/8"));
        assert_true(has(&l, "-_8"));
        mask_list_done(&l);

        assert_int_equal(mask_list_add_secret(&l, ""), 0);
        assert_int_equal(l.n, 0);
        mask_list_done(&l);
}

typedef struct Case {
        const char *masks[4];
        const char *in, *out;
} Case;

static const Case cases[] = {
        { { "secret" }, "a secret here", "a *** here" },
        { { "secret" }, "secretsecret", "***" }, /* adjacent: one range */
        { { "aba" }, "ababa", "***" },           /* overlapping */
        { { "ab", "abcd" }, "xabcdx", "x***x" }, /* the longest at a position */
        { { "ab", "bcd" }, "abcd", "***" },      /* a later, longer match extends */
        { { "s" }, "ssxs", "***x***" },
        { { "secret" }, "secre", "secre" }, /* a prefix at the end stays */
        { { "xyz" }, "", "" },
        { {}, "plain", "plain" },
};

static char *mask_in_chunks(const MaskList *l, const char *in, size_t chunk) {
        MaskFilter f;
        size_t len = strlen(in), o = 0;
        char *out = malloc(len * 3 + 4);

        assert_non_null(out);
        mask_filter_init(&f, l);
        for (size_t i = 0; i <= len; i += chunk) {
                size_t n = MIN(chunk, len - i);
                assert_int_equal(mask_filter_feed(&f, in + i, n, i + chunk > len), 0);
                if (f.out_len > 0)
                        memcpy(out + o, f.out, f.out_len);
                o += f.out_len;
                if (i + chunk > len)
                        break;
        }
        out[o] = '\0';
        mask_filter_done(&f);
        return out;
}

static void test_filter(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                MaskList l = {};

                for (size_t k = 0; k < ELEMENTSOF(cases[i].masks) && cases[i].masks[k]; k++)
                        assert_int_equal(mask_list_add(&l, cases[i].masks[k], strlen(cases[i].masks[k])), 0);
                for (size_t chunk = 1; chunk <= strlen(cases[i].in) + 1; chunk++) {
                        _cleanup_free_ char *out = mask_in_chunks(&l, cases[i].in, chunk);
                        if (strcmp(out, cases[i].out) != 0)
                                fail_msg("'%s' in chunks of %zu: '%s', expected '%s'", cases[i].in, chunk,
                                        out, cases[i].out);
                }
                mask_list_done(&l);
        }
}

static void test_serialize(void **state) {
        MaskList l = {}, back = {};
        _cleanup_free_ char *text = NULL;
        size_t len;

        assert_int_equal(mask_list_add_secret(&l, "p4ss\nw0rd"), 0);
        assert_int_equal(mask_list_serialize(&l, &text, &len), 0);
        assert_int_equal(mask_list_parse(text, len, &back), 0);
        assert_int_equal(back.n, l.n);
        for (size_t i = 0; i < l.n; i++)
                assert_true(has(&back, l.values[i]));
        assert_true(mask_list_matches(&back, "x w0rd", 6));
        assert_false(mask_list_matches(&back, "x w0r", 5));
        /* Not NUL-terminated: refused. */
        assert_int_equal(mask_list_parse("abc", 3, &back), -EINVAL);
        mask_list_done(&l);
        mask_list_done(&back);
}

/* What is left of a value in a text cut after it (a quote ending in "…"). */
static void test_cut_value(void **state) {
        MaskList l = {};

        assert_int_equal(mask_list_cut_value(&l, "abc", 3), 0);
        assert_int_equal(mask_list_add(&l, "secret", 6), 0);
        assert_int_equal(mask_list_add(&l, "cret-longer", 11), 0);
        assert_int_equal(mask_list_cut_value(&l, "quote: secr", 11), 4);
        assert_int_equal(mask_list_cut_value(&l, "quote: s", 8), 1);
        assert_int_equal(mask_list_cut_value(&l, "quote: secret", 13), 6);
        assert_int_equal(mask_list_cut_value(&l, "quote: cret-lo", 14), 7); /* the longest end */
        assert_int_equal(mask_list_cut_value(&l, "quote: x", 8), 0);
        assert_int_equal(mask_list_cut_value(&l, "cre", 3), 3);
        assert_int_equal(mask_list_cut_value(&l, "", 0), 0);
        mask_list_done(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_secret_forms),
                cmocka_unit_test(test_filter),
                cmocka_unit_test(test_serialize),
                cmocka_unit_test(test_cut_value),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
