/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The action store's names (README, "Actions"): what `uses:` and `runnerctl action` accept, and that
 * no name makes a path outside the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "action-name.h"
#include "macro.h"

static void check_parse(
        const char *s, const char *owner, const char *repo, const char *path, const char *ref) {
        _cleanup_(action_name_done) ActionName n = {};
        const char *why = NULL;

        assert_int_equal(action_name_parse(s, &n, &why), 0);
        assert_string_equal(n.owner, owner);
        assert_string_equal(n.repo, repo);
        if (path)
                assert_string_equal(n.path, path);
        else
                assert_null(n.path);
        assert_string_equal(n.ref, ref);
}

static void check_refused(const char *s, const char *why_part) {
        ActionName n = {};
        const char *why = NULL;

        assert_int_equal(action_name_parse(s, &n, &why), -EINVAL);
        assert_non_null(why);
        if (!strstr(why, why_part))
                fail_msg("%s: '%s' does not contain '%s'", s, why, why_part);
        assert_null(n.owner);
}

static void test_parse(void **state) {
        check_parse("actions/checkout@v4", "actions", "checkout", NULL, "v4");
        check_parse(
                "Someone/Hello.World_x-y@releases/v1", "Someone", "Hello.World_x-y", NULL, "releases/v1");
        check_parse("octo-org/.github/actions/lint@main", "octo-org", ".github", "actions/lint", "main");
        check_parse("a/b@0123456789ABCDEF0123456789abcdef01234567", "a", "b", NULL,
                "0123456789abcdef0123456789abcdef01234567");
        check_parse("a/b/dir with space@v1.2.3", "a", "b", "dir with space", "v1.2.3");
}

static void test_refused(void **state) {
        check_refused("../x", "owner/repo@ref");
        check_refused("a/b@", "ref after @ is empty");
        check_refused("a/b", "owner/repo@ref");
        check_refused("a@v1", "no / between owner and repository");
        check_refused("../x@v1", "invalid owner");
        check_refused("-a/b@v1", "invalid owner");
        check_refused("a/..@v1", "invalid repository");
        check_refused("a/.@v1", "invalid repository");
        check_refused("a/b c@v1", "invalid repository");
        check_refused("/b@v1", "invalid owner");
        check_refused("a/b/../../etc@v1", "invalid path");
        check_refused("a/b/x//y@v1", "invalid path");
        check_refused("a/b/x/@v1", "invalid path");
        check_refused("a/b@../../x", "invalid ref");
        check_refused("a/b@.hidden", "invalid ref");
        check_refused("a/b@x/.y", "invalid ref");
        check_refused("a/b@/v1", "invalid ref");
        check_refused("a/b@v1/", "invalid ref");
        check_refused("a/b@v1.lock", "invalid ref");
        check_refused("a/b@v1.lock/x", "invalid ref");
        check_refused("a/b@v 1", "invalid ref");
        check_refused("a/b@v~1", "invalid ref");
        check_refused("a/b@-v1", "invalid ref");
        check_refused("a/b@v1\n", "invalid ref");
}

static void check_path(const char *owner, const char *repo, const char *ref, const char *expected) {
        _cleanup_free_ char *p = NULL;

        assert_int_equal(action_store_path(owner, repo, ref, &p), 0);
        assert_string_equal(p, expected);
}

static void test_store_path(void **state) {
        char *p = NULL;

        check_path("Actions", "CheckOut", "v4", "actions/checkout/v4");
        check_path("someone", "hello", "releases/v1", "someone/hello/releases%2Fv1");
        check_path("someone", "hello", "100%/x", "someone/hello/100%25%2Fx");
        /* a commit in either case is one entry; a tag's case is its own */
        check_path("a", "b", "ABCDEF0123456789ABCDEF0123456789ABCDEF01",
                "a/b/abcdef0123456789abcdef0123456789abcdef01");
        check_path("a", "b", "V1", "a/b/V1");
        check_path("a", ".github", "main", "a/.github/main");
        /* what would escape, or name the store's own files, is refused */
        assert_int_equal(action_store_path("..", "b", "v1", &p), -EINVAL);
        assert_int_equal(action_store_path(".tmp", "b", "v1", &p), -EINVAL);
        assert_int_equal(action_store_path("a", "..", "v1", &p), -EINVAL);
        assert_int_equal(action_store_path("a", "b/c", "v1", &p), -EINVAL);
        assert_int_equal(action_store_path("a", "b", "..", &p), -EINVAL);
        assert_int_equal(action_store_path("a", "b", ".", &p), -EINVAL);
        assert_int_equal(action_store_path("a", "b", ".tmp", &p), -EINVAL);
        assert_int_equal(action_store_path("a", "b", "", &p), -EINVAL);
        assert_null(p);
}

static void test_canonical_name(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        assert_int_equal(action_canonical_name("Someone", "Hello", "releases/V1", &a), 0);
        assert_string_equal(a, "someone/hello@releases/V1");
        assert_int_equal(action_canonical_name("a", "b", "ABCDEF0123456789ABCDEF0123456789ABCDEF01", &b), 0);
        assert_string_equal(b, "a/b@abcdef0123456789abcdef0123456789abcdef01");
        assert_true(action_ref_is_sha("abcdef0123456789abcdef0123456789abcdef01"));
        assert_false(action_ref_is_sha("abcdef0123456789abcdef0123456789abcdef0"));
        assert_false(action_ref_is_sha("gbcdef0123456789abcdef0123456789abcdef01"));
}

static void test_mirror(void **state) {
        _cleanup_free_ char *plain = NULL, *git = NULL;

        assert_true(action_mirror_valid("git://127.0.0.1:9418", 1024));
        assert_true(action_mirror_valid("https://ghe.example/mirrors/", 1024));
        assert_true(action_mirror_valid("file:///srv/mirror", 1024));
        assert_true(action_mirror_valid("ssh://git@host/x", 1024));
        assert_true(action_mirror_valid("git@host:mirrors", 1024));
        assert_false(action_mirror_valid("/srv/mirror", 1024));
        assert_false(action_mirror_valid("host/x:y", 1024));
        assert_false(action_mirror_valid("https://", 1024));
        assert_false(action_mirror_valid("-oProxyCommand=x:y", 1024));
        assert_false(action_mirror_valid("git://a b", 1024));
        assert_false(action_mirror_valid("git://abc", 8));
        assert_int_equal(action_mirror_urls("git://h/m//", "Someone", "hello", &plain, &git), 0);
        assert_string_equal(plain, "git://h/m/Someone/hello");
        assert_string_equal(git, "git://h/m/Someone/hello.git");
}

static void test_tar_member(void **state) {
        assert_true(action_tar_member_safe("\"action.yml\""));
        assert_true(action_tar_member_safe("\"./dist/index.js\""));
        assert_true(action_tar_member_safe("\"a/..b/c..\""));
        assert_true(action_tar_member_safe("\"./\""));
        assert_true(action_tar_member_safe("\"name with \\\"quote\\\" and \\n\""));
        assert_false(action_tar_member_safe("\"/etc/passwd\""));
        assert_false(action_tar_member_safe("\"../x\""));
        assert_false(action_tar_member_safe("\"a/../../x\""));
        assert_false(action_tar_member_safe("\"a/..\""));
        assert_false(action_tar_member_safe("\"..\""));
        assert_false(action_tar_member_safe("unquoted"));
        assert_false(action_tar_member_safe("\"\""));
        assert_false(action_tar_member_safe(""));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_store_path),
                cmocka_unit_test(test_canonical_name),
                cmocka_unit_test(test_mirror),
                cmocka_unit_test(test_tar_member),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
