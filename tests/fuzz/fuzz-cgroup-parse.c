/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The three cgroup text parsers on arbitrary bytes: they must not crash, leak or read out of bounds,
 * and whatever they return must be consistent with their contract. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cgroup-parse.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL, *a = NULL, *b = NULL;
        bool populated;
        int r;

        text = strndup((const char *) data, size); /* the kernel's files hold no NUL */
        if (!text)
                return 0;

        r = mountinfo_find_cgroup2(text, &a);
        if (r == 0 && (!a || a[0] == '\0'))
                __builtin_trap();
        if (r < 0 && a)
                __builtin_trap();

        r = proc_cgroup_find_unified(text, &b);
        if (r == 0 && (!b || b[0] != '/'))
                __builtin_trap();

        (void) cgroup_events_parse_populated(text, &populated);
        {
                uint64_t oom_kill;
                (void) cgroup_memory_events_parse_oom_kill(text, &oom_kill);
        }
        return 0;
}
