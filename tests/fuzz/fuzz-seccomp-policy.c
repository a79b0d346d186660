/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The seccomp policy parser on arbitrary bytes (the file is outside input: whoever can write
 * /etc/runner-agent): it must not crash, leak or read out of bounds, and what it returns must keep its
 * contract: either a policy or a message, rules with valid names, no name twice. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "seccomp-policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SeccompPolicy *p = NULL;
        char *message = NULL;
        int r;

        r = seccomp_policy_parse((const char *) data, size, &p, &message);
        if (r == 0) {
                if (!p || message || p->n_rules > SECCOMP_POLICY_MAX_RULES)
                        __builtin_trap();
                for (size_t i = 0; i < p->n_rules; i++) {
                        size_t n = strlen(p->rules[i].name);

                        if (n == 0 || n > SECCOMP_NAME_MAX || p->rules[i].error <= 0)
                                __builtin_trap();
                        for (size_t k = 0; k < i; k++)
                                if (streq(p->rules[i].name, p->rules[k].name))
                                        __builtin_trap();
                }
        } else if (p || (r == -EINVAL && !message))
                __builtin_trap();
        free(message);
        seccomp_policy_free(p);
        return 0;
}
