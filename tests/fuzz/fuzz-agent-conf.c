/* SPDX-License-Identifier: GPL-2.0-or-later */
/* agent.conf parsing on arbitrary bytes: no crash or leak; every error names the file and a line
 * inside the text; the settings stay within their ranges. */
#include <stddef.h>
#include <stdint.h>

#include "agent-conf.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ConfigErrors errors = {};
        Config c;
        int r;

        config_init(&c);
        r = config_parse(&c, "agent.conf", (const char *) data, size, &errors);
        if (r < 0 && r != -EINVAL && r != -ENOMEM)
                __builtin_trap();
        if ((r == -EINVAL) != (errors.n > 0))
                __builtin_trap();
        for (size_t i = 0; i < errors.n; i++)
                if (!streq(errors.errors[i].file, "agent.conf") || errors.errors[i].line < 1 ||
                        errors.errors[i].line > size + 1)
                        __builtin_trap();
        if (c.interrupt_timeout_usec == 0 || c.terminate_timeout_usec == 0 || c.force_terminate_usec == 0 ||
                c.signal_target >= _SIGNAL_TARGET_MAX ||
                (c.max_parallel_jobs > 4096 && c.max_parallel_jobs != CONFIG_PARALLEL_JOBS_CPUS))
                __builtin_trap();
        config_resolve_parallel_jobs(&c, 2);
        if (c.max_parallel_jobs > 4096)
                __builtin_trap();
        (void) config_verify(&c, &errors);
        config_errors_done(&errors);
        return 0;
}
