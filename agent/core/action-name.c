/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "action-name.h"
#include "alloc-util.h"
#include "macro.h"

void action_name_done(ActionName *n) {
        n->owner = mfree(n->owner);
        n->repo = mfree(n->repo);
        n->path = mfree(n->path);
        n->ref = mfree(n->ref);
}

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

bool action_owner_valid(const char *owner) {
        size_t n = strlen(owner);

        if (n == 0 || n > ACTION_OWNER_MAX || owner[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(owner[i]) && owner[i] != '-')
                        return false;
        return true;
}

bool action_repo_valid(const char *repo) {
        size_t n = strlen(repo);

        if (n == 0 || n > ACTION_REPO_MAX || streq(repo, ".") || streq(repo, ".."))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(repo[i]) && !strchr("-_.", repo[i]))
                        return false;
        return true;
}

bool action_ref_is_sha(const char *ref) {
        size_t n = strlen(ref);

        if (n != ACTION_SHA_LEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_hex(ref[i]))
                        return false;
        return true;
}

/* git check-ref-format's rules for one name (refs/heads/NAME, refs/tags/NAME), as GitHub takes the ref of
 * `uses:`. Besides them, nothing that a shell, a URL or a file name would read otherwise. */
bool action_ref_valid(const char *ref) {
        size_t n = strlen(ref);

        if (n == 0 || n > ACTION_REF_MAX || ref[0] == '/' || ref[0] == '-' || ref[n - 1] == '/' ||
                ref[n - 1] == '.' || strstr(ref, "..") || strstr(ref, "//") || strstr(ref, "@{") ||
                streq(ref, "@") || (n >= 5 && streq(ref + n - 5, ".lock")))
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) ref[i];

                if (c <= ' ' || c == 0x7f || strchr("~^:?*[\\", c))
                        return false;
                /* No component starts with . (nor ends with .lock: checked for the last). */
                if (c == '.' && (i == 0 || ref[i - 1] == '/'))
                        return false;
                if (c == '/' && i >= 5 && strneq(ref + i - 5, ".lock", 5))
                        return false;
        }
        return true;
}

