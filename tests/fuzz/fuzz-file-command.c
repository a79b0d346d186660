/* SPDX-License-Identifier: GPL-2.0-or-later */
/* $GITHUB_OUTPUT / $GITHUB_ENV / $GITHUB_PATH parsing on arbitrary bytes: no crash or leak; every
 * entry has a name, a value inside the text and a line inside the text. */
#include <stddef.h>
#include <stdint.h>

#include "file-command.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FileCommandEntries e = {};
        char error[256];
        char **paths = NULL;
        size_t n = 0;
        int r;

        r = file_command_parse((const char *) data, size, &e, error, sizeof(error));
        if (r < 0 && r != -EINVAL && r != -ENOMEM)
                __builtin_trap();
        for (size_t i = 0; i < e.n; i++)
                if (!e.entries[i].name || e.entries[i].value_len > size || e.entries[i].line < 1 ||
                        e.entries[i].line > size + 1)
                        __builtin_trap();
        file_command_entries_done(&e);

        r = file_command_parse_paths((const char *) data, size, &paths, &n);
        if (r >= 0) {
                for (size_t i = 0; i < n; i++) {
                        if (!paths[i])
                                __builtin_trap();
                        free(paths[i]);
                }
                free(paths);
        }
        return 0;
}
