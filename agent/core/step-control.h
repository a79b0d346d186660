/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* The agent's side of the control protocol between runner-agent and runner-step (runner-step(8)):
 * what the shim may say, when, and with how many descriptors attached. The shim is started as root,
 * but it runs in the step's scope beside hostile code, so the agent treats every message as input
 * from the network: the grammar is exact, each message is accepted only in the phase where it is
 * expected, and a message that breaks the protocol fails the step.
 *
 *   agent → shim  "go"                  the scope exists (only the agent says this)
 *   shim → agent  "started PID"         the entry runs; exactly one descriptor attached: its pidfd
 *   shim → agent  "failed ERRNO"        the entry could not be executed; no descriptor
 *   shim → agent  "exited CODE SIGNAL"  the entry ended: CODE 0-255 and SIGNAL 0, or CODE -1 and the
 *                                       signal that killed it; no descriptor
 *   shim → agent  "mask VALUE"          the step asked to mask VALUE (::add-mask::): 1 to
 *                                       STEP_CONTROL_MASK_MAX bytes, no NUL; only between "started"
 *                                       and "exited", any number of times; no descriptor
 */

typedef enum StepControlPhase {
        STEP_CONTROL_HELD,     /* "go" not sent yet: the shim must be silent */
        STEP_CONTROL_RELEASED, /* "go" sent: "started" or "failed" may come */
        STEP_CONTROL_STARTED,  /* "started" received: only "exited" may come */
        STEP_CONTROL_DONE,     /* "exited" or "failed" received: nothing more may come */
        _STEP_CONTROL_PHASE_MAX,
} StepControlPhase;

typedef enum StepControlType {
        STEP_CONTROL_MSG_STARTED,
        STEP_CONTROL_MSG_FAILED,
        STEP_CONTROL_MSG_EXITED,
        STEP_CONTROL_MSG_MASK,
} StepControlType;

typedef struct StepControlMessage {
        StepControlType type;
        int pid;           /* started */
        int error;         /* failed: a positive errno */
        int code;          /* exited */
        int signal;        /* exited */
        const char *value; /* mask: points into the datagram, not NUL-terminated */
        size_t value_len;
} StepControlMessage;

/* The longest value a "mask" message carries: longer ::add-mask:: values are masked in their step
 * only (runner-step says so in the log). */
#define STEP_CONTROL_MASK_MAX (16U * 1024U)
/* The longest valid message ("mask" and its value; "exited -1 64" and friends are far shorter);
 * anything longer is a violation, so the receive buffer need not be larger than this plus one byte
 * (to see truncation). */
#define STEP_CONTROL_MESSAGE_MAX (5U + STEP_CONTROL_MASK_MAX)

/* Parses one datagram received in phase, carrying n_fds descriptors. On success returns 0, fills
 * *ret and sets *ret_phase to the phase after it. On a violation returns -EPROTO and points
 * *ret_reason at a static, human-readable explanation; *ret and *ret_phase are untouched. */
int step_control_parse(StepControlPhase phase, const char *data, size_t len, size_t n_fds,
        StepControlMessage *ret, StepControlPhase *ret_phase, const char **ret_reason);
