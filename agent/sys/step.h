/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "pidref.h"
#include "scope.h"

/* One step's processes, from the agent's side: the runner-step shim forked, exec'ed and held; its
 * scope created asynchronously; the shim released when systemd's job is done; the entry's pidfd
 * received; the entry's exit reported; the shim reaped. Nothing here blocks the event loop. */

typedef struct StepProcess StepProcess;

typedef struct StepCallbacks {
        /* The entry process runs (its pidfd is valid until the StepProcess is freed). */
        void (*started)(StepProcess *p, const PidRef *entry, void *userdata);
        /* The entry process ended (signal 0: exited with code). */
        void (*exited)(StepProcess *p, int code, int signal, void *userdata);
        /* The step could not run, the shim died without reporting an exit, or it broke the control
         * protocol (error -EPROTO); called at most once, and never after exited(). Whatever still runs
         * in the step's scope is then unsupervised: the caller kills it. */
        void (*failed)(StepProcess *p, int error, const char *message, void *userdata);
} StepCallbacks;

typedef struct StepParams {
        char **shim_argv; /* argv[0] is the shim's path; the control socket becomes its fd 3 */
        const char *unit;
        const char *slice;
        const char *description;
} StepParams;

int step_process_start(sd_event *event, UnitWatcher *watcher, const StepParams *params,
        const StepCallbacks *callbacks, void *userdata, StepProcess **ret);

/* Kills the shim if it still runs (SIGKILL through its pidfd) and reaps it; callbacks stop. */
StepProcess *step_process_free(StepProcess *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(StepProcess *, step_process_free);

/* The step must not start. Returns 1 if its shim was still held: it is never released, it exits, and
 * failed() follows. Returns 0 if it was released already: started() comes, and the caller acts then. */
int step_process_abort(StepProcess *p);

const PidRef *step_process_shim(const StepProcess *p);
const PidRef *step_process_entry(const StepProcess *p); /* NULL until started */
/* Has the shim exited (and been reaped)? */
bool step_process_shim_gone(const StepProcess *p);
