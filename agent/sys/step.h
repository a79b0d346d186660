/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "pidref.h"
#include "scope.h"

/* One step's processes, from the agent's side: the runner-step shim forked, exec'ed and held; its
 * scope created asynchronously; the shim released when systemd's job is done; the entry's pidfd
 * received; the entry's exit reported; the shim reaped. Nothing here blocks the event loop. */

typedef struct StepProcess StepProcess;

/* The leaves of a step's delegated scope (README, "Cancellation"): runner-step in "supervisor", the
 * step's processes in "payload", from the entry's creation on. */
#define STEP_CGROUP_SUPERVISOR "supervisor"
#define STEP_CGROUP_PAYLOAD "payload"
/* How long a shim has at least, once its step's "payload" is empty, to drain the pipes, finish the log
 * and exit before the rest of the scope is killed (at most twice that; cgroup_kill_staged()): above
 * the 2 s runner-step gives journald. */
#define STEP_SHIM_GRACE_USEC (5U * 1000U * 1000U)

typedef struct StepCallbacks {
        /* The entry process runs (its pidfd is valid until the StepProcess is freed). */
        void (*started)(StepProcess *p, const PidRef *entry, void *userdata);
        /* The entry process ended (signal 0: exited with code). */
        void (*exited)(StepProcess *p, int code, int signal, void *userdata);
        /* The step could not run, the shim died without reporting an exit, or it broke the control
         * protocol (error -EPROTO); called at most once, and never after exited(). Whatever still runs
         * in the step's scope is then unsupervised: the caller kills it. */
        void (*failed)(StepProcess *p, int error, const char *message, void *userdata);
        /* The step asked to mask value (::add-mask::, runner-step's "mask"); optional. */
        void (*mask)(StepProcess *p, const char *value, size_t len, void *userdata);
} StepCallbacks;

typedef struct StepParams {
        char **shim_argv; /* argv[0] is the shim's path; the control socket becomes its fd 3 */
        const char *unit;
        const char *slice;
        const char *description;
        int masks_fd; /* > 0: becomes the shim's fd 4 (runner-step --masks-fd=4); 0 (unset): none */
        int stdin_fd; /* > 0: becomes the shim's fd 5 (runner-step --stdin-fd=5); 0 (unset): none */
} StepParams;

int step_process_start(sd_event *event, UnitWatcher *watcher, const StepParams *params,
        const StepCallbacks *callbacks, void *userdata, StepProcess **ret);

/* Kills the shim if it still runs (SIGKILL through its pidfd) and reaps it; callbacks stop. */
StepProcess *step_process_free(StepProcess *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(StepProcess *, step_process_free);
/* Lets go of the step without touching its processes: the agent hands it over to its successor. */
StepProcess *step_process_release(StepProcess *p);

/* Takes over a running step from an earlier agent (README, "Restarts"): its end of the control
 * socket, the shim's pidfd and the entry's (unset if the entry is gone already). What the shim said
 * while nobody listened waits in the socket and is read as usual; the shim is not our child, so its end
 * is seen through its pidfd. Takes the descriptors on success. */
int step_process_adopt(sd_event *event, int control_fd, PidRef *shim, PidRef *entry,
        const StepCallbacks *callbacks, void *userdata, StepProcess **ret);

/* A step that ended while no agent ran (its exit status is in its exit file, README "Restarts"): what
 * its shim sent before it ended, values to mask and then 'exited', still waits in the control socket.
 * Reads what is there, calling mask() for each value; the exit is the caller's to report, from the exit
 * file. Takes control_fd. */
void step_process_drain(int control_fd, const StepCallbacks *callbacks, void *userdata);

/* The agent's end of the control socket (-EBADF once the shim has finished with it). */
int step_process_control_fd(const StepProcess *p);

/* The step must not start. Returns 1 if its shim was still held: it is never released, it exits, and
 * failed() follows. Returns 0 if it was released already: started() comes, and the caller acts then. */
int step_process_abort(StepProcess *p);

const PidRef *step_process_shim(const StepProcess *p);
const PidRef *step_process_entry(const StepProcess *p); /* NULL until started */
/* Has the shim exited (and been reaped)? */
bool step_process_shim_gone(const StepProcess *p);
