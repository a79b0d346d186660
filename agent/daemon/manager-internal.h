/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* What the daemon's modules share and nothing else includes: the per-job and per-step state of a live
 * run, and each module's entry points. manager.h is the daemon's face to runner-agent.c, dbus-api.c and
 * journal.c. */

#include <time.h>

#include "alloc-util.h"
#include "fdstore.h"
#include "manager.h"

#define STATE_MAX_SIZE (64U * 1024U * 1024U)

/* What a SIGNAL_STEP did, kept until it is logged after the round's other signals and kills. */
typedef struct SignalSent {
        pid_t pid;          /* the entry; 0: not sent */
        unsigned processes; /* SignalTarget=cgroup: how many got it */
} SignalSent;

struct StepRef {
        ManagedRun *mr;
        size_t job, step;
        int scope_fd;                  /* after the kill: the scope's cgroup, watched until empty */
        sd_event_source *empty_source; /* … */
        uint64_t killed_at;            /* monotonic µs of the cgroup.kill */
        unsigned kill_processes;       /* how many it met */
        SignalSent sent;
        int kill_error;
        uint64_t kill_to_empty_usec;  /* from it to populated 0 */
        ScopeJob *stale_stop;         /* taken over unstarted: its old scope is being stopped */
        sd_event_source *adopt_check; /* a start the previous agent may have made is looked for */
        bool fresh;                   /* its leftovers are gone: the next start is a real one */
};

typedef struct ActionLoad ActionLoad;

struct JobCtx {
        ManagedRun *mr;
        size_t index;
        bool counted;        /* in Manager.running_jobs */
        bool masks_full;     /* ::add-mask:: beyond the job's limit was logged once */
        StepProcess **steps; /* by step index; a shim stays until the job's end (it may still copy output) */
        StepRef **refs;      /* the steps' callback userdata, each where it stays */
        size_t n_steps;      /* of both: the job's, with the steps its actions added */
        ActionLoad *loads;   /* the actions being loaded for its steps (action-load.c) */
        int files_fd;        /* the job's file-command directory, owned by the step user */
        char *files_dir;
        uid_t uid;     /* the job's user, its GID the same ((uid_t) -1: none yet; job-user.c) */
        char user[16]; /* … its name */
        sd_event_source *clean_source;
        sd_event_source *empty_source;
        int slice_fd;
        ScopeJob *slice_stop;
        ScopeJob *slice_start; /* the slice with the [Job] limits, started before its first step */
        bool slice_started;
        uint64_t oom_kills; /* the slice's oom_kill count the steps' messages have accounted for */
};

static inline uint64_t clock_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static inline RunTime now(void) {
        return (RunTime){ .realtime = clock_usec(CLOCK_REALTIME), .monotonic = clock_usec(CLOCK_MONOTONIC) };
}

static inline JobCtx *job_ctx(ManagedRun *mr, size_t job) {
        return mr->jobs[job];
}

/* ---- manager.c: the run table ---- */

char *strdupf(const char *fmt, ...) _printf_(1, 2);
int managed_run_new(Manager *m, uint64_t id, ManagedRun **ret);
/* The JobCtx and StepRef of every job and step: at first, and for the jobs appended since. */
int managed_run_init_jobs(ManagedRun *mr);
/* ---- action-load.c: RUN_ACTION_LOAD_ACTION (README, "Actions") ---- */

/* Loads the action of the step's uses: and answers with run_step_action_loaded(), into more when it
 * can at once, else later from the loop. */
void step_load_action(ManagedRun *mr, size_t job, size_t step, RunActions *more);
/* The job goes away: the answers still to come are dropped. */
void job_ctx_cancel_loads(JobCtx *jc);

/* RUN_ACTION_STEPS_INSERTED: n steps before step at. */
int job_ctx_insert_steps(ManagedRun *mr, size_t job, size_t at, size_t n);
int managed_run_add(Manager *m, ManagedRun *mr);
ManagedRun *managed_run_free(ManagedRun *mr);
void step_ref_done(StepRef *ref);

