/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

#include "seccomp-policy.h"

/* The seccomp filter of steps, built once by the agent with libseccomp from the policy (README,
 * "Steps are untrusted"); runner-step only loads the BPF into each entry before it executes the step
 * (as crun builds the filter in the parent). */

/* Reads the policy in effect: /etc/runner-agent/seccomp.policy if it exists, else the shipped one.
 * Returns 0 with *ret_path the file read, or -errno with *ret_message saying what is wrong and where. */
int seccomp_policy_load(const char *conf_dir, const char *data_dir, SeccompPolicy **ret, char **ret_path,
        char **ret_message);

/* Builds the BPF program of p: raw struct sock_filter instructions, in *ret (*ret_len bytes). Returns
 * 0, -EINVAL with *ret_message (a system call this machine does not know), or -errno. */
int seccomp_policy_compile(const SeccompPolicy *p, void **ret, size_t *ret_len, char **ret_message);
