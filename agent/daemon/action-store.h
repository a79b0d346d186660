/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>

#include "manager.h"

/* The action store (README, "Actions"): STATE_DIRECTORY/actions/OWNER/REPO/REF/ holds one action
 * repository at one ref, as the administrator added it (runnerctl action add) or the agent fetched it
 * from [Actions] Mirror=: tree/ (the repository's files, root's, not writable by others) and
 * action.json (name, commit, source, added_at, added_by). OWNER and REPO are lowercased, REF is one
 * path component (action_store_path()). An entry is replaced by exchanging it atomically with its
 * successor; a job that copies a tree while it is replaced may see its copy fail. Everything that
 * touches the disk or the network runs on a worker of its own (Manager.action_worker), one operation
 * at a time: a fetch from the mirror delays the others, never the loop. */

typedef struct ActionOp ActionResolve;

/* error 0: dir is the tree of owner/repo@ref (read-only, root's), commit its commit id (NULL when it
 * was added from a directory or tarball without one). error < 0: message says why in a sentence for
 * the step's log (-ENOENT: not in the store and no mirror, or the mirror does not have it; the
 * message names `runnerctl action add` and [Actions] Mirror=). Called from the loop, never from
 * inside action_store_resolve(); the strings are valid during the call only. */
typedef void (*ActionResolved)(
        int error, const char *dir, const char *commit, const char *message, void *userdata);

/* Creates the store (and empties its .tmp) and starts its worker; at start-up. */
int action_store_init(Manager *m);
/* Stops a fetch under way, drops what is queued (its callbacks are called with -ECANCELED), and
 * ends the worker. */
void action_store_finish(Manager *m);

/* Looks owner/repo@ref up (a tag, a branch or a commit; owner and repo as in uses:, without the path
 * inside the repository: the caller finds action.yml below dir), fetching it from [Actions] Mirror=
 * into the store when it is missing there. Returns < 0 at once only for an invalid name (-EINVAL),
 * -ESHUTDOWN once the agent is stopping, or -ENOMEM, and then cb is not called. Resolves run one
 * after another, with adds and removes: a fetch delays those queued after it. *ret_handle (may be NULL)
 * cancels the callback with action_resolve_cancel() until cb has been called. */
int action_store_resolve(Manager *m, const char *owner, const char *repo, const char *ref, ActionResolved cb,
        void *userdata, ActionResolve **ret_handle);
/* cb will not be called; the work under way finishes on the worker. Returns NULL. */
ActionResolve *action_resolve_cancel(ActionResolve *r);

/* For the D-Bus API (dbus-api.c). done(error, message, result, userdata) from the loop, message a
 * sentence when error < 0; result (borrowed) as below. */
typedef void (*ActionStoreDone)(int error, const char *message, json_object *result, void *userdata);

/* Stores the tar in tar_fd (taken; checked by the caller) as owner/repo@ref and, when commit (40 hex
 * digits or NULL) is given and ref is not that commit, as owner/repo@commit too. result: the array of
 * the canonical names stored. */
int action_store_add(Manager *m, const char *owner, const char *repo, const char *ref, const char *commit,
        const char *source, const char *by, int tar_fd, ActionStoreDone done, void *userdata);
/* result: a boolean, whether it was there. */
int action_store_remove(Manager *m, const char *owner, const char *repo, const char *ref,
        ActionStoreDone done, void *userdata);
/* result: the array of every entry's action.json, sorted by name. */
int action_store_list(Manager *m, ActionStoreDone done, void *userdata);