static bool path_valid(const char *path) {
        size_t n = strlen(path);

        if (n == 0 || n > ACTION_PATH_MAX || path[0] == '/' || path[n - 1] == '/')
                return false;
        for (const char *p = path; *p;) {
                size_t k = strcspn(p, "/");

                if (k == 0 || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                for (size_t i = 0; i < k; i++)
                        if ((unsigned char) p[i] < ' ' || p[i] == 0x7f)
                                return false;
                p += k;
                if (*p == '/')
                        p++;
        }
        return true;
}

int action_name_parse(const char *s, ActionName *ret, const char **ret_why) {
        _cleanup_free_ char *copy = strdup(s);
        const char *why = NULL;
        char *at, *slash, *rest;
        ActionName n = {};

#define FAIL(w) \
        do { \
                why = (w); \
                goto fail; \
        } while (0)

        if (!copy)
                return -ENOMEM;
        /* The ref is after the last @: a path may not contain one, a ref may not contain @{. */
        at = strrchr(copy, '@');
        if (!at)
                FAIL("expected owner/repo@ref (a tag, a branch or a commit)");
        *at = '\0';
        if (!at[1])
                FAIL("the ref after @ is empty");
        if (!action_ref_valid(at + 1))
                FAIL("invalid ref: a tag, a branch or a commit as git allows them (no .., spaces, ~ ^ : ? * [ \\, "
                     "no component starting with ., at most 255 bytes)");
        slash = strchr(copy, '/');
        if (!slash)
                FAIL("expected owner/repo@ref: no / between owner and repository");
        *slash = '\0';
        if (!action_owner_valid(copy))
                FAIL("invalid owner: letters, digits and - (not first), at most 39");
        rest = slash + 1;
        slash = strchr(rest, '/');
        if (slash)
                *slash = '\0';
        if (!action_repo_valid(rest))
                FAIL("invalid repository: letters, digits, -, _ and ., at most 100, not . or ..");
        if (slash && !path_valid(slash + 1))
                FAIL("invalid path inside the repository: no empty, . or .. component");

        n.owner = strdup(copy);
        n.repo = strdup(rest);
        n.path = slash ? strdup(slash + 1) : NULL;
        n.ref = strdup(at + 1);
        if (!n.owner || !n.repo || (slash && !n.path) || !n.ref) {
                action_name_done(&n);
                return -ENOMEM;
        }
        if (action_ref_is_sha(n.ref))
                for (char *c = n.ref; *c; c++)
                        *c = lower(*c);
        *ret = n;
        return 0;
fail:
        if (ret_why)
                *ret_why = why;
        return -EINVAL;
#undef FAIL
}

static void append_lower(char **p, const char *s) {
        for (; *s; s++)
                *(*p)++ = lower(*s);
}

int action_store_path(const char *owner, const char *repo, const char *ref, char **ret) {
        bool sha = action_ref_is_sha(ref);
        char *s, *p;

        if (!action_owner_valid(owner) || !action_repo_valid(repo) || !action_ref_valid(ref))
                return -EINVAL;
        /* Each byte of the ref may take three. */
        s = malloc(strlen(owner) + strlen(repo) + 3 * strlen(ref) + 3);
        if (!s)
                return -ENOMEM;
        p = s;
        append_lower(&p, owner);
        *p++ = '/';
        append_lower(&p, repo);
        *p++ = '/';
        for (const char *c = ref; *c; c++)
                if (*c == '/') {
                        memcpy(p, "%2F", 3);
                        p += 3;
                } else if (*c == '%') {
                        memcpy(p, "%25", 3);
                        p += 3;
                } else
                        *p++ = sha ? lower(*c) : *c;
        *p = '\0';
        *ret = s;
        return 0;
}

int action_canonical_name(const char *owner, const char *repo, const char *ref, char **ret) {
        bool sha = action_ref_is_sha(ref);
        char *s, *p;

        if (!action_owner_valid(owner) || !action_repo_valid(repo) || !action_ref_valid(ref))
                return -EINVAL;
        s = malloc(strlen(owner) + strlen(repo) + strlen(ref) + 3);
        if (!s)
                return -ENOMEM;
        p = s;
        append_lower(&p, owner);
        *p++ = '/';
        append_lower(&p, repo);
        *p++ = '@';
        for (const char *c = ref; *c; c++)
                *p++ = sha ? lower(*c) : *c;
        *p = '\0';
        *ret = s;
        return 0;
}

bool action_mirror_valid(const char *mirror, size_t max) {
        static const char *const schemes[] = { "git://", "http://", "https://", "ssh://", "file://" };
        size_t n = strlen(mirror);
        bool ok = false;

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) mirror[i] <= ' ' || (unsigned char) mirror[i] >= 0x7f)
                        return false;
        for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
                if (strneq(mirror, schemes[i], strlen(schemes[i])) && n > strlen(schemes[i]))
                        ok = true;
        if (!ok) {
                /* scp-like: [user@]host:path, as git reads it when no / comes before the first : */
                const char *colon = strchr(mirror, ':');

                ok = !strstr(mirror, "://") && colon && colon > mirror && colon[1] &&
                        !memchr(mirror, '/', (size_t) (colon - mirror));
        }
        /* A leading - would be read as an option by git. */
        return ok && mirror[0] != '-';
}

int action_mirror_urls(
        const char *mirror, const char *owner, const char *repo, char **ret_plain, char **ret_git) {
        size_t n = strlen(mirror);
        char *plain = NULL, *git = NULL;

        while (n > 0 && mirror[n - 1] == '/')
                n--;
        if (asprintf(&plain, "%.*s/%s/%s", (int) n, mirror, owner, repo) < 0)
                return -ENOMEM;
        if (asprintf(&git, "%s.git", plain) < 0) {
                free(plain);
                return -ENOMEM;
        }
        *ret_plain = plain;
        *ret_git = git;
        return 0;
}

bool action_tar_member_safe(const char *line) {
        size_t n = strlen(line);
        const char *p, *end;

        if (n < 3 || line[0] != '"' || line[n - 1] != '"')
                return false;
        p = line + 1;
        end = line + n - 1;
        if (*p == '/')
                return false;
        /* Quoting escapes neither / nor ., so components can be read in the quoted text; a \ starts an
         * escape and is never part of a component made only of dots. */
        while (p < end) {
                const char *q = p;

                while (q < end && *q != '/')
                        q++;
                if (q - p == 2 && p[0] == '.' && p[1] == '.')
                        return false;
                p = q + 1;
        }
        return true;
}