/* ---- secret-store.c: the run's secrets and masked values under the runtime directory ---- */

int secret_store_save(ManagedRun *mr);             /* no file when there is nothing to keep */
int secret_store_load(ManagedRun *mr);             /* into mr->run; no file: nothing */
void secret_store_remove(Manager *m, uint64_t id); /* with what runner-step recorded of its steps */
/* Where runner-step records the values step (numbers) of job masked (runner-step --masked-file): a
 * name in the secrets' directory, which is made if missing. */
int secret_store_masked_path(Manager *m, uint64_t id, unsigned job, unsigned step, char **ret);
/* Those values into *ret (nothing: the step masked none). */
int secret_store_read_masked(Manager *m, uint64_t id, unsigned job, unsigned step, MaskList *ret);
void secret_store_forget_masked(Manager *m, uint64_t id, unsigned job, unsigned step);

/* ---- state.c: runs/<id>/ ---- */

int run_dir_open(Manager *m, uint64_t id); /* opened when needed: no descriptor per run at rest */
/* The texts of run-state.json (NULL for a run without a Run) and state.json, made in the loop; written
 * by state_write_texts_at(), in that order, on any thread. */
int state_texts(ManagedRun *mr, char **ret_internal, char **ret_public);
int state_write_texts_at(int dir_fd, const char *internal, const char *public);
/* Queues a snapshot of the run's state for the worker to write; then(result, userdata) follows from
 * the loop once it is on disk (or failed). */
typedef void (*save_done_t)(int result, void *userdata);
int save_then(ManagedRun *mr, save_done_t then, void *userdata);
int save_now(ManagedRun *mr);   /* the same, without a continuation */
void save_soon(ManagedRun *mr); /* many changes in one loop iteration make one write */
/* The core's state from run-state.json and workflow.yml, for a restarted agent. NULL *ret_why: read;
 * otherwise why the run cannot be taken over. */
int state_read_run(Manager *m, int dir_fd, Run **ret, char **ret_why);

/* ---- run-loop.c: a live run bound to the event loop ---- */

/* Carries out actions and everything run_advance() decides after them (run_drive()), then re-arms the
 * run's one timer. Empties actions. */
void run_loop_drive(ManagedRun *mr, RunActions *actions);
/* The run concluded: it is announced once its slice is gone. */
void run_completed(ManagedRun *mr);

/* ---- sched.c: MaxParallelJobs= across runs ---- */

unsigned sched_room(Manager *m);
/* A job's status changed: it counts against the limit from its start to its completion. */
void sched_job_changed(ManagedRun *mr, size_t job);
/* Room was freed: every run may start queued jobs. */
void sched_kick_all(Manager *m);

/* ---- groups.c: concurrency groups across runs (README, "Concurrency groups") ---- */

/* RUN_ACTION_ACQUIRE_GROUP: the run (job SIZE_MAX) or the job asks for its group. */
void groups_acquire(ManagedRun *mr, size_t job);
/* The run (job SIZE_MAX: also each of its jobs) or the job concluded: it leaves its group, and the
 * member waiting for it takes over. */
void groups_release(ManagedRun *mr, size_t job);
/* After a take-over: every unfinished run's holders, then its pending members, as run-state.json says. */
void groups_restore(Manager *m);
void groups_done(Manager *m);
/* cancel-in-progress: run id cancelled as by runnerctl cancel, reason concurrency, caused by newer
 * (manager.c). */
int manager_cancel_for_group(Manager *m, uint64_t id, uint64_t newer);

/* ---- step-exec.c: starting a step ---- */

/* What differs between kinds of step: the entry's files, argv and stdin, from the spec. A run: step is
 * run by a shell (README, The workflow language); actions/checkout by the agent's script with the run's
 * source on stdin; JavaScript actions run by node and container actions will be kinds of their own. */
