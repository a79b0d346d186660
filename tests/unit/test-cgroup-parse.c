/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <inttypes.h>

/* cmocka.h needs <setjmp.h>, <stdarg.h>, <stddef.h> and <stdint.h> before it */
#include <cmocka.h>

#include "cgroup-parse.h"
#include "macro.h"

/* A hybrid host: cgroup v1 controllers plus cgroup2 at /sys/fs/cgroup/unified. */
static const char mountinfo_hybrid[] =
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
        "23 27 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n"
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

/* A modern systemd host, with optional fields before the separator. */
static const char mountinfo_unified[] =
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "25 22 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
        "26 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 master:3 - cgroup2 cgroup2 "
        "rw,nsdelegate,memory_recursiveprot\n";

/* A bind mount of a sub-cgroup comes first; the hierarchy's root is the one we want. */
static const char mountinfo_bind_first[] =
        "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "90 22 0:23 /system.slice/foo.service /srv/cg rw - cgroup2 cgroup2 rw\n"
        "26 22 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";

/* Spaces, tabs and backslashes in mount points are octal escapes. */
static const char mountinfo_escaped[] = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                                        "26 22 0:23 / /mnt/my\\040cgroup\\011x\\134y rw - cgroup2 none rw\n";

static const char mountinfo_v1_only[] = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                                        "32 22 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";

static void test_mountinfo(void **state) {
        static const struct {
                const char *name;
                const char *text;
                int error;
                const char *path;
        } cases[] = {
                { "hybrid", mountinfo_hybrid, 0, "/sys/fs/cgroup/unified" },
                { "unified", mountinfo_unified, 0, "/sys/fs/cgroup" },
                { "bind-first", mountinfo_bind_first, 0, "/sys/fs/cgroup" },
                { "escaped", mountinfo_escaped, 0, "/mnt/my cgroup\tx\\y" },
                { "v1-only", mountinfo_v1_only, -ENOENT, NULL },
                { "empty", "", -ENOENT, NULL },
                { "blank-lines", "\n\n26 22 0:23 / /cg rw - cgroup2 none rw\n", 0, "/cg" },
                { "no-trailing-newline", "26 22 0:23 / /cg rw - cgroup2 none rw", 0, "/cg" },
                { "no-separator", "26 22 0:23 / /cg rw cgroup2 none rw\n", -EBADMSG, NULL },
                { "truncated", "26 22 0:23\n", -EBADMSG, NULL },
                { "nothing-after-separator", "26 22 0:23 / /cg rw -\n", -EBADMSG, NULL },
                { "escaped-nul", "26 22 0:23 / /c\\000g rw - cgroup2 none rw\n", -EBADMSG, NULL },
                /* an escape cut short at the end of the field is taken literally */
                { "short-escape", "26 22 0:23 / /cg\\04 rw - cgroup2 none rw\n", 0, "/cg\\04" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *path = NULL;
                int r = mountinfo_find_cgroup2(cases[i].text, &path);

                if (r != cases[i].error)
                        fail_msg("%s: got %d, expected %d", cases[i].name, r, cases[i].error);
                if (cases[i].path)
                        assert_string_equal(path, cases[i].path);
                else
                        assert_null(path);
        }
}

static void test_proc_cgroup(void **state) {
        static const struct {
                const char *text;
                int error;
                const char *path;
        } cases[] = {
                { "0::/runner.slice/runner-r1.slice/runner-r1-j1.slice/runner-r1-j1-s1.scope\n", 0,
                        "/runner.slice/runner-r1.slice/runner-r1-j1.slice/runner-r1-j1-s1.scope" },
                { "9:name=systemd:/\n4:memory:/x\n0::/\n", 0, "/" },
                { "4:memory:/x\n0::/a b\n1:cpu:/\n", 0, "/a b" },
                { "0::/../..\n", 0, "/../.." },
                { "4:memory:/x\n", -ENOENT, NULL },
                { "", -ENOENT, NULL },
                { "0::\n", -EBADMSG, NULL },
                { "0::relative\n", -EBADMSG, NULL },
                { "10::/not-unified\n", -ENOENT, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *path = NULL;
                int r = proc_cgroup_find_unified(cases[i].text, &path);

                if (r != cases[i].error)
                        fail_msg("case %zu: got %d, expected %d", i, r, cases[i].error);
                if (cases[i].path)
                        assert_string_equal(path, cases[i].path);
                else
                        assert_null(path);
        }
}

static void test_cgroup_events(void **state) {
        static const struct {
                const char *text;
                int error;
                bool populated;
        } cases[] = {
                { "populated 1\nfrozen 0\n", 0, true },
                { "populated 0\nfrozen 0\n", 0, false },
                { "frozen 1\npopulated 0\n", 0, false },
                { "populated 1", 0, true },
                { "frozen 0\n", -EBADMSG, false },
                { "populated 2\n", -EBADMSG, false },
                { "populated 10\n", -EBADMSG, false },
                { "populatedx0\n", -EBADMSG, false },
                { "", -EBADMSG, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                bool populated = !cases[i].populated;
                int r = cgroup_events_parse_populated(cases[i].text, &populated);

                if (r != cases[i].error)
                        fail_msg("case %zu: got %d, expected %d", i, r, cases[i].error);
                if (r == 0)
                        assert_int_equal(populated, cases[i].populated);
        }
}

static void test_memory_events(void **state) {
        static const struct {
                const char *text;
                int error;
                uint64_t oom_kill;
        } cases[] = {
                { "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n", 0, 1 },
                { "oom_kill 18446744073709551610\n", 0, UINT64_C(18446744073709551610) },
                { "oom 3\noom_kill 0", 0, 0 },
                { "oom_group_kill 4\n", -EBADMSG, 0 },
                { "oom_kill\n", -EBADMSG, 0 },
                { "oom_kill 1x\n", -EBADMSG, 0 },
                { "oom_kill -1\n", -EBADMSG, 0 },
                { "oom_kill 99999999999999999999\n", -EBADMSG, 0 },
                { "", -EBADMSG, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 4711;
                int r = cgroup_memory_events_parse_oom_kill(cases[i].text, &v);

                if (r != cases[i].error)
                        fail_msg("case %zu: got %d, expected %d", i, r, cases[i].error);
                if (r == 0 && v != cases[i].oom_kill)
                        fail_msg("case %zu: got %" PRIu64, i, v);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mountinfo),
                cmocka_unit_test(test_proc_cgroup),
                cmocka_unit_test(test_memory_events),
                cmocka_unit_test(test_cgroup_events),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
