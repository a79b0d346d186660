/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs <setjmp.h>, <stdarg.h>, <stddef.h> and <stdint.h> before it */
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"
#include "seccomp-filter.h"
#include "seccomp-policy.h"

static void test_parse(void **state) {
        static const struct {
                const char *text;
                int error;
                const char *message; /* for -EINVAL */
                size_t n_rules;
                bool all_abis;
        } cases[] = {
                { "", 0, NULL, 0, false },
                { "# only a comment\n\n   \n\t\n", 0, NULL, 0, false },
                { "deny bpf", 0, NULL, 1, false },
                { "deny bpf\ndeny keyctl ENOSYS\n", 0, NULL, 2, false },
                { "  deny\tbpf   EPERM  \n", 0, NULL, 1, false },
                { "abi all\ndeny mount\n", 0, NULL, 1, true },
                { "abi native\n", 0, NULL, 0, false },
                { "deny kexec_file_load\n  # indented comment\n", 0, NULL, 1, false },
                { "allow bpf\n", -EINVAL, "1: unknown directive (known: deny, abi)", 0, false },
                { "Deny bpf\n", -EINVAL, "1: unknown directive (known: deny, abi)", 0, false },
                { "deny\n", -EINVAL, "1: 'deny' wants a system call and an optional errno", 0, false },
                { "deny bpf EPERM extra\n", -EINVAL, "1: 'deny' wants a system call and an optional errno",
                        0, false },
                { "\ndeny BPF\n", -EINVAL, "2: not a system call name (a-z, 0-9, _; at most 63)", 0, false },
                { "deny 9p\n", -EINVAL, "1: not a system call name (a-z, 0-9, _; at most 63)", 0, false },
                { "deny b-pf\n", -EINVAL, "1: not a system call name (a-z, 0-9, _; at most 63)", 0, false },
                { "deny bpf eperm\n", -EINVAL,
                        "1: unknown errno (known: EPERM, EACCES, ENOSYS, EINVAL, EOPNOTSUPP)", 0, false },
                { "deny bpf 1\n", -EINVAL,
                        "1: unknown errno (known: EPERM, EACCES, ENOSYS, EINVAL, EOPNOTSUPP)", 0, false },
                { "deny bpf\ndeny bpf ENOSYS\n", -EINVAL, "2: system call denied twice", 0, false },
                { "abi\n", -EINVAL, "1: 'abi' wants 'native' or 'all'", 0, false },
                { "abi x32\n", -EINVAL, "1: 'abi' wants 'native' or 'all'", 0, false },
                { "abi all\nabi all\n", -EINVAL, "2: 'abi' given twice", 0, false },
                { "deny bpf # a comment after a rule\n", -EINVAL,
                        "1: 'deny' wants a system call and an optional errno", 0, false },
                { "deny bp\001f\n", -EINVAL, "1: not a system call name (a-z, 0-9, _; at most 63)", 0,
                        false },
                { "deny bpf\r\n", -EINVAL, "1: not a system call name (a-z, 0-9, _; at most 63)", 0, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                SeccompPolicy *p = NULL;
                char *message = NULL;
                int r = seccomp_policy_parse(cases[i].text, strlen(cases[i].text), &p, &message);

                if (r != cases[i].error)
                        fail_msg("case %zu (%s): got %d, expected %d (%s)", i, cases[i].text, r,
                                cases[i].error, message ?: "");
                if (r == 0) {
                        assert_non_null(p);
                        assert_null(message);
                        assert_int_equal(p->n_rules, cases[i].n_rules);
                        assert_int_equal(p->all_abis, cases[i].all_abis);
                } else {
                        assert_null(p);
                        assert_string_equal(message, cases[i].message);
                }
                free(message);
                seccomp_policy_free(p);
        }
}

static void test_parse_values(void **state) {
        SeccompPolicy *p = NULL;
        char *message = NULL;
        const char text[] = "deny bpf\ndeny keyctl ENOSYS\ndeny mount EACCES";

        assert_int_equal(seccomp_policy_parse(text, strlen(text), &p, &message), 0);
        assert_int_equal(p->n_rules, 3);
        assert_string_equal(p->rules[0].name, "bpf");
        assert_int_equal(p->rules[0].error, EPERM);
        assert_string_equal(p->rules[1].name, "keyctl");
        assert_int_equal(p->rules[1].error, ENOSYS);
        assert_int_equal(p->rules[2].error, EACCES);
        seccomp_policy_free(p);
}

static void test_parse_limits(void **state) {
        SeccompPolicy *p = NULL;
        char *message = NULL, *big, line[300];
        size_t len = 0;

        /* A NUL byte inside a line. */
        assert_int_equal(seccomp_policy_parse("deny b\0pf\n", 10, &p, &message), -EINVAL);
        assert_string_equal(message, "1: NUL byte");
        free(message);

        /* 64 characters of name: one too many. */
        snprintf(line, sizeof(line), "deny %064d\n", 0);
        line[5] = 'a';
        assert_int_equal(seccomp_policy_parse(line, strlen(line), &p, &message), -EINVAL);
        free(message);

        /* A line of 257 bytes. */
        memset(line, ' ', 257);
        memcpy(line + 257, "\n", 2);
        assert_int_equal(seccomp_policy_parse(line, strlen(line), &p, &message), -EINVAL);
        assert_string_equal(message, "1: line longer than 256 bytes");
        free(message);

        /* 1025 rules. */
        big = malloc(1025 * 16);
        assert_non_null(big);
        for (unsigned i = 0; i < 1025; i++)
                len += (size_t) sprintf(big + len, "deny s%u\n", i);
        assert_int_equal(seccomp_policy_parse(big, len, &p, &message), -EINVAL);
        assert_string_equal(message, "1025: too many rules (at most 1024)");
        free(message);
        free(big);

        /* Over 64 KiB. */
        big = calloc(1, SECCOMP_POLICY_MAX_SIZE + 1);
        assert_non_null(big);
        memset(big, '\n', SECCOMP_POLICY_MAX_SIZE + 1);
        assert_int_equal(seccomp_policy_parse(big, SECCOMP_POLICY_MAX_SIZE + 1, &p, &message), -E2BIG);
        free(message);
        free(big);
}

/* The shipped policy parses, denies at least what the README promises, and libseccomp builds it. */
static void test_shipped(void **state) {
        static const char *const promised[] = { "kexec_load", "kexec_file_load", "init_module",
                "finit_module", "delete_module", "add_key", "request_key", "keyctl", "bpf", "userfaultfd",
                "perf_event_open", "open_by_handle_at", "swapon", "swapoff", "reboot", "mount", "umount2",
                "pivot_root" };
        SeccompPolicy *p = NULL;
        char *text = NULL, *message = NULL, *path = NULL;
        void *bpf = NULL;
        size_t len = 0;
        int n;

        n = read_full_file_at(AT_FDCWD, POLICY_DIR "/seccomp.policy", SECCOMP_POLICY_MAX_SIZE, &text);
        assert_true(n > 0);
        assert_int_equal(seccomp_policy_parse(text, (size_t) n, &p, &message), 0);
        assert_false(p->all_abis);
        for (size_t i = 0; i < ELEMENTSOF(promised); i++) {
                bool found = false;

                for (size_t k = 0; k < p->n_rules; k++)
                        if (streq(p->rules[k].name, promised[i]) && p->rules[k].error == EPERM)
                                found = true;
                if (!found)
                        fail_msg("the shipped policy does not deny %s with EPERM", promised[i]);
        }
        assert_int_equal(seccomp_policy_compile(p, &bpf, &len, &message), 0);
        assert_true(len > 0 && len % sizeof(struct sock_filter) == 0);
        free(bpf);
        seccomp_policy_free(p);
        free(text);

        /* Loading: the override directory has none, so the shipped one is read. */
        assert_int_equal(seccomp_policy_load("/nonexistent", POLICY_DIR, &p, &path, &message), 0);
        assert_string_equal(path, POLICY_DIR "/seccomp.policy");
        free(path);
        seccomp_policy_free(p);
}

static void test_compile_unknown(void **state) {
        SeccompPolicy *p = NULL;
        char *message = NULL;
        void *bpf = NULL;
        size_t len = 0;

        assert_int_equal(seccomp_policy_parse("deny no_such_call\n", 18, &p, &message), 0);
        assert_int_equal(seccomp_policy_compile(p, &bpf, &len, &message), -EINVAL);
        assert_string_equal(message, "unknown system call 'no_such_call'");
        assert_null(bpf);
        free(message);
        seccomp_policy_free(p);

        assert_int_equal(seccomp_policy_parse("abi all\ndeny bpf\n", 17, &p, &message), 0);
        assert_int_equal(seccomp_policy_compile(p, &bpf, &len, &message), 0);
        free(bpf);
        seccomp_policy_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_values),
                cmocka_unit_test(test_parse_limits),
                cmocka_unit_test(test_shipped),
                cmocka_unit_test(test_compile_unknown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
