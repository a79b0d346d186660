/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Masking of secrets: the forms of a secret, and the streaming filter whatever the chunks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        { { "abcd", "bc" }, "xabcdx", "x***x" },                /* one inside another */
        { { "secret", "cret" }, "a cret secret", "a *** ***" }, /* one the end of another */
        { { "ab", "bc" }, "abc", "***" },  /* a match ends after one no value continues */
        { { "ab", "cd" }, "abcd", "***" }, /* adjacent values */
        { { "ab", "cd" }, "ab cd", "*** ***" },
        { { "abc", "cde" }, "abcde", "***" },      /* overlapping values */
        { { "xayb", "a" }, "xayaz", "x***y***z" }, /* matches inside a possible longer one */
        { { "xayb", "a" }, "xaybz", "***z" },
        { { "aa" }, "aaa", "***" },
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
                        assert_int_equal(mask_list_add(&l, cases[i].masks[k], strlen(cases[i].masks[k])), 1);
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
        assert_int_equal(mask_list_add(&l, "secret", 6), 1);
        assert_int_equal(mask_list_add(&l, "cret-longer", 11), 1);
        assert_int_equal(mask_list_cut_value(&l, "quote: secr", 11), 4);
        assert_int_equal(mask_list_cut_value(&l, "quote: s", 8), 1);
        assert_int_equal(mask_list_cut_value(&l, "quote: secret", 13), 6);
        assert_int_equal(mask_list_cut_value(&l, "quote: cret-lo", 14), 7); /* the longest end */
        assert_int_equal(mask_list_cut_value(&l, "quote: x", 8), 0);
        assert_int_equal(mask_list_cut_value(&l, "cre", 3), 3);
        assert_int_equal(mask_list_cut_value(&l, "", 0), 0);
        mask_list_done(&l);
}

/* Values added while a stream is held back: the held bytes are masked with them too. */
static void test_filter_growth(void **state) {
        MaskList l = {};
        MaskFilter f;

        assert_int_equal(mask_list_add(&l, "secret", 6), 1);
        mask_filter_init(&f, &l);
        assert_int_equal(mask_filter_feed(&f, "my sec", 6, false), 0);
        assert_int_equal(f.out_len, 3); /* "sec" held back */
        assert_int_equal(mask_list_add(&l, "ecx", 3), 1);
        assert_int_equal(mask_filter_feed(&f, "x tail", 6, true), 0);
        assert_int_equal(f.out_len, strlen("s*** tail"));
        assert_memory_equal(f.out, "s*** tail", f.out_len);
        mask_filter_done(&f);

        /* The state follows the new values: "ab" held, "bq" added, then "q". */
        mask_filter_init(&f, &l);
        assert_int_equal(mask_list_add(&l, "abcd", 4), 1);
        assert_int_equal(mask_filter_feed(&f, "zab", 3, false), 0);
        assert_memory_equal(f.out, "z", f.out_len);
        assert_int_equal(mask_list_add(&l, "bq", 2), 1);
        assert_int_equal(mask_filter_feed(&f, "q", 1, false), 0);
        assert_memory_equal(f.out, "a", 1);
        assert_int_equal(mask_filter_feed(&f, "secre", 5, false), 0);
        assert_int_equal(mask_list_add(&l, "t!", 2), 1);
        assert_int_equal(mask_filter_feed(&f, "t! ok", 5, true), 0);
        assert_int_equal(f.out_len, strlen("*** ok"));
        assert_memory_equal(f.out, "*** ok", f.out_len);
        mask_filter_done(&f);
        mask_list_done(&l);
}

static double cpu_seconds(void) {
        struct timespec ts;

        assert_int_equal(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* The best CPU time of three maskings of text; the output must be expect (NULL: the text itself). */
static double time_mask(const MaskList *l, const char *text, size_t len, const char *expect) {
        double best = 1e9;

        (void) mask_list_matches(l, "", 0); /* the matcher built once, outside the timing */
        for (int i = 0; i < 3; i++) {
                _cleanup_free_ char *out = NULL;
                size_t out_len;
                double t = cpu_seconds();

                assert_int_equal(mask_string(l, text, len, &out, &out_len), 0);
                t = cpu_seconds() - t;
                best = MIN(best, t);
                if (expect) {
                        assert_int_equal(out_len, strlen(expect));
                        assert_string_equal(out, expect);
                } else {
                        assert_int_equal(out_len, len);
                        assert_memory_equal(out, text, len);
                }
        }
        return best;
}

/* A step adds many values sharing a long beginning and writes a long run of that beginning (in
 * $GITHUB_OUTPUT, which the agent masks in its event loop): masking must cost about what one value
 * costs, not one comparison per value per byte. */
static void test_many_values_cost(void **state) {
        const size_t text_len = 1024 * 1024, prefix = 250;
        _cleanup_free_ char *text = malloc(text_len), *v = malloc(MASK_LIST_MAX + 16);
        MaskList one = {}, shared = {}, runs = {};
        double base, t_shared, t_runs;

        assert_non_null(text);
        assert_non_null(v);
        memset(text, 'a', text_len);
        memset(v, 'a', prefix);
        for (unsigned i = 1000; i < 2000; i++) {
                int n = snprintf(v + prefix, 16, "%u", i);

                if (i == 1000)
                        assert_int_equal(mask_list_add(&one, v, prefix + (size_t) n), 1);
                assert_int_equal(mask_list_add(&shared, v, prefix + (size_t) n), 1);
        }
        memset(v, 'a', MASK_LIST_MAX);
        for (size_t k = 1; k <= MASK_LIST_MAX; k++)
                assert_int_equal(mask_list_add(&runs, v, k), 1);
        assert_int_equal(runs.n, MASK_LIST_MAX);

        base = time_mask(&one, text, text_len, NULL);
        t_shared = time_mask(&shared, text, text_len, NULL);
        t_runs = time_mask(&runs, text, text_len, "***");
        print_message("# masking 1 MiB of 'a' (CPU seconds, best of 3)\n"
                      "#   1 value (250 'a' + digits), baseline   %.4f\n"
                      "#   1000 values sharing 250 'a'            %.4f  (%.1fx)\n"
                      "#   4096 values 'a' * k, k = 1..4096       %.4f  (%.1fx)\n",
                base, t_shared, t_shared / base, t_runs, t_runs / base);
        assert_true(t_shared < 20 * base + 0.01);
        assert_true(t_runs < 20 * base + 0.01);
        mask_list_done(&one);
        mask_list_done(&shared);
        mask_list_done(&runs);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_secret_forms),
                cmocka_unit_test(test_filter),
                cmocka_unit_test(test_serialize),
                cmocka_unit_test(test_cut_value),
                cmocka_unit_test(test_filter_growth),
                cmocka_unit_test(test_many_values_cost),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
