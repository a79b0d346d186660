/* SPDX-License-Identifier: GPL-2.0-or-later */
/* action_name_parse() on arbitrary text (a workflow's uses:, runnerctl action's NAME): whatever parses
 * makes a store path that stays inside the store; action_tar_member_safe() on arbitrary lines. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "action-name.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = strndup((const char *) data, size), *path = NULL;
        _cleanup_(action_name_done) ActionName n = {};

        if (!text)
                return 0;
        (void) action_tar_member_safe(text);
        (void) action_mirror_valid(text, 1024);
        if (action_name_parse(text, &n, NULL) < 0)
                return 0;
        if (action_store_path(n.owner, n.repo, n.ref, &path) < 0)
                __builtin_trap();
        /* three components, none empty, . or .., none but the repository's starting with . */
        {
                const char *p = path;
                for (int i = 0; i < 3; i++) {
                        size_t k = strcspn(p, "/");

                        if (k == 0 || (p[0] == '.' && i != 1) || (k == 2 && strneq(p, "..", 2)) ||
                                (k == 1 && p[0] == '.'))
                                __builtin_trap();
                        p += k;
                        if ((i < 2) != (*p == '/'))
                                __builtin_trap();
                        if (*p)
                                p++;
                }
        }
        return 0;
}
