/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Reads a whole file below dir_fd (AT_FDCWD for the current directory) into a NUL-terminated buffer.
 * Files from /proc and cgroupfs report size 0, so this reads until EOF. Returns the length, -EFBIG
 * when the file is larger than max_size, or -errno. */
int read_full_file_at(int dir_fd, const char *path, size_t max_size, char **ret_contents);
/* The same for an open file, from its current offset. */
int read_full_fd(int fd, size_t max_size, char **ret_contents);

/* Writes s to an existing file below dir_fd in one write(2), as kernel interface files expect. */
int write_string_file_at(int dir_fd, const char *path, const char *s);

/* Replaces (or creates) the file name in dir_fd with data, atomically: a reader sees the old or the
 * new content, never a mix, even across a crash. Written to a temporary file beside it, fsync()ed,
 * renamed over it, then the directory fsync()ed. */
int write_file_atomic_at(int dir_fd, const char *name, const void *data, size_t len, mode_t mode);
