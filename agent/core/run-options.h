/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* What a run is submitted with besides its workflow (README, "Contexts of a run" and "The run's
 * source"): the event, inputs, variables and the source's git coordinates. Pure: names and values are
 * checked here, for runnerctl before it asks and for the agent, which trusts nothing it is sent. */

#define RUN_INPUTS_MAX 100U
#define RUN_VARS_MAX 1000U
/* GitHub's limit for one configuration variable, 48 KiB; an input is held to the same. */
#define RUN_OPTION_VALUE_MAX (48U * 1024U)
/* The inputs together, or the variables together. */
#define RUN_OPTIONS_SIZE_MAX (1024U * 1024U)
/* An event payload (github.event), as JSON text, and its values (every member and item counts) and
 * nesting: it is kept in run-state.json inside the github context, whose reader holds it to
 * EXPR_VALUE_MAX_DEPTH levels and 100,000 members. */
#define RUN_EVENT_MAX (1024U * 1024U)
#define RUN_EVENT_MAX_VALUES 50000U
#define RUN_EVENT_MAX_DEPTH 32U
/* A --var-file. */
#define RUN_VAR_FILE_MAX (1024U * 1024U)
#define RUN_EVENT_NAME_MAX 64U
#define RUN_REF_MAX 255U
#define RUN_REPOSITORY_MAX 200U

/* An event name as `on:` writes them: lowercase letters and _, 1 to 64 bytes. */
bool run_event_name_valid(const char *name, size_t len);
/* An input id, as GitHub allows in on.workflow_dispatch.inputs: letters, digits, - and _, starting with
 * a letter or _, at most 100 bytes. */
bool run_input_name_valid(const char *name, size_t len);
/* A configuration variable's name, GitHub's rule: letters, digits and _, not starting with a digit or
 * GITHUB_, at most 100 bytes. */
bool run_var_name_valid(const char *name, size_t len);
/* A commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits. */
bool run_sha_valid(const char *s);
/* A fully qualified ref (refs/…) as git check-ref-format allows a subset of it: printable ASCII
 * without space, ~ ^ : ? * [ \, no "..", no "//", no component starting with '.', not ending in '/' or
 * ".lock", at most RUN_REF_MAX bytes. */
bool run_ref_valid(const char *ref);
/* OWNER/NAME of letters, digits, '-', '_' and '.', neither part empty, "." or "..". */
bool run_repository_valid(const char *repository);

/* github.ref_name and github.ref_type from github.ref, as GitHub derives them: refs/heads/B → B,
 * "branch"; refs/tags/T → T, "tag"; anything else → the ref without "refs/", and ref_type NULL.
 * ret_name points into ref. */
void run_ref_split(const char *ref, const char **ret_name, const char **ret_type);

/* OWNER/NAME from a git remote URL or a path, as its last two path components ("/" and, for scp-like
 * URLs, ":" separate them), a trailing ".git" and trailing slashes dropped, every byte outside
 * [A-Za-z0-9._-] replaced with '-'. -EINVAL when there are not two non-empty components. */
int run_repository_from_url(const char *url, char **ret);

typedef enum RunAssignmentKind {
        RUN_ASSIGNMENT_INPUT,
        RUN_ASSIGNMENT_VAR,
} RunAssignmentKind;

/* NAME=VALUE: the length of NAME, or -EINVAL when there is no '=' or NAME is not valid for kind. */
int run_assignment_parse(RunAssignmentKind kind, const char *text, size_t len, size_t *ret_name_len);

/* A NAME=VALUE file (--var-file, as act reads .vars): one assignment a line; blank lines and lines
 * starting with # (after blanks) skipped; leading blanks dropped, the value is the rest of the line
 * (a trailing \r dropped). Calls add for each; its negative return stops the parse and is returned.
 * -EINVAL with *ret_line at a bad line (no '=', a bad name, a NUL byte). */
typedef int (*run_assignment_add_t)(
        const char *name, size_t name_len, const char *value, size_t value_len, void *userdata);
int run_var_file_parse(
        const char *text, size_t len, run_assignment_add_t add, void *userdata, unsigned *ret_line);
