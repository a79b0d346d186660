/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "pidref.h"

/* The cgroup2 mount point, read from /proc/self/mountinfo (never assumed to be /sys/fs/cgroup). */
int cgroup_get_root(char **ret_path);

/* The unified-hierarchy path of a process ("/runner.slice/x.scope"), verified against its pidfd. */
int cgroup_pidref_get_path(const PidRef *pidref, char **ret_path);

/* Opens the cgroup directory root/path (O_DIRECTORY, readable); every operation below takes such an
 * fd, so a cgroup is addressed once and not by re-resolving its path. */
int cgroup_open(const char *root, const char *path);

/* Is anything alive in the cgroup or below it? */
int cgroup_is_populated(int cgroup_fd, bool *ret);

/* Counts the processes in the cgroup and all cgroups below it. */
int cgroup_count_processes(int cgroup_fd, unsigned *ret);

/* The PIDs in the cgroup and below it, as a snapshot (for logging: act on them only through pidfds). */
int cgroup_list_processes(int cgroup_fd, pid_t **ret, size_t *ret_n);

/* Kills every process in the cgroup and below it with SIGKILL. Uses cgroup.kill, which the kernel
 * applies atomically, forks included; on kernels without it, falls back to
 * cgroup_kill_by_freezing(). Returns 0 when the kill was issued: call cgroup_watch_empty() to learn
 * when the last process is gone. */
int cgroup_kill(int cgroup_fd);

/* The fallback: freeze the subtree so nothing can fork, SIGKILL every process through a pidfd, thaw so
 * the signals are delivered; repeated until a pass finds nobody (a process may be mid-fork when the
 * freeze lands). Exported so that it is tested on kernels that have cgroup.kill. */
int cgroup_kill_by_freezing(int cgroup_fd);

typedef void (*cgroup_empty_handler_t)(sd_event_source *s, void *userdata);

/* Calls handler once (if not NULL), from the event loop, when cgroup.events says "populated 0" or the
 * cgroup is removed (also before the call). Driven by inotify on cgroup.events and on the parent
 * directory; the handler always runs from a later loop iteration, never from inside this call. Unref
 * *ret_source to cancel. */
int cgroup_watch_empty(sd_event *e, int cgroup_fd, cgroup_empty_handler_t handler, void *userdata,
        sd_event_source **ret_source);

/* Kills what runs in the cgroup and below so that those who copy the output of others outlive them:
 * first every cgroup named leaf in the subtree (a step's "payload"), at once; then, once those are
 * empty, the rest gets from grace_usec to twice that (checked every grace_usec) to exit on its own (a
 * shim drains its pipes to EOF, finishes its log and exits) before the whole subtree is killed. With no such
 * leaf in the subtree, or if one cannot be killed, the whole subtree is killed at once. handler runs as for
 * cgroup_watch_empty(); leaf must outlive *ret_source. */
int cgroup_kill_staged(sd_event *e, int cgroup_fd, const char *leaf, uint64_t grace_usec,
        cgroup_empty_handler_t handler, void *userdata, sd_event_source **ret_source);
