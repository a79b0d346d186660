/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The expression lexer on arbitrary bytes: no crash or leak, and on success a well-formed token
 * list: EOF last, offsets increasing, every token inside the text. */
#include <stddef.h>
#include <stdint.h>

#include "expr-lexer.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ExprTokens t = {};
        ExprError e = {};
        size_t end = 0;

        if (expr_lex((const char *) data, size, &t, &e) < 0) {
                if (t.tokens || e.offset > size)
                        __builtin_trap();
                return 0;
        }

        if (t.n == 0 || t.tokens[t.n - 1].type != EXPR_TOKEN_EOF || t.tokens[t.n - 1].offset != size)
                __builtin_trap();
        for (size_t i = 0; i < t.n; i++) {
                const ExprToken *k = &t.tokens[i];

                if (k->offset < end || k->offset + k->length > size)
                        __builtin_trap();
                if ((k->type == EXPR_TOKEN_STRING) != (k->string != NULL))
                        __builtin_trap();
                end = k->offset + k->length;
        }
        expr_tokens_done(&t);
        return 0;
}
