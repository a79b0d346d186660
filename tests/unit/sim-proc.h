/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The world test-cancel and test-run-state simulate around a run, on a fake clock (µs since the run's
 * start): a step's process behaves as the lines of its run: text say,
 *   sleep MS     runs MS milliseconds, then exits 0 (without it: runs until killed)
 *   exit N       exits N when it ends on its own
 *   trap INT     ignores SIGINT (trap TERM: SIGTERM)
 *   linger MS    takes MS milliseconds to exit after a signal it does not ignore
 *   output K=V, setenv K=V, addpath D: what it leaves in $GITHUB_OUTPUT, $GITHUB_ENV, $GITHUB_PATH
 *   state K=V    what it leaves in $GITHUB_STATE (a JavaScript action's step)
 * A JavaScript action's step behaves as the name of the file it runs says (main: "sleep 100").
 * Include after cmocka.h and run.h. */

#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

#define T0 (1700000000ULL * USEC_PER_SEC)
#define NEVER UINT64_MAX
#define MS USEC_PER_MSEC
#define MONO0 (1000 * USEC_PER_SEC) /* the monotonic clock at the run's start */

typedef struct Proc {
        size_t job, step;
        RunStepSpec *spec;
        bool present, started, aborted, ended, trap_int, trap_term;
        uint64_t ready_at; /* the scope exists: the held shim is released, the entry starts */
        uint64_t duration;
        uint64_t exit_at; /* NEVER: runs until killed */
        uint64_t empty_at;
        uint64_t linger;
        int exit_code, exit_signal;
        char output[256], env[256], path[256], state[256];
} Proc;

static inline RunTime sim_time(uint64_t now) {
        return (RunTime){ .realtime = T0 + now, .monotonic = MONO0 + now };
}

/* Appends "<ms> text\n" to log. */
static inline void sim_log(char *log, size_t size, uint64_t now, const char *fmt, ...) _printf_(4, 5);
static inline void sim_log(char *log, size_t size, uint64_t now, const char *fmt, ...) {
        size_t len = strlen(log);
        va_list ap;

        len += (size_t) snprintf(log + len, size - len, "%" PRIu64 " ", now / MS);
        va_start(ap, fmt);
        vsnprintf(log + len, size - len, fmt, ap);
        va_end(ap);
        len = strlen(log);
        snprintf(log + len, size - len, "\n");
        assert_true(strlen(log) < size - 1);
}

/* For a test's Sim, with its clock (now) and its log. */
#define at(s) sim_time((s)->now)
#define logf_(s, ...) sim_log((s)->log, sizeof((s)->log), (s)->now, __VA_ARGS__)

static inline void sim_proc_parse(Proc *p, const char *text) {
        char *script = strdup(text);
        bool exits = false;

        assert_non_null(script);
        p->duration = NEVER;
        for (char *line = strtok(script, "\n"); line; line = strtok(NULL, "\n")) {
                if (strncmp(line, "sleep ", 6) == 0)
                        p->duration = strtoull(line + 6, NULL, 10) * MS;
                else if (strncmp(line, "exit ", 5) == 0) {
                        p->exit_code = atoi(line + 5);
                        exits = true;
                } else if (streq(line, "trap INT"))
                        p->trap_int = true;
                else if (streq(line, "trap TERM"))
                        p->trap_term = true;
                else if (strncmp(line, "linger ", 7) == 0)
                        p->linger = strtoull(line + 7, NULL, 10) * MS;
                else if (strncmp(line, "output ", 7) == 0)
                        snprintf(p->output + strlen(p->output), sizeof(p->output) - strlen(p->output),
                                "%s\n", line + 7);
                else if (strncmp(line, "setenv ", 7) == 0)
                        snprintf(p->env + strlen(p->env), sizeof(p->env) - strlen(p->env), "%s\n", line + 7);
                else if (strncmp(line, "state ", 6) == 0)
                        snprintf(p->state + strlen(p->state), sizeof(p->state) - strlen(p->state), "%s\n",
                                line + 6);
                else if (strncmp(line, "addpath ", 8) == 0)
                        snprintf(p->path + strlen(p->path), sizeof(p->path) - strlen(p->path), "%s\n",
                                line + 8);
        }
        if (exits && p->duration == NEVER)
                p->duration = 0;
        free(script);
}

/* SIGKILL, or a held shim told to give up: it ends without an entry, reported as a failure. */
static inline void sim_proc_kill(Proc *p, uint64_t now, int sig) {
        if (p->ended)
                return;
        if (!p->started) {
                p->aborted = true;
                p->ready_at = now;
                return;
        }
        p->exit_at = now;
        p->exit_signal = sig;
}

/* A signal to the entry: it exits after its linger unless it traps the signal. */
static inline void sim_proc_signal(Proc *p, uint64_t now, int sig) {
        if (p->ended || (sig == SIGINT && p->trap_int) || (sig == SIGTERM && p->trap_term))
                return;
        p->exit_at = MIN(p->exit_at, now + p->linger);
        if (p->exit_at == now + p->linger)
                p->exit_signal = sig;
}

/* The room under MaxParallelJobs= (0: no limit), as the agent counts it: jobs from start to completion. */
static inline unsigned sim_room(const Run *run, unsigned max_jobs) {
        unsigned running = 0;

        if (max_jobs == 0)
                return UINT_MAX;
        for (size_t i = 0; i < run->n_jobs; i++)
                running += run->jobs[i].status == RUN_STATUS_IN_PROGRESS;
        return running >= max_jobs ? 0 : max_jobs - running;
}

/* The effects of a simulated agent, as run_drive() calls them (userdata: the test's Sim): each test
 * defines them for its own world, and drives its run with sim_ops. */
static RunTime sim_now(void *userdata);
static unsigned sim_room_left(void *userdata);
static void sim_signal_step(void *userdata, RunAction *x, RunActions *more);
static void sim_kill_step(void *userdata, RunAction *x, RunActions *more);
static void sim_start_step(void *userdata, RunAction *x, RunActions *more);
static void sim_abort_step(void *userdata, RunAction *x, RunActions *more);
static void sim_kill_run(void *userdata, RunAction *x, RunActions *more);
static void sim_clean_job(void *userdata, RunAction *x, RunActions *more);
static void sim_event(void *userdata, RunAction *x, RunActions *more);
static void sim_changed(void *userdata, RunAction *x, RunActions *more);
static void sim_acquire_group(void *userdata, RunAction *x, RunActions *more);
#ifdef SIM_ACTIONS /* a test whose workflows use actions defines these too */
static void sim_load_action(void *userdata, RunAction *x, RunActions *more);
static void sim_steps_inserted(void *userdata, RunAction *x, RunActions *more);
#endif

static const RunDriverOps sim_ops = {
        .now = sim_now,
        .room = sim_room_left,
        .signal_step = sim_signal_step,
        .kill_step = sim_kill_step,
        .start_step = sim_start_step,
        .abort_step = sim_abort_step,
        .kill_run = sim_kill_run,
        .clean_job = sim_clean_job,
        .event = sim_event,
        .changed = sim_changed,
        .acquire_group = sim_acquire_group,
#ifdef SIM_ACTIONS
        .load_action = sim_load_action,
        .steps_inserted = sim_steps_inserted,
#endif
};
