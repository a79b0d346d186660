/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The seccomp policy file's parser (seccomp-policy.h): outside input, so every line is checked
 * whole: a known directive, a well-formed name, a known errno, nothing after them, no name twice. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "seccomp-policy.h"

static const struct {
        const char *name;
        int value;
} errnos[] = {
        { "EPERM", EPERM },
        { "EACCES", EACCES },
        { "ENOSYS", ENOSYS },
        { "EINVAL", EINVAL },
        { "EOPNOTSUPP", EOPNOTSUPP },
};

int seccomp_errno_from_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(errnos); i++)
                if (streq(errnos[i].name, name))
                        return errnos[i].value;
        return -EINVAL;
}

SeccompPolicy *seccomp_policy_free(SeccompPolicy *p) {
        if (!p)
                return NULL;
        free(p->rules);
        free(p);
        return NULL;
}

static bool valid_name(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > SECCOMP_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
                        return false;
        return true;
}

/* Splits line in place into at most max words separated by spaces or tabs; returns how many, or
 * max + 1 when there are more. */
static size_t split(char *line, char **words, size_t max) {
        size_t n = 0;

        for (char *p = line;;) {
                p += strspn(p, " \t");
                if (*p == '\0')
                        return n;
                if (n == max)
                        return max + 1;
                words[n++] = p;
                p += strcspn(p, " \t");
                if (*p == '\0')
                        return n;
                *p++ = '\0';
        }
}

static int parse_line(SeccompPolicy *p, char *line, bool *abi_seen, const char **ret_problem) {
        char *w[3];
        size_t n = split(line, w, 3);

        if (n == 0 || w[0][0] == '#')
                return 0;
        if (streq(w[0], "abi")) {
                if (n != 2 || (!streq(w[1], "native") && !streq(w[1], "all")))
                        return *ret_problem = "'abi' wants 'native' or 'all'", -EINVAL;
                if (*abi_seen)
                        return *ret_problem = "'abi' given twice", -EINVAL;
                *abi_seen = true;
                p->all_abis = streq(w[1], "all");
                return 0;
        }
        if (!streq(w[0], "deny"))
                return *ret_problem = "unknown directive (known: deny, abi)", -EINVAL;
        if (n < 2 || n > 3)
                return *ret_problem = "'deny' wants a system call and an optional errno", -EINVAL;
        if (!valid_name(w[1]))
                return *ret_problem = "not a system call name (a-z, 0-9, _; at most 63)", -EINVAL;
        int error = n == 3 ? seccomp_errno_from_name(w[2]) : EPERM;
        if (error < 0)
                return *ret_problem = "unknown errno (known: EPERM, EACCES, ENOSYS, EINVAL, EOPNOTSUPP)",
                       -EINVAL;
        for (size_t i = 0; i < p->n_rules; i++)
                if (streq(p->rules[i].name, w[1]))
                        return *ret_problem = "system call denied twice", -EINVAL;
        if (p->n_rules >= SECCOMP_POLICY_MAX_RULES)
                return *ret_problem = "too many rules (at most 1024)", -EINVAL;
        SeccompRule *rules = reallocarray(p->rules, p->n_rules + 1, sizeof(SeccompRule));
        if (!rules)
                return -ENOMEM;
        p->rules = rules;
        snprintf(p->rules[p->n_rules].name, sizeof(p->rules[p->n_rules].name), "%s", w[1]);
        p->rules[p->n_rules++].error = error;
        return 0;
}

int seccomp_policy_parse(const char *text, size_t len, SeccompPolicy **ret, char **ret_message) {
        SeccompPolicy *p;
        bool abi_seen = false;
        unsigned number = 0;
        const char *problem = NULL;
        int r = 0;

        *ret_message = NULL;
        if (len > SECCOMP_POLICY_MAX_SIZE) {
                if (asprintf(ret_message, "larger than %u bytes", SECCOMP_POLICY_MAX_SIZE) < 0)
                        *ret_message = NULL;
                return -E2BIG;
        }
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        for (size_t at = 0; at < len && r == 0;) {
                const char *nl = memchr(text + at, '\n', len - at);
                size_t n = (nl ? (size_t) (nl - text) : len) - at;
                char line[SECCOMP_POLICY_MAX_LINE + 1];

                number++;
                if (n > SECCOMP_POLICY_MAX_LINE)
                        problem = "line longer than 256 bytes", r = -EINVAL;
                else if (memchr(text + at, '\0', n))
                        problem = "NUL byte", r = -EINVAL;
                else {
                        memcpy(line, text + at, n);
                        line[n] = '\0';
                        r = parse_line(p, line, &abi_seen, &problem);
                }
                at += n + 1;
        }
        if (r < 0) {
                if (r == -EINVAL && asprintf(ret_message, "%u: %s", number, problem) < 0)
                        *ret_message = NULL, r = -ENOMEM;
                seccomp_policy_free(p);
                return r;
        }
        *ret = p;
        return 0;
}
