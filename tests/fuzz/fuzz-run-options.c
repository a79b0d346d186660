/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A --var-file and a remote URL from arbitrary bytes: every name handed on must be valid, every
 * repository derived must pass run_repository_valid(). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "run-options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(const char *name, size_t name_len, const char *value, size_t value_len, void *userdata) {
        if (!run_var_name_valid(name, name_len) || memchr(value, '\n', value_len) ||
                memchr(value, 0, value_len))
                __builtin_trap();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *url = strndup((const char *) data, size), *repo = NULL;
        unsigned line;

        (void) run_var_file_parse((const char *) data, size, check, NULL, &line);
        if (url && run_repository_from_url(url, &repo) >= 0 && !run_repository_valid(repo))
                __builtin_trap();
        if (url) {
                const char *name, *type;

                (void) run_ref_valid(url);
                (void) run_sha_valid(url);
                run_ref_split(url, &name, &type);
        }
        return 0;
}
