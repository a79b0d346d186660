/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Pure parsers for the kernel's cgroup-related text files. They take the file's contents, never touch
 * the system, and are what the cgroup adapter and the unit tests share. */

/* Finds the cgroup2 mount point in the text of /proc/self/mountinfo: the first cgroup2 mount of the
 * hierarchy's root ("/"), so that a bind mount of a sub-cgroup is not mistaken for the hierarchy.
 * Octal escapes ("\040") in the mount point are decoded. Returns 0, -ENOENT when there is no cgroup2
 * mount, -EBADMSG on a malformed line, -ENOMEM. */
int mountinfo_find_cgroup2(const char *mountinfo, char **ret_path);

/* Extracts the unified-hierarchy path ("0::/foo.slice/bar.scope") from the text of
 * /proc/PID/cgroup. Returns 0, -ENOENT when the process is in no cgroup2 hierarchy, -EBADMSG,
 * -ENOMEM. */
int proc_cgroup_find_unified(const char *text, char **ret_path);

/* Reads "populated" from the text of a cgroup.events file. Returns 0, -EBADMSG when the key is
 * missing or its value is not 0 or 1. */
int cgroup_events_parse_populated(const char *text, bool *ret_populated);

/* Reads "oom_kill" from the text of a memory.events file: how many processes of the cgroup and below
 * the OOM killer killed. Returns 0, -EBADMSG when the key is missing or its value is not a number. */
int cgroup_memory_events_parse_oom_kill(const char *text, uint64_t *ret);
