/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "agent-conf.h"
#include "concurrency.h"
#include "job-user.h"
#include "run.h"
#include "scope.h"
#include "step.h"

/* The daemon's state: runs (live ones with their Run state machine, finished ones as the JSON the
 * agent last wrote), and the glue that carries out what the state machine decides. */

typedef struct Manager Manager;
typedef struct ManagedRun ManagedRun;

/* The per-job and per-step state of a live run; manager-internal.h. */
typedef struct JobCtx JobCtx;
typedef struct StepRef StepRef;

struct ManagedRun {
        Manager *manager;
        uint64_t id;
        Run *run;          /* NULL: loaded from disk, finished */
        json_object *json; /* the state as last written */
        JobCtx **jobs;     /* one a job of run; more come when a matrix with ${{ }} is expanded */
        size_t n_job_ctx;
        sd_event_source *save_source; /* a deferred state write is pending */
        ScopeJob *slice_stop;         /* the run's slice is being stopped */
        sd_event_source *timer;       /* at run_next_deadline(): every deadline of the run */
        sd_event_source *force_kill;  /* the force deadline's kill of the run's slice, until empty */
        char *force_reason;
        bool completed_announced;
        bool adopted; /* taken over from an earlier agent */
};

struct Manager {
        sd_event *event;
        sd_bus *bus;         /* the system bus: our API */
        sd_bus *systemd_bus; /* systemd, for scopes and slices */
        UnitWatcher *watcher;
        struct Worker *worker;        /* blocking work off the loop: state writes, NSS lookups */
        struct Worker *remover;       /* removing what jobs leave: as slow as a step makes it */
        struct Worker *action_worker; /* the action store: unpacking, fetching from the mirror */
        char *action_dir;             /* STATE_DIRECTORY/actions (action-store.c) */
        int action_abort_fd;          /* readable once the agent stops: a fetch under way ends */
        Config config;

        char *state_dir;   /* /var/lib/runner-agent */
        char *runtime_dir; /* /run/runner-agent */
        char *shim_path;
        char *seccomp_path; /* the steps' seccomp BPF, built at start-up (runner-agent.c) */
        int runs_fd;
        char *cgroot;

        uid_t step_uid;
        gid_t step_gid;
        gid_t admin_gid;
        char *step_home;
        bool job_user_taken[JOB_USERS]; /* runner-<N> is a running job's (job-user.c) */

        ManagedRun **runs; /* by id, ascending */
        size_t n_runs, allocated_runs;
        uint64_t next_id;
        unsigned pending_submits;             /* on their way to disk */
        struct Authorization *authorizations; /* D-Bus calls not answered yet (dbus-api.c) */
        bool bus_closing;                     /* exiting: every call is answered busy */

        char boot_id[33]; /* this boot's, as the kernel names it */

        bool stopping;
        bool handing_over; /* systemctl restart: the runs go on, for the next agent (README, "Restarts") */
        unsigned running_jobs;
        struct Adoption *adoption; /* at start-up, what the previous agent left (adopt.c) */
        UnitQuery *stop_query;     /* SIGTERM: is it a restart? (runner-agent.c) */
        UnitQuery *away_query;     /* after a take-over: since when was no agent serving? (adopt.c) */
        /* What the agent-readopted event reports once away_query is answered. */
        struct {
                unsigned runs, steps, ended, overdue;
                uint64_t at; /* CLOCK_MONOTONIC µs of the take-over */
        } readopted;

        /* Concurrency groups across all runs (groups.c): the table, and what is to be decided about
         * them from a fresh loop iteration, outside any run's driving. */
        ConcurrencyTable groups;
        struct GroupTask *group_tasks;
        size_t n_group_tasks, allocated_group_tasks;
        sd_event_source *group_source;
};

