/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The names of the action store (README, "Actions"): `owner/repo[/path]@ref` as a workflow's `uses:`
 * and `runnerctl action` write it, and where an action lives in the store. Pure. */

#define ACTION_OWNER_MAX 39U  /* GitHub's limit for a user or organization name */
#define ACTION_REPO_MAX 100U  /* … for a repository name */
#define ACTION_REF_MAX 255U   /* a tag, a branch, or a commit: one path component once encoded */
#define ACTION_PATH_MAX 1024U /* the directory of action.yml inside the repository */
#define ACTION_SHA_LEN 40U

typedef struct ActionName {
        char *owner, *repo; /* as written */
        char *path;         /* inside the repository, without leading or trailing /; NULL: the top */
        char *ref;          /* as written, except that a commit is lowercased */
} ActionName;

void action_name_done(ActionName *n);

/* Parses owner/repo[/path]@ref. Owner: letters, digits and - (not first), at most 39; repo: letters,
 * digits, -, _ and ., at most 100, not . or ..; path: components of any bytes but NUL and control
 * characters, none empty, . or ..; ref: as `git check-ref-format` allows a branch or tag name (no
 * .. or @{, no component starting with ., no space, ~ ^ : ? * [ \ or control character, not ending
 * in / . or .lock), at most 255 bytes. Returns 0, -EINVAL with a reason in *ret_why (static text;
 * may be NULL), -ENOMEM. */
int action_name_parse(const char *s, ActionName *ret, const char **ret_why);

bool action_owner_valid(const char *owner);
bool action_repo_valid(const char *repo);
bool action_ref_valid(const char *ref);
/* 40 hexadecimal digits, either case: a full commit id (GitHub's recommended pin). */
bool action_ref_is_sha(const char *ref);

/* The entry of owner/repo@ref relative to the store: "owner/repo/REF", owner and repo lowercased
 * (GitHub compares them ignoring case), REF the ref with % as %25 and / as %2F so that it is one
 * path component (a commit lowercased). Every component is neither empty, . nor .., and none starts
 * with . except a repository's own name (.github): nothing escapes the store, and the store's own
 * files (.tmp) are never an entry. Returns 0, -EINVAL for an invalid name, -ENOMEM. */
int action_store_path(const char *owner, const char *repo, const char *ref, char **ret);

/* The canonical name of an entry: "owner/repo@ref", owner and repo lowercased, a commit lowercased. */
int action_canonical_name(const char *owner, const char *repo, const char *ref, char **ret);

/* The URLs [Actions] Mirror= gives for owner/repo, in the order tried: MIRROR/owner/repo and
 * MIRROR/owner/repo.git (a trailing / of the prefix dropped). */
int action_mirror_urls(
        const char *mirror, const char *owner, const char *repo, char **ret_plain, char **ret_git);

/* Whether [Actions] Mirror= is a git URL prefix the agent accepts: git://, http://, https://, ssh://,
 * file:// or scp-like user@host:path, printable ASCII without spaces, at most max bytes. */
bool action_mirror_valid(const char *mirror, size_t max);

/* A line of `tar --list --quoting-style=c`: one member's name in double quotes with C escapes. True
 * when the member stays inside the directory it is unpacked in: relative, without a .. component. */
bool action_tar_member_safe(const char *line);
