/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's side of the runner-step control protocol on arbitrary datagrams: the first byte picks
 * the phase and the number of attached descriptors, the rest is the message. Whatever is accepted
 * must be a message the protocol allows in that phase, and must print back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "step-control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        StepControlPhase phase, next = _STEP_CONTROL_PHASE_MAX;
        StepControlMessage m;
        const char *reason = NULL;
        char back[64];
        size_t n_fds;
        int r;

        if (size < 1)
                return 0;
        phase = (StepControlPhase) (data[0] % _STEP_CONTROL_PHASE_MAX);
        n_fds = (data[0] >> 4) % 4;
        r = step_control_parse(phase, (const char *) data + 1, size - 1, n_fds, &m, &next, &reason);
        if (r < 0) {
                if (!reason || next != _STEP_CONTROL_PHASE_MAX)
                        __builtin_trap();
                return 0;
        }

        switch (m.type) {
        case STEP_CONTROL_MSG_STARTED:
                if (phase != STEP_CONTROL_RELEASED || n_fds != 1 || m.pid <= 0 ||
                        next != STEP_CONTROL_STARTED)
                        __builtin_trap();
                snprintf(back, sizeof(back), "started %d", m.pid);
                break;
        case STEP_CONTROL_MSG_FAILED:
                if (phase != STEP_CONTROL_RELEASED || n_fds != 0 || m.error <= 0 ||
                        next != STEP_CONTROL_DONE)
                        __builtin_trap();
                snprintf(back, sizeof(back), "failed %d", m.error);
                break;
        case STEP_CONTROL_MSG_EXITED:
                if (phase != STEP_CONTROL_STARTED || n_fds != 0 || next != STEP_CONTROL_DONE ||
                        !((m.code >= 0 && m.code <= 255 && m.signal == 0) || (m.code == -1 && m.signal > 0)))
                        __builtin_trap();
                snprintf(back, sizeof(back), "exited %d %d", m.code, m.signal);
                break;
        case STEP_CONTROL_MSG_MASK:
                if (phase != STEP_CONTROL_STARTED || n_fds != 0 || next != STEP_CONTROL_STARTED ||
                        m.value_len == 0 || m.value_len > STEP_CONTROL_MASK_MAX ||
                        m.value != (const char *) data + 6 || m.value_len != size - 6)
                        __builtin_trap();
                return 0;
        default:
                __builtin_trap();
        }
        if (strlen(back) != size - 1 || memcmp(back, data + 1, size - 1) != 0)
                __builtin_trap();
        return 0;
}
