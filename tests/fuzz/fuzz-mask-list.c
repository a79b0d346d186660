/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The list of masked values as runner-step records it for a restarted agent (runner-step --masked-file)
 * and as the agent hands the secrets to runner-step (--masks-fd): values each ended by a NUL byte. What
 * parses must serialize and parse back to the same values, in the same order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        MaskList l = {}, again = {};
        char *text = NULL;
        size_t len = 0;

        if (mask_list_parse((const char *) data, size, &l) >= 0) {
                if (mask_list_serialize(&l, &text, &len) < 0 || len > size ||
                        mask_list_parse(text, len, &again) < 0 || again.n != l.n)
                        abort();
                for (size_t i = 0; i < l.n; i++)
                        if (again.lens[i] != l.lens[i] ||
                                memcmp(again.values[i], l.values[i], l.lens[i]) != 0 || l.lens[i] == 0 ||
                                memchr(l.values[i], '\0', l.lens[i]))
                                abort();
        }
        free(text);
        mask_list_done(&again);
        mask_list_done(&l);
        return 0;
}
