/* SPDX-License-Identifier: GPL-2.0-or-later */
/* matrix_expand() on arbitrary bytes read as JSON (the form fromJSON() gives a computed matrix): no
 * crash, leak or hang; an expansion has at most MATRIX_MAX_COMBINATIONS combinations, each an object
 * that renders as JSON, with a display name of at most MATRIX_MAX_NAME characters; an error has a
 * message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "matrix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t utf8_chars(const char *s) {
        size_t n = 0;

        for (; *s; s++)
                n += ((unsigned char) *s & 0xC0) != 0x80;
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ExprValue *definition = NULL;
        MatrixExpansion m = {};
        MatrixError error = {};
        char why[256];
        int r;

        if (size > 64 * 1024)
                return 0;
        if (expr_value_from_json((const char *) data, size, &definition, why, sizeof(why)) < 0)
                return 0;

        r = matrix_expand(definition, &m, &error);
        if (r == -EINVAL && error.message[0] == '\0')
                __builtin_trap();
        if (r < 0 && r != -EINVAL && r != -ENOMEM)
                __builtin_trap();
        if (r >= 0 && m.n > MATRIX_MAX_COMBINATIONS)
                __builtin_trap();

        for (size_t i = 0; r >= 0 && i < m.n; i++) {
                char *json = NULL, *name = NULL;

                if (m.items[i].matrix->kind != EXPR_OBJECT || !m.items[i].suffix)
                        __builtin_trap();
                if (expr_value_to_json(m.items[i].matrix, false, &json, NULL) == 0)
                        free(json);
                if (matrix_display_name("job", m.items[i].suffix, &name) == 0) {
                        if (utf8_chars(name) > MATRIX_MAX_NAME)
                                __builtin_trap();
                        free(name);
                }
        }

        matrix_expansion_done(&m);
        expr_value_unref(definition);
        return 0;
}
