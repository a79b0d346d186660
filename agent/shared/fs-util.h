/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Files the agent (root) makes in directories a step's user can write to: nothing here follows a
 * symlink or reuses a file the user put there. */

/* Creates dir_fd/name (O_EXCL, no symlink followed) with data, mode, and owner uid:gid
 * ((uid_t) -1: leave). */
int write_new_file_at(
        int dir_fd, const char *name, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid);

/* mkdir -p for an absolute path; each created directory gets mode; the last one also uid:gid. */
int mkdir_p(const char *path, mode_t mode, uid_t uid, gid_t gid);

/* Removes dir_fd/name and everything below it without following symlinks. Missing is fine. */
int rm_rf_at(int dir_fd, const char *name);

/* Reads a regular file a step's user wrote: no symlink, one link, owned by uid, at most max bytes
 * (-EFBIG beyond). */
int read_user_file_at(int dir_fd, const char *name, uid_t uid, size_t max, char **ret);
