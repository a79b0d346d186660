/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "macro.h"

/* Shared by runnerctl's verbs. */

/* Exit statuses, as runnerctl --help and the README's runnerctl section list them (4 and 7 are the
 * LSB's codes for init scripts). */
#define EXIT_FAILED 1 /* invalid workflow or expression; refused or failed request; run failure */
#define EXIT_USAGE 2
#define EXIT_RUN_CANCELLED 3     /* run --wait/--follow: the run concluded cancelled */
#define EXIT_ACCESS_DENIED 4     /* insufficient privilege */
#define EXIT_AGENT_UNREACHABLE 7 /* runner-agent is not running, or there is no system bus */

/* The parsed command line (runnerctl.c). */
extern bool arg_verbose;
extern bool arg_json;
extern bool arg_wait;
extern bool arg_follow;
extern bool arg_force;
extern bool arg_if;
extern const char *arg_context;
/* run: the secrets, as NAME=VALUE (from -s and --secret-file, in order) */
extern char **arg_secrets;
extern size_t arg_n_secrets;

/* run: the contexts (README, "Contexts of a run") */
extern const char *arg_event;         /* --event; NULL: the agent takes the first of on: */
extern char *arg_event_json;          /* --event-file's text */
extern char **arg_inputs, **arg_vars; /* NAME=VALUE, NULL-terminated */
extern size_t arg_n_inputs, arg_n_vars;
/* run: the source (README, "The run's source") */
extern const char *arg_source; /* --source DIR */
extern bool arg_no_source;

/* The run's source as runnerctl made it, as the user who runs it. */
typedef struct RunSource {
        int fd;                       /* the snapshot (an unnamed temporary file), or -EBADF for none */
        const char *format;           /* "git-bundle" or "tar" */
        char *sha, *ref, *repository; /* from git; NULL when unknown */
} RunSource;
void run_source_done(RunSource *s);
/* --no-source: none; --source DIR: a tar of DIR; else, when the workflow file is inside a git work
 * tree, a bundle of its HEAD (with its branch and the tags), and outside one none. Errors are
 * printed. */
int run_source_make(const char *workflow, const char *dir, bool none, RunSource *ret);

/* Runs argv with stdout to out_fd (or captured into *ret_out, first line, when out_fd < 0), stderr
 * kept (quiet: /dev/null), stdin /dev/null. Returns the exit status, or < 0. */
int spawn(char *const argv[], int out_fd, bool quiet, char **ret_out);
/* Runs argv (git bundle, git archive or tar, as this user) into a new memfd in s->fd and seals it: the
 * only kind of descriptor the agent takes (README, "The run's source"). On failure says "runnerctl:
 * FAILED (why)HINT". */
int snapshot_into_memfd(char *const argv[], RunSource *s, const char *failed, const char *hint);

/* A verb gets its operands with the verb itself first, as argv[0]; it returns the exit status. */

/* Reads a workflow file (at most WORKFLOW_MAX_SIZE bytes). Errors are printed, "FILE:1:1: …" for the
 * size limit as validate reports other problems; returns the length or < 0. */
int read_workflow_file(const char *path, char **ret);

/* A run id as the user typed it; a usage error otherwise. */
int parse_run_id(const char *s, uint64_t *ret);

/* Prints "runnerctl: MESSAGE" and a hint at --help on stderr, as every usage error does (exit status
 * EXIT_USAGE); returns -EINVAL. */
_printf_(1, 2) int usage_error(const char *format, ...);

/* The verbs that talk to runner-agent over D-Bus (runnerctl-bus.c). */
int verb_cancel(int argc, char *argv[]);
int verb_run(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);
int verb_list(int argc, char *argv[]);
int verb_logs(int argc, char *argv[]);
/* The action store (runnerctl-action.c): add, list, remove, resolve. */
int verb_action(int argc, char *argv[]);

/* What the D-Bus verbs share (runnerctl-bus.c). */
int connect_bus(sd_bus **ret);
int agent_error(const char *what, int r, const sd_bus_error *e);
int bad_reply(const char *what, int r);
int exit_status(int r);

/* Reads the journal (runnerctl-events.c). */
int verb_events(int argc, char *argv[]);
