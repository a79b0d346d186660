/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>

#include "file-command.h"
#include "macro.h"

void file_command_entries_done(FileCommandEntries *e) {
        for (size_t i = 0; i < e->n; i++) {
                free(e->entries[i].name);
                free(e->entries[i].value);
        }
        free(e->entries);
        *e = (FileCommandEntries){};
}

/* One line from *pos, without its LF; NULL at the end. */
static const char *next_line(const char *text, size_t len, size_t *pos, size_t *ret_len, unsigned *line) {
        const char *start, *lf;

        if (*pos >= len)
                return NULL;
        start = text + *pos;
        lf = memchr(start, '\n', len - *pos);
        *ret_len = lf ? (size_t) (lf - start) : len - *pos;
        *pos += *ret_len + (lf ? 1 : 0);
        (*line)++;
        return start;
}

static int add(FileCommandEntries *e, const char *name, size_t name_len, const char *value, size_t value_len,
        unsigned line) {
        FileCommandEntry *p;
        char *n, *v;

        p = reallocarray(e->entries, e->n + 1, sizeof(FileCommandEntry));
        if (!p)
                return -ENOMEM;
        e->entries = p;
        n = strndup(name, name_len);
        v = malloc(value_len + 1);
        if (!n || !v) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        memcpy(v, value, value_len);
        v[value_len] = '\0';
        e->entries[e->n++] = (FileCommandEntry){
                .name = n,
                .value = v,
                .value_len = value_len,
                .line = line,
        };
        return 0;
}

static int fail(char *error, size_t error_size, unsigned line, const char *what, const char *s, size_t n) {
        if (error)
                snprintf(error, error_size, "line %u: %s '%.*s%s'", line, what, (int) MIN(n, (size_t) 120),
                        s, n > 120 ? "…" : "");
        return -EINVAL;
}

int file_command_parse(
        const char *text, size_t len, FileCommandEntries *ret, char *error, size_t error_size) {
        size_t pos = 0, n;
        unsigned line = 0;
        const char *l;
        int r;

        if (len > FILE_COMMAND_MAX_SIZE) {
                if (error)
                        snprintf(error, error_size, "file has %zu bytes, more than the limit of %u", len,
                                FILE_COMMAND_MAX_SIZE);
                return -E2BIG;
        }

        while ((l = next_line(text, len, &pos, &n, &line))) {
                const char *eq = memchr(l, '=', n), *heredoc = NULL;
                unsigned start_line = line;

                if (n == 0)
                        continue;
                for (size_t i = 0; i + 1 < n; i++)
                        if (l[i] == '<' && l[i + 1] == '<') {
                                heredoc = l + i;
                                break;
                        }

                if (eq && (!heredoc || eq < heredoc)) {
                        if (eq == l)
                                return fail(error, error_size, line,
                                        "Invalid format, the name must not be empty:", l, n);
                        r = add(ret, l, (size_t) (eq - l), eq + 1, n - (size_t) (eq - l) - 1, start_line);
                        if (r < 0)
                                return r;
                        continue;
                }

                if (heredoc) {
                        const char *delimiter = heredoc + 2, *value_start = text + pos, *dl;
                        size_t delimiter_len = n - (size_t) (delimiter - l), value_end = pos, dn;
                        bool found = false;

                        if (heredoc == l || delimiter_len == 0)
                                return fail(error, error_size, line,
                                        "Invalid format, the name and the delimiter must not be empty:", l,
                                        n);
                        while ((dl = next_line(text, len, &pos, &dn, &line))) {
                                if (dn == delimiter_len && memcmp(dl, delimiter, dn) == 0) {
                                        found = true;
                                        break;
                                }
                                value_end = (size_t) (dl - text) + dn;
                        }
                        if (!found) {
                                if (error)
                                        snprintf(error, error_size,
                                                "line %u: Invalid value. Matching delimiter not found '%.*s'",
                                                start_line, (int) MIN(delimiter_len, (size_t) 120),
                                                delimiter);
                                return -EINVAL;
                        }
                        r = add(ret, l, (size_t) (heredoc - l), value_start,
                                value_end > (size_t) (value_start - text)
                                        ? value_end - (size_t) (value_start - text)
                                        : 0,
                                start_line);
                        if (r < 0)
                                return r;
                        continue;
                }

                return fail(error, error_size, line, "Invalid format", l, n);
        }
        return 0;
}

int file_command_parse_paths(const char *text, size_t len, char ***ret, size_t *ret_n) {
        char **paths = NULL;
        size_t pos = 0, n, count = 0;
        unsigned line = 0;
        const char *l;

        if (len > FILE_COMMAND_MAX_SIZE)
                return -E2BIG;

        while ((l = next_line(text, len, &pos, &n, &line))) {
                char **p;

                if (n == 0)
                        continue;
                p = reallocarray(paths, count + 2, sizeof(char *));
                if (!p)
                        goto oom;
                paths = p;
                paths[count] = strndup(l, n);
                if (!paths[count])
                        goto oom;
                paths[++count] = NULL;
        }
        *ret = paths;
        *ret_n = count;
        return 0;

oom:
        for (size_t i = 0; i < count; i++)
                free(paths[i]);
        free(paths);
        return -ENOMEM;
}