int manager_new(sd_event *event, const Config *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Connects to the buses and claims the bus name (the D-Bus API lives in dbus-api.c). */
int manager_connect(Manager *m);

/* Reads runs/<id>/state.json of earlier runs; runs the agent left unfinished are marked cancelled and
 * their slices killed. */
int manager_load_runs(Manager *m);

/* A new run from YAML text: checked and built now, written to disk on the worker, then added, started
 * and announced; secrets (NAME=VALUE entries, or NULL) are the run's `secrets` context, kept only in
 * memory and under /run (README, "Secrets"); then(result, id, userdata) follows from the loop (result < 0:
 * nothing was created). Returns < 0 (and then is not called) when it fails at once: -ESHUTDOWN while
 * stopping, -EINVAL with the loader's messages in *ret_errors, one a line, "SOURCE:LINE:COLUMN: message",
 * -ENOMEM. */
typedef void (*manager_submit_done_t)(int result, uint64_t id, void *userdata);

/* What SubmitWithOptions() adds to a run (README, "Contexts of a run", "The run's source"), checked
 * by the caller. */
typedef struct SubmitOptions {
        const char *event_name;             /* NULL: the first event of on: */
        ExprValue *event;                   /* github.event, an object; NULL: {} */
        ExprValue *inputs, *vars;           /* objects of strings; NULL: empty */
        const char *sha, *ref, *repository; /* NULL: not known */
        int source_fd;                      /* the snapshot (a regular file), or -EBADF; taken */
        const char *source_format;          /* "git-bundle" or "tar" with source_fd */
} SubmitOptions;

#define SUBMIT_OPTIONS_NULL ((SubmitOptions){ .source_fd = -EBADF })

int manager_submit_then(Manager *m, const char *source, const char *yaml, size_t len, char *const *secrets,
        SubmitOptions *options, const char *by, char **ret_errors, manager_submit_done_t then,
        void *userdata);

ManagedRun *manager_find_run(Manager *m, uint64_t id);
/* The run's state as JSON: rebuilt from a live run, as loaded for a finished one; owned by mr. */
int managed_run_json(ManagedRun *mr, json_object **ret);
/* Opens a step's log file for reading. */
int manager_open_log(Manager *m, uint64_t id, const char *job, unsigned step);

/* Cancels a run at a user's request (README, "Cancellation"; force: the force deadline at once). -ESRCH:
 * no such run; -EALREADY: it completed. then(saved, changed, userdata) follows from the loop once the cancel
 * is on disk (saved < 0: the write failed), so that a cancel answered then survives a crash of the agent
 * right after (README, "Restarts"). Called exactly once when the cancel succeeded, never when it returns <
 * 0. */
typedef void (*manager_cancel_done_t)(int saved, bool changed, void *userdata);
int manager_cancel_then(
        Manager *m, uint64_t id, const char *by, bool force, manager_cancel_done_t then, void *userdata);

/* Stopping the agent: cancels every run, as runnerctl cancel does; manager_stopped() tells when
 * nothing is left running. */
void manager_begin_stop(Manager *m);
bool manager_stopped(Manager *m);

/* Checks a run's source descriptor (README, "The run's source"): it must be a sealed memfd (no
 * shrinking, growing or writing), so that no file system (FUSE, a network one) stands behind it that
 * could leave the agent waiting for ever, and its content cannot change while it is copied; open for
 * reading; at most max bytes (0: no limit). Returns 0 with its size in *ret_size, -EBADFD, -EFBIG,
 * or -errno. */
int source_fd_check(int fd, uint64_t max, uint64_t *ret_size);

/* systemctl restart, or an upgrade: every run goes on, its state saved and its steps' descriptors in
 * systemd's store, for the next agent to take over (README, "Restarts"); the loop may exit at once. */
void manager_hand_over(Manager *m);

void manager_update_status(Manager *m);
/* Leaving the loop: the workers' work is finished and every D-Bus call still unanswered is answered
 * (io.runneragent.Agent1.Error.Busy), while the bus is still open. */
void manager_finish(Manager *m);
