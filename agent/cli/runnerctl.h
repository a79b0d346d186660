/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shared by runnerctl's verbs. Each verb returns the process exit status. */

/* Reads a workflow file (at most WORKFLOW_MAX_SIZE bytes). Errors are printed, "FILE:1:1: …" for the
 * size limit as validate reports other problems; returns the length or < 0. */
int read_workflow_file(const char *path, char **ret);

/* Parses [--json] (and --help, printing usage); returns 1 to go on, 0 or 2 to exit with. */
int parse_json_option(int argc, char *argv[], const char *usage, bool *ret_json);

/* A run id as the user typed it; prints the error. */
int parse_run_id(const char *s, uint64_t *ret);

/* The verbs that talk to runner-agent over D-Bus (runnerctl-bus.c). */
int verb_cancel(int argc, char *argv[]);
int verb_run(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);
int verb_list(int argc, char *argv[]);
int verb_logs(int argc, char *argv[]);
/* Reads the journal (runnerctl-events.c). */
int verb_events(int argc, char *argv[]);
