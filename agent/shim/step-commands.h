/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "mask.h"

/* Workflow commands a step prints (README, "Workflow commands"), carried out by runner-step: the
 * lines the scanner (workflow-command.h) found are parsed here, and a command line is consumed (not
 * in the log); what it shows goes to the log through emit() (and so through the masking). */

#define STEP_ANNOTATIONS_PER_LEVEL 10U /* as GitHub keeps per step: errors, warnings, notices */

typedef struct StepCommands {
        MaskList *masks;  /* ::add-mask:: adds here: the filters of both streams use it */
        bool debug;       /* ::debug:: lines are shown */
        char *stop_token; /* ::stop-commands::: no command until ::TOKEN:: */
        int annotations_fd;
        unsigned counts[3];      /* annotations written, per level */
        const char *output_path; /* GITHUB_OUTPUT, for ::set-output */
        bool started;            /* "started" was sent and "exited" not yet: "mask" may go */
        char **queue;            /* "mask" messages the control socket did not take yet */
        size_t n_queue;
        MaskList given;    /* the values given to the job: queued, and recorded for a restarted agent */
        size_t given_size; /* their bytes; at most what a job keeps (RUN_JOB_MASKS_MAX, _SIZE_MAX) */
        unsigned long dropped_masks; /* values masked in this step only (too long, too late, too many) */
        unsigned long unsent_masks; /* values the socket did not take: the agent gets them from the record */
        void (*emit)(void *userdata, unsigned stream, const char *data, size_t len);
        void *userdata;
} StepCommands;

void step_commands_done(StepCommands *c);
/* One candidate line (with its newline) of stream: carried out if it is a command, else emitted as
 * output. */
void step_commands_line(StepCommands *c, unsigned stream, const char *line, size_t len);
/* Sends what is queued for the agent without blocking. Returns true while something is left. */
bool step_commands_send_queue(StepCommands *c, int control_fd);
