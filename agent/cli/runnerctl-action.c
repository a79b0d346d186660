/* SPDX-License-Identifier: GPL-2.0-or-later */
/* runnerctl action: the action store (README, "Actions"). What is added is made here, as the user who
 * runs runnerctl (root: only root may add), into a sealed memfd, as the run's source is
 * (runnerctl-source.c): the agent never opens a path or a URL the caller names. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "action-name.h"
#include "alloc-util.h"
#include "escape.h"
#include "json-util.h"
#include "macro.h"
#include "runnerctl.h"

#define INTERFACE "io.runneragent.Agent1"

/* A temporary directory of this user's, removed with everything in it. */
static void tmpdir_removep(char **dir) {
        if (*dir) {
                char *argv[] = { (char *) "rm", (char *) "-rf", (char *) "--", *dir, NULL };

                (void) spawn(argv, STDERR_FILENO, true, NULL);
                *dir = mfree(*dir);
        }
}

static int make_tmpdir(char **ret) {
        char *d = NULL;

        if (asprintf(&d, "%s/runnerctl-action-XXXXXX", getenv("TMPDIR") ?: "/tmp") < 0)
                return -ENOMEM;
        if (!mkdtemp(d)) {
                int r = -errno;
                fprintf(stderr, "runnerctl: cannot create a temporary directory: %s\n", strerror(-r));
                free(d);
                return r;
        }
        *ret = d;
        return 0;
}

/* A git URL as git takes it: SCHEME://… or scp-like [user@]host:path (no / before the first :). */
static bool is_git_url(const char *s) {
        const char *colon = strchr(s, ':');

        if (strstr(s, "://"))
                return true;
        return colon && colon > s && !memchr(s, '/', (size_t) (colon - s)) && access(s, F_OK) < 0;
}

static int git_quiet(char **ret_out, char *const argv[]) {
        return spawn(argv, ret_out ? -EBADF : STDERR_FILENO, false, ret_out);
}

/* Fetches ref from url into a bare repository of this user's, as the agent fetches from the mirror:
 * a tag or a branch shallow, a commit shallow when the server allows it, else every branch and tag;
 * no hooks. Returns the commit in *ret_commit. */
static int fetch_git(const char *repo, const char *url, const char *ref, char **ret_commit) {
        _cleanup_free_ char *peel = NULL, *commit = NULL, *e = escape_for_terminal(url);
        bool sha = action_ref_is_sha(ref);
        int r;

        r = git_quiet(NULL,
                (char *[]){ (char *) "git", (char *) "init", (char *) "--quiet", (char *) "--bare",
                        (char *) repo, NULL });
        if (r != 0) {
                fprintf(stderr, "runnerctl: git init failed (%s)\n", r < 0 ? strerror(-r) : "see above");
                return -EIO;
        }
        r = spawn((char *[]){ (char *) "git", (char *) "-C", (char *) repo, (char *) "-c",
                          (char *) "core.hooksPath=/dev/null", (char *) "fetch", (char *) "--quiet",
                          (char *) "--depth=1", (char *) "--no-tags", (char *) "--", (char *) url,
                          (char *) ref, NULL },
                STDERR_FILENO, sha, NULL);
        if (r != 0 && sha)
                r = spawn((char *[]){ (char *) "git", (char *) "-C", (char *) repo, (char *) "-c",
                                  (char *) "core.hooksPath=/dev/null", (char *) "fetch", (char *) "--quiet",
                                  (char *) "--no-tags", (char *) "--", (char *) url,
                                  (char *) "+refs/heads/*:refs/heads/*", (char *) "+refs/tags/*:refs/tags/*",
                                  NULL },
                        STDERR_FILENO, false, NULL);
        if (r != 0) {
                fprintf(stderr, "runnerctl: cannot fetch %s from %s (%s)\n", ref, strna(e),
                        r < 0 ? strerror(-r) : "see above");
                return -EIO;
        }
        if (asprintf(&peel, "%s^{commit}", sha ? ref : "FETCH_HEAD") < 0)
                return -ENOMEM;
        r = spawn((char *[]){ (char *) "git", (char *) "-C", (char *) repo, (char *) "rev-parse",
                          (char *) "--verify", (char *) "--quiet", peel, NULL },
                -EBADF, true, &commit);
        if (r != 0 || !action_ref_is_sha(commit)) {
                fprintf(stderr, "runnerctl: %s at %s is not a commit\n", ref, strna(e));
                return -EIO;
        }
        *ret_commit = TAKE_PTR(commit);
        return 0;
}

/* A tarball unpacked as this user (tar recognizes the compression); a GitHub-style archive whose
 * one top directory holds the repository is taken from inside it. Returns the directory to snapshot. */
