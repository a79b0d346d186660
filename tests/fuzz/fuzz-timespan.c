/* SPDX-License-Identifier: GPL-2.0-or-later */
/* parse_timespan() on arbitrary text; whatever parses must survive format → parse unchanged. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"
#include "timespan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size);
        char buf[TIMESPAN_MAX];
        uint64_t v, back;

        if (!text || parse_timespan(text, &v) < 0)
                return 0;

        format_timespan(buf, sizeof(buf), v);
        if (parse_timespan(buf, &back) < 0 || back != v) {
                fprintf(stderr, "'%s' -> %llu -> '%s' -> %llu\n", text, (unsigned long long) v, buf,
                        (unsigned long long) back);
                __builtin_trap();
        }
        return 0;
}
