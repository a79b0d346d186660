/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* The files a step writes to pass data on, as on GitHub: $GITHUB_OUTPUT and $GITHUB_ENV hold
 * NAME=VALUE lines and NAME<<DELIMITER blocks, $GITHUB_PATH one directory a line. Pure: the caller
 * reads the file (at most FILE_COMMAND_MAX_SIZE bytes). */

#define FILE_COMMAND_MAX_SIZE (1024U * 1024U)

typedef struct FileCommandEntry {
        char *name;
        char *value; /* NUL-terminated; value_len counts embedded NULs too */
        size_t value_len;
        unsigned line; /* 1-based, where the entry starts */
} FileCommandEntry;

typedef struct FileCommandEntries {
        FileCommandEntry *entries; /* in file order; a later one with the same name wins */
        size_t n;
} FileCommandEntries;

void file_command_entries_done(FileCommandEntries *e);

/* Parses NAME=VALUE and NAME<<DELIMITER entries. On -EINVAL the entries before the bad line are kept
 * (GitHub applies them too) and error says what and where, in GitHub's words. Lines end at LF only;
 * empty lines are skipped. */
int file_command_parse(
        const char *text, size_t len, FileCommandEntries *ret, char *error, size_t error_size);

/* Splits $GITHUB_PATH text into its non-empty lines, in file order. */
int file_command_parse_paths(const char *text, size_t len, char ***ret, size_t *ret_n);