static int unpack_tarball(const char *tmp, const char *file, char **ret_dir) {
        _cleanup_free_ char *top = NULL, *dir = NULL, *e = escape_for_terminal(file);
        char *argv[] = { (char *) "tar", (char *) "--extract", (char *) "--no-same-owner",
                (char *) "--no-same-permissions", (char *) "--file", (char *) file, (char *) "-C", NULL,
                NULL };
        DIR *d;
        struct dirent *de;
        unsigned n = 0;
        int r;

        if (asprintf(&dir, "%s/tree", tmp) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0755) < 0)
                return -errno;
        argv[7] = dir;
        r = spawn(argv, STDERR_FILENO, false, NULL);
        if (r != 0) {
                fprintf(stderr, "runnerctl: %s: tar could not unpack it (%s)\n", strna(e),
                        r < 0 ? strerror(-r) : "see above");
                return -EIO;
        }
        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        n++;
                        free(top);
                        top = de->d_type == DT_DIR ? strdup(de->d_name) : NULL;
                }
        closedir(d);
        if (n == 1 && top) {
                char *inner = NULL;

                if (asprintf(&inner, "%s/%s", dir, top) < 0)
                        return -ENOMEM;
                free(dir);
                dir = inner;
        }
        *ret_dir = TAKE_PTR(dir);
        return 0;
}

static int action_add(const char *name_text, const char *source) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(run_source_done) RunSource s = { .fd = -EBADF };
        _cleanup_(tmpdir_removep) char *tmp = NULL;
        _cleanup_(action_name_done) ActionName name = {};
        _cleanup_free_ char *commit = NULL, *dir = NULL, *repo = NULL, *e = escape_for_terminal(source),
                            *recorded = NULL;
        const char *why = NULL, *added;
        struct stat st;
        int r;

        r = action_name_parse(name_text, &name, &why);
        if (r == -ENOMEM)
                return EXIT_FAILED;
        if (r < 0 || name.path) {
                _cleanup_free_ char *n = escape_for_terminal(name_text);
                usage_error("invalid action name '%s': %s", strna(n),
                        r < 0 ? why
                              : "the store holds whole repositories; name OWNER/REPO@REF without a path");
                return EXIT_USAGE;
        }

        if (is_git_url(source)) {
                if (make_tmpdir(&tmp) < 0 || asprintf(&repo, "%s/repo.git", tmp) < 0)
                        return EXIT_FAILED;
                if (fetch_git(repo, source, name.ref, &commit) < 0)
                        return EXIT_FAILED;
                r = snapshot_into_memfd((char *[]){ (char *) "git", (char *) "-C", repo, (char *) "archive",
                                                (char *) "--format=tar", (char *) "--", commit, NULL },
                        &s, "git archive failed", "");
                recorded = strdup(source);
        } else if (stat(source, &st) < 0) {
                fprintf(stderr,
                        "runnerctl: %s: %s (SOURCE is a directory, a tarball or a git URL such as git://host/repo or file:///srv/repo.git)\n",
                        strna(e), strerror(errno));
                return EXIT_FAILED;
        } else {
                if (S_ISDIR(st.st_mode))
                        dir = strdup(source);
                else if (make_tmpdir(&tmp) < 0 || unpack_tarball(tmp, source, &dir) < 0)
                        return EXIT_FAILED;
                if (!dir)
                        return EXIT_FAILED;
                /* As this user, the files as they are, without the repository's .git. */
                r = snapshot_into_memfd(
                        (char *[]){ (char *) "tar", (char *) "-C", dir, (char *) "--exclude=./.git",
                                (char *) "-cf", (char *) "-", (char *) ".", NULL },
                        &s, "tar could not read SOURCE", "");
                recorded = realpath(source, NULL);
        }
        if (r < 0)
                return EXIT_FAILED;
        if (action_ref_is_sha(name.ref) && commit && !streq(commit, name.ref)) {
                fprintf(stderr, "runnerctl: %s resolves to commit %s\n", name.ref, commit);
                return EXIT_FAILED;
        }

        r = connect_bus(&bus);
        if (r < 0)
                return exit_status(r);
        r = sd_bus_call_method(bus, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE, "AddAction", &error, &reply,
                "sssh", name_text, commit ?: "", recorded ?: source, s.fd);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_ACCESS_DENIED)) {
                fprintf(stderr,
                        "runnerctl: access denied: only root may add actions to the store (their code runs in every user's jobs)\n");
                return EXIT_ACCESS_DENIED;
        }
        if (r < 0)
                return exit_status(agent_error("AddAction", r, &error));
        r = sd_bus_message_enter_container(reply, 'a', "s");
        while (r >= 0 && (r = sd_bus_message_read(reply, "s", &added)) > 0) {
                _cleanup_free_ char *a = escape_for_terminal(added);
                printf("Added %s%s%s.\n", strna(a), commit ? " at commit " : "", commit ?: "");
        }
        if (r < 0)
                return exit_status(bad_reply("AddAction", r));
        return 0;
}

