/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The files of a run in runs/<id>/ (README, Running workflows, and "Restarts"): state.json, the public
 * status; run-state.json, what a restarted agent resumes from. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "manager-internal.h"
#include "run-state.h"
#include "worker.h"

/* runs/<id>. Opened when needed and closed right after: the agent holds no descriptor per run at
 * rest, so the number of runs it keeps is bounded by the disk, not by LimitNOFILE=. */
int run_dir_open(Manager *m, uint64_t id) {
        char name[DECIMAL_STR_MAX(uint64_t)];
        int fd;

        snprintf(name, sizeof(name), "%" PRIu64, id);
        fd = openat(m->runs_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* run-state.json: what a restarted agent needs to carry the run on (README, "Restarts"): the core's
 * state and the boot it belongs to (its deadlines are on this boot's CLOCK_MONOTONIC). */
static int internal_state_text(ManagedRun *mr, char **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        *ret = NULL;
        if (!mr->run)
                return 0;
        r = run_state_to_json(mr->run, &o);
        if (r < 0)
                return r;
        if (json_object_object_add(o, "boot_id", json_object_new_string(mr->manager->boot_id)) < 0)
                return -ENOMEM;
        *ret = strdup(
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        return *ret ? 0 : -ENOMEM;
}

static int public_state_text(ManagedRun *mr, char **ret) {
        json_object *o;
        int r;

        r = managed_run_json(mr, &o);
        if (r < 0)
                return r;
        *ret = strdup(
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        return *ret ? 0 : -ENOMEM;
}

/* run-state.json before state.json, so that the public state never runs ahead of what a successor
 * would resume from. */
int state_write_texts_at(int dir_fd, const char *internal, const char *public) {
        int r;

        if (internal) {
                r = write_file_atomic_at(dir_fd, "run-state.json", internal, strlen(internal), 0600);
                if (r < 0)
                        return r;
        }
        return write_file_atomic_at(dir_fd, "state.json", public, strlen(public), 0640);
}

int state_texts(ManagedRun *mr, char **ret_internal, char **ret_public) {
        _cleanup_free_ char *internal = NULL, *public = NULL;
        int r;

        r = internal_state_text(mr, &internal);
        if (r >= 0)
                r = public_state_text(mr, &public);
        if (r < 0)
                return r;
        *ret_internal = TAKE_PTR(internal);
        *ret_public = TAKE_PTR(public);
        return 0;
}

/* A snapshot of a run's state on its way to disk, on the worker thread: the writes and their fsync()s
 * never hold up the loop (README, "Restarts"). One worker, so a run's snapshots land in order. */
typedef struct StateWrite {
        int runs_fd; /* the manager's; the worker is drained before it is closed */
        uint64_t id;
        char *internal, *public;
        save_done_t then;
        void *userdata;
} StateWrite;

static int state_write_run(void *data) {
        StateWrite *w = data;
        char name[DECIMAL_STR_MAX(uint64_t)];
        _cleanup_close_ int fd = -EBADF;

        snprintf(name, sizeof(name), "%" PRIu64, w->id);
        fd = openat(w->runs_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return state_write_texts_at(fd, w->internal, w->public);
}

static void state_write_done(int r, void *data) {
        StateWrite *w = data;

        if (r < 0)
                log_error_errno(r, "Run %" PRIu64 ": failed to write state.json: %m", w->id);
        if (w->then)
                w->then(r, w->userdata);
        free(w->internal);
        free(w->public);
        free(w);
}

int save_then(ManagedRun *mr, save_done_t then, void *userdata) {
        StateWrite *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return log_oom();
        *w = (StateWrite){
                .runs_fd = mr->manager->runs_fd, .id = mr->id, .then = then, .userdata = userdata
        };
        /* The values this state holds masked, as they are, on the tmpfs (secret-store.c): first, so
         * that a successor never finds the state ahead of them. A completed run has no later steps,
         * and its store is removed (run-loop.c). */
        r = mr->run && mr->run->status != RUN_STATUS_COMPLETED && !mr->completed_announced
                ? secret_store_save(mr)
                : 0;
        if (r < 0)
                log_warning_errno(r,
                        "Run %" PRIu64 ": cannot keep its secrets for a restarted agent; after a restart "
                        "its later steps see *** where a secret was: %m",
                        mr->id);
        r = state_texts(mr, &w->internal, &w->public);
        if (r >= 0)
                r = worker_submit(mr->manager->worker, state_write_run, state_write_done, w);
        if (r < 0) {
                log_error_errno(r, "Run %" PRIu64 ": failed to save its state: %m", mr->id);
                if (then)
                        then(r, userdata);
                free(w->internal);
                free(w->public);
                free(w);
        }
        return r;
}

int save_now(ManagedRun *mr) {
        return save_then(mr, NULL, NULL);
}

static int on_save(sd_event_source *s, void *userdata) {
        ManagedRun *mr = userdata;

        mr->save_source = sd_event_source_disable_unref(mr->save_source);
        (void) save_now(mr);
        return 0;
}

/* Many changes in one loop iteration make one write. */
void save_soon(ManagedRun *mr) {
        if (mr->save_source)
                return;
        if (sd_event_add_defer(mr->manager->event, &mr->save_source, on_save, mr) < 0)
                (void) save_now(mr);
}

/* The run's state as the core left it, from run-state.json and workflow.yml. NULL *ret_why: taken. */
int state_read_run(Manager *m, int dir_fd, Run **ret, char **ret_why) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        _cleanup_free_ char *text = NULL, *yaml = NULL, *error = NULL;
        json_object *boot;
        int r;

        *ret_why = NULL;
        r = read_full_file_at(dir_fd, "run-state.json", STATE_MAX_SIZE, &text);
        if (r < 0)
                return asprintf(ret_why, "its run-state.json cannot be read: %s", strerror(-r)) < 0 ? -ENOMEM
                                                                                                    : 0;
        o = json_parse_state(text);
        if (!o || !json_object_is_type(o, json_type_object))
                return (*ret_why = strdup("its run-state.json is not a JSON object")) ? 0 : -ENOMEM;
        if (!json_object_object_get_ex(o, "boot_id", &boot) ||
                !json_object_is_type(boot, json_type_string) ||
                !streq(json_object_get_string(boot), m->boot_id))
                return (*ret_why = strdup("the machine was restarted while it ran (the boot ID changed)"))
                        ? 0
                        : -ENOMEM;
        r = read_full_file_at(dir_fd, "workflow.yml", WORKFLOW_MAX_SIZE, &yaml);
        if (r >= 0)
                r = workflow_load(yaml, (size_t) r, &w, &errors);
        if (r < 0)
                return (*ret_why = strdup("its workflow.yml no longer loads")) ? 0 : -ENOMEM;
        r = run_state_from_json(o, TAKE_PTR(w), ret, &error); /* takes the workflow, also on failure */
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return asprintf(ret_why, "its run-state.json is invalid: %s", strna(error)) < 0 ? -ENOMEM
                                                                                                : 0;
        return 0;
}