typedef struct StepKindOps {
        const char *name;
        /* Writes what the entry needs into the job's file-command directory and returns the entry's
         * argv. *ret_message: why it failed, for the step's message (NULL: out of memory). */
        int (*prepare)(ManagedRun *mr, size_t job, size_t step, const RunStepSpec *spec, char ***ret_argv,
                char **ret_message);
        /* The entry's standard input, or -EBADF for /dev/null; NULL: /dev/null. */
        int (*open_stdin)(ManagedRun *mr, char **ret_message);
} StepKindOps;

extern const StepCallbacks step_callbacks;
int start_step(ManagedRun *mr, size_t job, size_t step, const RunStepSpec *spec, char **ret_message);
/* Records the job slice's OOM-kill count as a step starts or is taken over (README, "Steps are
 * untrusted"): a kill counted later is that step's. */
void step_oom_baseline(ManagedRun *mr, size_t job);
/* The job's workspace and file-command directories, made once per job. */
int job_prepare_dirs(ManagedRun *mr, size_t job, char **ret_workspace_job);
int step_cgroup_path(ManagedRun *mr, size_t job, size_t step, char **ret);
void on_step_exited(StepProcess *p, int code, int sig, void *userdata);
/* Removes the step's descriptors from systemd's store (README, "Restarts"). */
void step_fds_forget(StepRef *ref);
void on_step_failed(StepProcess *p, int error, const char *message, void *userdata);

/* ---- kill.c: signals and kills ---- */

SignalSent signal_step(ManagedRun *mr, const RunAction *a);
/* The kill itself, with nothing in between for the round's other kills; kill_step_follow_up() logs it
 * and watches the scope afterwards. */
void kill_step(ManagedRun *mr, const RunAction *a);
void kill_step_follow_up(ManagedRun *mr, const RunAction *a, RunActions *more);
void kill_run(ManagedRun *mr, const RunAction *a);
/* The scope of a killed step is empty (cgroup_watch_empty() callback; userdata: its StepRef). */
void on_step_empty(sd_event_source *s, void *userdata);

/* ---- job-end.c ---- */

/* The job's steps are done: from a fresh loop iteration, its leftovers are logged and killed. */
void job_end_schedule(ManagedRun *mr, size_t job);
/* At start-up, once the runs are loaded: workspaces no unfinished job owns are removed. */
void workspaces_sweep(Manager *m);

/* ---- adopt.c: taking over from an earlier agent (README, "Restarts") ---- */

typedef struct Adoption {
        FdStore store;
        ManagedRun **runs; /* taken over, to be resumed once all are loaded */
        size_t n_runs, allocated;
        unsigned steps, ended, overdue;
        unsigned checks; /* adopt_claim_start(): starts being checked */
        bool resumed;
} Adoption;

void adoption_begin(Adoption *a);
/* Takes run id over from its run-state.json. NULL *ret_why: taken (and added to the table); otherwise
 * why not, and adopt_refuse() is for it. */
int adopt_run(Manager *m, uint64_t id, int dir_fd, Adoption *a, char **ret_why);
/* A run that cannot be taken over (mr: as its state.json says): concluded cancelled, its leftovers
 * killed. */
void adopt_refuse(Manager *m, ManagedRun *mr, const char *why);
/* Once every run is loaded and counted: their steps are taken over, each run goes on, and the
 * agent-readopted event says what was found. */
void adoption_resume(Manager *m, Adoption *a);
void adoption_done(Adoption *a);
/* The store is kept (Manager.adoption) while the resumed runs may still start a step the previous
 * agent had started after it last saved the run; freed once none can. */
void adoption_maybe_end(Manager *m);
/* START_STEP in a taken-over run, while the store is kept: true if the step is looked for first (its
 * descriptors in the store, its exit status, its scope) and taken over, or started afresh once what is
 * left of it is gone. */
bool adopt_claim_start(ManagedRun *mr, size_t job, size_t step);
