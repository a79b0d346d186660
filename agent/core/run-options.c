/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "run-options.h"

#define NAME_MAX_LEN 100U

static bool is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

bool run_event_name_valid(const char *name, size_t len) {
        if (len == 0 || len > RUN_EVENT_NAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '_'))
                        return false;
        return true;
}

bool run_input_name_valid(const char *name, size_t len) {
        if (len == 0 || len > NAME_MAX_LEN || !(is_alpha(name[0]) || name[0] == '_'))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!(is_alpha(name[i]) || is_digit(name[i]) || name[i] == '-' || name[i] == '_'))
                        return false;
        return true;
}

bool run_var_name_valid(const char *name, size_t len) {
        if (len == 0 || len > NAME_MAX_LEN || is_digit(name[0]) ||
                (len >= 7 && strncasecmp(name, "GITHUB_", 7) == 0))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!(is_alpha(name[i]) || is_digit(name[i]) || name[i] == '_'))
                        return false;
        return true;
}

bool run_sha_valid(const char *s) {
        size_t len = strlen(s);

        if (len != 40 && len != 64)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!(is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

bool run_ref_valid(const char *ref) {
        size_t len = strlen(ref);

        if (len <= 5 || len > RUN_REF_MAX || strncmp(ref, "refs/", 5) != 0 || ref[len - 1] == '/' ||
                strstr(ref, "..") || strstr(ref, "//") || strstr(ref, "/.") || strstr(ref, "@{") ||
                (len >= 5 && strcmp(ref + len - 5, ".lock") == 0))
                return false;
        for (size_t i = 0; i < len; i++)
                if (ref[i] <= ' ' || ref[i] >= 0x7f || strchr("~^:?*[\\", ref[i]))
                        return false;
        return true;
}

static bool repository_part_valid(const char *s, size_t len) {
        if (len == 0 || len > 100 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!(is_alpha(s[i]) || is_digit(s[i]) || strchr("-_.", s[i])) || s[i] == '\0')
                        return false;
        return true;
}

bool run_repository_valid(const char *repository) {
        const char *slash = strchr(repository, '/');

        if (!slash || strlen(repository) > RUN_REPOSITORY_MAX)
                return false;
        return repository_part_valid(repository, (size_t) (slash - repository)) &&
                repository_part_valid(slash + 1, strlen(slash + 1));
}

void run_ref_split(const char *ref, const char **ret_name, const char **ret_type) {
        if (strncmp(ref, "refs/heads/", 11) == 0) {
                *ret_name = ref + 11;
                *ret_type = "branch";
        } else if (strncmp(ref, "refs/tags/", 10) == 0) {
                *ret_name = ref + 10;
                *ret_type = "tag";
        } else {
                *ret_name = strncmp(ref, "refs/", 5) == 0 ? ref + 5 : ref;
                *ret_type = NULL;
        }
}

/* The component of s[0..end) that ends at end: its start. */
static size_t component_start(const char *s, size_t end) {
        while (end > 0 && s[end - 1] != '/' && s[end - 1] != ':')
                end--;
        return end;
}

static void sanitize(char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (!(is_alpha(s[i]) || is_digit(s[i]) || strchr("-_.", s[i]) || s[i] == '\0'))
                        s[i] = '-';
}

int run_repository_from_url(const char *url, char **ret) {
        size_t end = strlen(url), name_start, name_end, owner_start, owner_end;
        char *s;

        while (end > 0 && (url[end - 1] == '/' || url[end - 1] == ':'))
                end--;
        name_end = end;
        if (name_end >= 4 && strncmp(url + name_end - 4, ".git", 4) == 0)
                name_end -= 4;
        name_start = component_start(url, name_end);
        if (name_start == name_end || name_start == 0)
                return -EINVAL;
        owner_end = name_start - 1;
        while (owner_end > 0 && url[owner_end - 1] == '/')
                owner_end--;
        owner_start = component_start(url, owner_end);
        if (owner_start == owner_end)
                return -EINVAL;
        if (owner_end - owner_start > 100 || name_end - name_start > 100)
                return -EINVAL;

        s = malloc(owner_end - owner_start + 1 + name_end - name_start + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, url + owner_start, owner_end - owner_start);
        s[owner_end - owner_start] = '/';
        memcpy(s + owner_end - owner_start + 1, url + name_start, name_end - name_start);
        s[owner_end - owner_start + 1 + name_end - name_start] = '\0';
        sanitize(s, owner_end - owner_start);
        sanitize(s + owner_end - owner_start + 1, name_end - name_start);
        /* "." and ".." cannot name a repository. */
        if (!run_repository_valid(s)) {
                free(s);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}

int run_assignment_parse(RunAssignmentKind kind, const char *text, size_t len, size_t *ret_name_len) {
        const char *eq = memchr(text, '=', len);
        size_t n;

        if (!eq)
                return -EINVAL;
        n = (size_t) (eq - text);
        if (kind == RUN_ASSIGNMENT_INPUT ? !run_input_name_valid(text, n) : !run_var_name_valid(text, n))
                return -EINVAL;
        if (memchr(text, '\0', len))
                return -EINVAL;
        *ret_name_len = n;
        return 0;
}

int run_var_file_parse(
        const char *text, size_t len, run_assignment_add_t add, void *userdata, unsigned *ret_line) {
        unsigned line = 0;
        size_t pos = 0;
        int r;

        while (pos < len) {
                const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - p) : len - pos, l = n, name_len;

                line++;
                pos += n + (nl ? 1 : 0);
                if (l > 0 && p[l - 1] == '\r')
                        l--;
                while (l > 0 && (*p == ' ' || *p == '\t')) {
                        p++;
                        l--;
                }
                if (l == 0 || *p == '#')
                        continue;
                if (run_assignment_parse(RUN_ASSIGNMENT_VAR, p, l, &name_len) < 0) {
                        if (ret_line)
                                *ret_line = line;
                        return -EINVAL;
                }
                r = add(p, name_len, p + name_len + 1, l - name_len - 1, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}