static int call_with_name(sd_bus *bus, const char *method, const char *name, sd_bus_message **reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(
                bus, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE, method, &error, reply, "s", name);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_ACCESS_DENIED) &&
                streq(method, "RemoveAction")) {
                fprintf(stderr, "runnerctl: access denied: only root may remove actions from the store\n");
                return -EACCES;
        }
        if (r < 0)
                return agent_error(method, r, &error);
        return 0;
}

static int action_remove(const char *name) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *e = escape_for_terminal(name);
        int r, removed;

        r = connect_bus(&bus);
        if (r >= 0)
                r = call_with_name(bus, "RemoveAction", name, &reply);
        if (r < 0)
                return exit_status(r);
        r = sd_bus_message_read(reply, "b", &removed);
        if (r < 0)
                return exit_status(bad_reply("RemoveAction", r));
        if (!removed) {
                fprintf(stderr, "runnerctl: %s is not in the action store\n", strna(e));
                return EXIT_FAILED;
        }
        printf("Removed %s.\n", strna(e));
        return 0;
}

static int action_resolve(const char *name) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *dir, *commit;
        int r;

        r = connect_bus(&bus);
        if (r >= 0)
                r = call_with_name(bus, "ResolveAction", name, &reply);
        if (r < 0)
                return exit_status(r);
        r = sd_bus_message_read(reply, "ss", &dir, &commit);
        if (r < 0)
                return exit_status(bad_reply("ResolveAction", r));
        if (arg_json) {
                _cleanup_(json_object_putp) json_object *o = json_object_new_object();

                if (!o || json_object_object_add(o, "dir", json_object_new_string(dir)) < 0 ||
                        json_object_object_add(
                                o, "commit", *commit ? json_object_new_string(commit) : NULL) < 0)
                        return EXIT_FAILED;
                printf("%s\n",
                        json_object_to_json_string_ext(
                                o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        } else {
                _cleanup_free_ char *d = escape_for_terminal(dir);
                printf("%s%s%s\n", strna(d), *commit ? " " : "", commit);
        }
        return 0;
}

static const char *jstr(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                ? json_object_get_string(v)
                : NULL;
}

static int action_list(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(json_object_putp) json_object *list = NULL;
        const char *text;
        int r;

        r = connect_bus(&bus);
        if (r < 0)
                return exit_status(r);
        r = sd_bus_call_method(
                bus, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE, "ListActions", &error, &reply, "");
        if (r < 0)
                return exit_status(agent_error("ListActions", r, &error));
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return exit_status(bad_reply("ListActions", r));
        if (arg_json) {
                printf("%s\n", text);
                return 0;
        }
        list = json_tokener_parse(text);
        if (!list || !json_object_is_type(list, json_type_array))
                return exit_status(bad_reply("ListActions", -EBADMSG));
        if (json_object_array_length(list) == 0) {
                printf("The action store is empty.\n");
                return 0;
        }
        printf("%-40s %-40s %-20s %s\n", "NAME", "COMMIT", "ADDED", "SOURCE");
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *a = json_object_array_get_idx(list, i);
                _cleanup_free_ char *n = escape_for_terminal(jstr(a, "name") ?: "?"),
                                    *s = escape_for_terminal(jstr(a, "source") ?: "");

                printf("%-40s %-40s %-20s %s\n", strna(n), jstr(a, "commit") ?: "-",
                        jstr(a, "added_at") ?: "-", strna(s));
        }
        return 0;
}

int verb_action(int argc, char *argv[]) {
        const char *sub = argv[1];
        int want = streq(sub, "add")                            ? 2
                : streq(sub, "list")                            ? 0
                : streq(sub, "remove") || streq(sub, "resolve") ? 1
                                                                : -1;

        if (want < 0) {
                _cleanup_free_ char *e = escape_for_terminal(sub);
                usage_error("unknown action command '%s' (add, list, remove, resolve)", strna(e));
                return EXIT_USAGE;
        }
        if (argc - 2 != want) {
                usage_error("usage: runnerctl action %s",
                        want == 2                      ? "add OWNER/REPO@REF SOURCE"
                                : want == 0            ? "list [--json]"
                                : streq(sub, "remove") ? "remove OWNER/REPO@REF"
                                                       : "resolve [--json] OWNER/REPO@REF");
                return EXIT_USAGE;
        }
        if (arg_json && !streq(sub, "list") && !streq(sub, "resolve")) {
                usage_error("option '--json' does not apply to action %s", sub);
                return EXIT_USAGE;
        }
        if (streq(sub, "add"))
                return action_add(argv[2], argv[3]);
        if (streq(sub, "list"))
                return action_list();
        if (streq(sub, "remove"))
                return action_remove(argv[2]);
        return action_resolve(argv[2]);
}
