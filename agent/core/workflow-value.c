/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "workflow-value.h"

WorkflowValue *workflow_value_free(WorkflowValue *v) {
        if (!v)
                return NULL;
        expr_value_unref(v->literal);
        expr_template_free(v->template);
        for (size_t i = 0; i < v->n; i++) {
                if (v->keys)
                        free(v->keys[i]);
                workflow_value_free(v->items[i]);
        }
        free(v->keys);
        free(v->key_pos);
        free(v->items);
        free(v);
        return NULL;
}

int workflow_value_evaluate(const WorkflowValue *v, const ExprEvalContext *context, ExprValue **ret,
        ExprError *error, WorkflowPos *ret_at) {
        _cleanup_(expr_value_unrefp) ExprValue *value = NULL;
        int r;

        if (v->literal) {
                *ret = expr_value_ref(v->literal);
                return 0;
        }
        if (v->template) {
                if (!context)
                        return -EINVAL;
                return expr_template_evaluate(v->template, context, ret, error);
        }

        value = v->kind == EXPR_OBJECT ? expr_value_new_object() : expr_value_new_array();
        if (!value)
                return -ENOMEM;
        for (size_t i = 0; i < v->n; i++) {
                _cleanup_(expr_value_unrefp) ExprValue *item = NULL;

                r = workflow_value_evaluate(v->items[i], context, &item, error, ret_at);
                if (r < 0)
                        return r;
                if (v->kind == EXPR_ARRAY) {
                        r = expr_array_append(value, item);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = expr_object_add(value, v->keys[i], strlen(v->keys[i]), item);
                if (r == -EEXIST && ret_at)
                        *ret_at = v->key_pos[i];
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(value);
        return 0;
}
