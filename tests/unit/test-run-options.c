/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs <setjmp.h>, <stdarg.h>, <stddef.h> and <stdint.h> before it */
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "run-options.h"

#define V(f, s) f(s, strlen(s))

static void test_names(void **state) {
        assert_true(V(run_event_name_valid, "push"));
        assert_true(V(run_event_name_valid, "workflow_dispatch"));
        assert_false(V(run_event_name_valid, ""));
        assert_false(V(run_event_name_valid, "Push"));
        assert_false(V(run_event_name_valid, "push;rm"));
        assert_false(V(
                run_event_name_valid, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

        assert_true(V(run_input_name_valid, "x"));
        assert_true(V(run_input_name_valid, "_log-level2"));
        assert_false(V(run_input_name_valid, "2x"));
        assert_false(V(run_input_name_valid, "-x"));
        assert_false(V(run_input_name_valid, "a b"));
        assert_false(V(run_input_name_valid, ""));
        assert_false(V(run_input_name_valid, "a.b"));

        assert_true(V(run_var_name_valid, "Y"));
        assert_true(V(run_var_name_valid, "_DEPLOY_2"));
        assert_false(V(run_var_name_valid, "2Y"));
        assert_false(V(run_var_name_valid, "github_token"));
        assert_false(V(run_var_name_valid, "A-B"));
        assert_false(V(run_var_name_valid, ""));
}

static void test_git(void **state) {
        assert_true(run_sha_valid("0123456789abcdef0123456789abcdef01234567"));
        assert_false(run_sha_valid("0123456789ABCDEF0123456789abcdef01234567"));
        assert_false(run_sha_valid("0123456789abcdef"));

        assert_true(run_ref_valid("refs/heads/main"));
        assert_true(run_ref_valid("refs/tags/v1.2.3"));
        assert_true(run_ref_valid("refs/heads/feature/x-y_z"));
        assert_false(run_ref_valid("main"));
        assert_false(run_ref_valid("refs/"));
        assert_false(run_ref_valid("refs/heads/a..b"));
        assert_false(run_ref_valid("refs/heads/a b"));
        assert_false(run_ref_valid("refs/heads/a\n"));
        assert_false(run_ref_valid("refs/heads/x.lock"));
        assert_false(run_ref_valid("refs/heads/.x"));
        assert_false(run_ref_valid("refs/heads/x/"));

        assert_true(run_repository_valid("octo-org/hello.world"));
        assert_false(run_repository_valid("octo"));
        assert_false(run_repository_valid("a/b/c"));
        assert_false(run_repository_valid("../b"));
        assert_false(run_repository_valid("a/"));
}

static void test_ref_split(void **state) {
        const char *name, *type;

        run_ref_split("refs/heads/feature/x", &name, &type);
        assert_string_equal(name, "feature/x");
        assert_string_equal(type, "branch");
        run_ref_split("refs/tags/v1", &name, &type);
        assert_string_equal(name, "v1");
        assert_string_equal(type, "tag");
        run_ref_split("refs/pull/7/merge", &name, &type);
        assert_string_equal(name, "pull/7/merge");
        assert_null(type);
}

static void test_repository_from_url(void **state) {
        static const struct {
                const char *url, *want;
        } cases[] = {
                { "https://github.com/octo-org/hello-world.git", "octo-org/hello-world" },
                { "https://github.com/octo-org/hello-world", "octo-org/hello-world" },
                { "https://github.com/octo-org/hello-world/", "octo-org/hello-world" },
                { "git@github.com:octo-org/hello-world.git", "octo-org/hello-world" },
                { "ssh://git@host:2222/group/sub/proj.git", "sub/proj" },
                { "/srv/git/team/app.git", "team/app" },
                { "/home/alice/my project", "alice/my-project" },
                { "file:///srv/a/b", "a/b" },
                { "host:owner/name", "owner/name" },
                { "hello-world", NULL },
                { "/hello-world", NULL },
                { "", NULL },
                { "/a/..", NULL },
                { "x//", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *s = NULL;
                int r = run_repository_from_url(cases[i].url, &s);

                if (!cases[i].want) {
                        if (r != -EINVAL)
                                fail_msg("%s: expected -EINVAL, got %d (%s)", cases[i].url, r, s);
                        continue;
                }
                if (r < 0)
                        fail_msg("%s: %d", cases[i].url, r);
                assert_string_equal(s, cases[i].want);
        }
}

static void test_assignment(void **state) {
        size_t n;

        assert_int_equal(run_assignment_parse(RUN_ASSIGNMENT_INPUT, "log-level=debug", 15, &n), 0);
        assert_int_equal(n, 9);
        assert_int_equal(run_assignment_parse(RUN_ASSIGNMENT_VAR, "Y=a=b", 5, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(run_assignment_parse(RUN_ASSIGNMENT_VAR, "Y=", 2, &n), 0);
        assert_int_equal(run_assignment_parse(RUN_ASSIGNMENT_VAR, "log-level=1", 11, &n), -EINVAL);
        assert_int_equal(run_assignment_parse(RUN_ASSIGNMENT_VAR, "Y", 1, &n), -EINVAL);
        assert_int_equal(run_assignment_parse(RUN_ASSIGNMENT_VAR, "=1", 2, &n), -EINVAL);
        assert_int_equal(run_assignment_parse(RUN_ASSIGNMENT_VAR, "Y=a\0b", 5, &n), -EINVAL);
        assert_int_equal(run_assignment_parse(RUN_ASSIGNMENT_VAR, "GITHUB_X=1", 10, &n), -EINVAL);
}

typedef struct Collected {
        char text[512];
        int fail_at;
        int n;
} Collected;

static int collect(const char *name, size_t name_len, const char *value, size_t value_len, void *userdata) {
        Collected *c = userdata;
        size_t l = strlen(c->text);

        if (++c->n == c->fail_at)
                return -E2BIG;
        snprintf(c->text + l, sizeof(c->text) - l, "[%.*s|%.*s]", (int) name_len, name, (int) value_len,
                value);
        return 0;
}

static void test_var_file(void **state) {
        static const char text[] = "# comment\n\nA=1\r\n  B = two words \n\t# more\nC=x=y\nD=";
        Collected c = {};
        unsigned line = 0;

        assert_int_equal(run_var_file_parse(text, strlen(text), collect, &c, &line), -EINVAL);
        assert_int_equal(line, 4); /* "B " is not a name */

        static const char good[] = "# comment\n\nA=1\r\n  B=two words \n\t# more\nC=x=y\nD=";
        memset(&c, 0, sizeof(c));
        assert_int_equal(run_var_file_parse(good, strlen(good), collect, &c, &line), 0);
        assert_string_equal(c.text, "[A|1][B|two words ][C|x=y][D|]");

        memset(&c, 0, sizeof(c));
        c.fail_at = 2;
        assert_int_equal(run_var_file_parse(good, strlen(good), collect, &c, &line), -E2BIG);

        static const char nul[] = "A=1\nB=x\0y\n";
        memset(&c, 0, sizeof(c));
        assert_int_equal(run_var_file_parse(nul, sizeof(nul) - 1, collect, &c, &line), -EINVAL);
        assert_int_equal(line, 2);

        memset(&c, 0, sizeof(c));
        assert_int_equal(run_var_file_parse("", 0, collect, &c, &line), 0);
        assert_int_equal(c.n, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_git),
                cmocka_unit_test(test_ref_split),
                cmocka_unit_test(test_repository_from_url),
                cmocka_unit_test(test_assignment),
                cmocka_unit_test(test_var_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
