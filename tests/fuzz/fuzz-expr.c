/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Expression parsing and evaluation on arbitrary text, against a context with nested objects,
 * arrays and every kind of value: as an expression, as an if: condition and as a ${{ }} template.
 * No crash, leak or hang; errors carry an offset inside the text; values render as JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "expr.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char context_json[] =
        "{\"github\": {\"ref\": \"refs/heads/main\", \"event\": {\"commits\": [{\"message\": \"fix\", \"n\": 1},"
        " {\"message\": \"Feat\", \"n\": 2.5}], \"empty\": {}, \"list\": []}},"
        " \"env\": {\"A\": \"1\", \"B\": \"\", \"J\": \"{\\\"x\\\": [1, null, true]}\"},"
        " \"steps\": {\"s\": {\"outputs\": {\"o\": \"0x10\"}, \"outcome\": \"failure\"}},"
        " \"needs\": {\"a\": {\"result\": \"success\"}}, \"inputs\": {\"t\": true, \"f\": false, \"z\": null},"
        " \"matrix\": {\"os\": [\"linux\", [1, [2]]]}}";

static ExprValue *contexts;

static int status(ExprStatus which, void *userdata) {
        return which != EXPR_STATUS_FAILURE;
}

static int hash_files(
        const char *const *patterns, size_t n, char **ret, char *error, size_t error_size, void *userdata) {
        if (n > 0 && patterns[0][0] == '!') {
                snprintf(error, error_size, "no match");
                return -ENOENT;
        }
        *ret = strdup("0123456789abcdef");
        return *ret ? 0 : -ENOMEM;
}

static void check_value(const ExprValue *v) {
        char *json = NULL;
        int r;

        if (!v || v->kind >= _EXPR_KIND_MAX)
                __builtin_trap();
        r = expr_value_to_json(v, true, &json, NULL);
        if (r < 0 && r != -E2BIG && r != -ENOMEM)
                __builtin_trap();
        free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const ExprParseOptions options = { .allow = EXPR_ALLOW_STATUS | EXPR_ALLOW_HASH_FILES };
        ExprEvalContext ctx = { .status = status, .hash_files = hash_files };
        const char *text = (const char *) data;
        ExprNode *node = NULL;
        ExprTemplate *t = NULL;
        ExprValue *v = NULL;
        ExprError e = {};
        bool b;
        int r;

        if (!contexts) {
                char message[256];
                if (expr_value_from_json(
                            context_json, strlen(context_json), &contexts, message, sizeof(message)) < 0)
                        __builtin_trap();
        }
        ctx.contexts = contexts;

        r = expr_parse(text, size, &options, &node, &e);
        if (r >= 0) {
                r = expr_evaluate(node, &ctx, &v, &e);
                if (r >= 0)
                        check_value(v);
                v = expr_value_unref(v);
                node = expr_node_free(node);
        }
        if (r < 0 && e.offset > size)
                __builtin_trap();

        e = (ExprError){};
        r = expr_parse_condition(text, size, &options, &node, &e);
        if (r >= 0)
                (void) expr_evaluate_condition(node, &ctx, &b, &e);
        if (r < 0 && e.offset > size)
                __builtin_trap();
        node = expr_node_free(node);

        e = (ExprError){};
        r = expr_template_parse(text, size, &options, &t, &e);
        if (r >= 0) {
                r = expr_template_evaluate(t, &ctx, &v, &e);
                if (r >= 0)
                        check_value(v);
                v = expr_value_unref(v);
        }
        if (r < 0 && e.offset > size)
                __builtin_trap();
        expr_template_free(t);
        return 0;
}
