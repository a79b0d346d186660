/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>

#include "cgroup-parse.h"
#include "macro.h"

/* mountinfo separates fields with single spaces and ends lines with '\n'; every other space, tab,
 * newline and backslash in a field is written as a three-digit octal escape. */
static int next_field(const char **p, const char *end, const char **ret_start, size_t *ret_len) {
        const char *s = *p, *e;

        if (s >= end)
                return -EBADMSG;
        e = memchr(s, ' ', (size_t) (end - s));
        if (!e)
                e = end;
        *ret_start = s;
        *ret_len = (size_t) (e - s);
        *p = e < end ? e + 1 : end;
        return 0;
}

static int unescape_octal(const char *s, size_t n, char **ret) {
        _cleanup_free_ char *out = malloc(n + 1);
        size_t j = 0;

        if (!out)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
                        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
                        int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
                        if (v == 0)
                                return -EBADMSG;
                        out[j++] = (char) v;
                        i += 3;
                } else
                        out[j++] = s[i];
        }
        out[j] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

static bool field_eq(const char *f, size_t n, const char *s) {
        return strlen(s) == n && strneq(f, s, n);
}

/* Returns the next line of *cursor (its length, without the newline, in *ret_len) and moves the
 * cursor past it; NULL at the end of the text. */
static const char *next_line(const char **cursor, size_t *ret_len) {
        const char *line = *cursor, *eol;

        if (*line == '\0')
                return NULL;
        eol = strchrnul(line, '\n');
        *ret_len = (size_t) (eol - line);
        *cursor = eol + (*eol == '\n');
        return line;
}

int mountinfo_find_cgroup2(const char *mountinfo, char **ret_path) {
        const char *cursor = mountinfo, *line;
        size_t len;

        if (!mountinfo)
                return -EINVAL;

        while ((line = next_line(&cursor, &len))) {
                const char *eol = line + len, *p = line, *f, *root, *mnt;
                size_t n, nroot, nmnt;
                bool sep = false;

                if (len == 0) /* tolerate blank lines */
                        continue;

                /* mount ID, parent ID, major:minor */
                for (int i = 0; i < 3; i++)
                        if (next_field(&p, eol, &f, &n) < 0 || n == 0)
                                return -EBADMSG;
                if (next_field(&p, eol, &root, &nroot) < 0 || next_field(&p, eol, &mnt, &nmnt) < 0 ||
                        nmnt == 0)
                        return -EBADMSG;

                /* mount options, then optional fields up to the "-" separator */
                while (next_field(&p, eol, &f, &n) >= 0)
                        if (field_eq(f, n, "-")) {
                                sep = true;
                                break;
                        }
                if (!sep || next_field(&p, eol, &f, &n) < 0)
                        return -EBADMSG;

                if (field_eq(f, n, "cgroup2") && field_eq(root, nroot, "/"))
                        return unescape_octal(mnt, nmnt, ret_path);
        }

        return -ENOENT;
}

int proc_cgroup_find_unified(const char *text, char **ret_path) {
        const char *cursor = text, *line;
        size_t n;

        if (!text)
                return -EINVAL;

        while ((line = next_line(&cursor, &n))) {
                if (n >= 3 && strneq(line, "0::", 3)) {
                        char *path;

                        if (n == 3 || line[3] != '/')
                                return -EBADMSG;
                        path = strndup(line + 3, n - 3);
                        if (!path)
                                return -ENOMEM;
                        *ret_path = path;
                        return 0;
                }
        }

        return -ENOENT;
}

int cgroup_events_parse_populated(const char *text, bool *ret_populated) {
        const char *cursor = text, *line;
        size_t n;

        if (!text)
                return -EINVAL;

        while ((line = next_line(&cursor, &n))) {
                if (n == STRLEN("populated 0") && strneq(line, "populated ", STRLEN("populated "))) {
                        char v = line[STRLEN("populated ")];

                        if (v != '0' && v != '1')
                                return -EBADMSG;
                        *ret_populated = v == '1';
                        return 0;
                }
        }

        return -EBADMSG;
}

int cgroup_memory_events_parse_oom_kill(const char *text, uint64_t *ret) {
        const char *cursor = text, *line;
        size_t n;

        if (!text)
                return -EINVAL;

        while ((line = next_line(&cursor, &n))) {
                uint64_t v = 0;
                size_t i = STRLEN("oom_kill ");

                if (n <= i || !strneq(line, "oom_kill ", i))
                        continue;
                for (; i < n; i++) {
                        uint64_t d = (uint64_t) (line[i] - '0');

                        if (line[i] < '0' || line[i] > '9' || v > (UINT64_MAX - d) / 10)
                                return -EBADMSG;
                        v = v * 10 + d;
                }
                *ret = v;
                return 0;
        }

        return -EBADMSG;
}
