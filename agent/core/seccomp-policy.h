/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The seccomp policy of steps (README, "Steps are untrusted"): a text file, policy/seccomp.policy as
 * shipped, /etc/runner-agent/seccomp.policy in its place when there is one. One directive a line;
 * blank lines and lines starting with # are ignored:
 *
 *   deny NAME [ERRNO]   the system call NAME fails with ERRNO (EPERM when left out)
 *   abi native|all      native (the default): calls through any other ABI of the machine (on x86-64
 *                       the 32-bit and x32 ones) fail with EPERM; all: they are filtered alike
 *
 * Pure: syntax only. Whether NAME is a system call of this machine is for the one who builds the
 * filter (agent/sys/seccomp.c). */

#define SECCOMP_POLICY_MAX_SIZE (64U * 1024U)
#define SECCOMP_POLICY_MAX_LINE 256U
#define SECCOMP_POLICY_MAX_RULES 1024U
#define SECCOMP_NAME_MAX 63U

typedef struct SeccompRule {
        char name[SECCOMP_NAME_MAX + 1];
        int error; /* positive errno */
} SeccompRule;

typedef struct SeccompPolicy {
        SeccompRule *rules;
        size_t n_rules;
        bool all_abis;
} SeccompPolicy;

/* Parses len bytes of text. Returns 0, -EINVAL with *ret_message ("LINE: what is wrong", the first
 * problem), -E2BIG (larger than SECCOMP_POLICY_MAX_SIZE, with a message) or -ENOMEM. */
int seccomp_policy_parse(const char *text, size_t len, SeccompPolicy **ret, char **ret_message);
SeccompPolicy *seccomp_policy_free(SeccompPolicy *p);
static inline void seccomp_policy_freep(SeccompPolicy **p) {
        seccomp_policy_free(*p);
}

/* The errno names a policy may use, and their values: "EPERM" → EPERM. -EINVAL for another name. */
int seccomp_errno_from_name(const char *name);
