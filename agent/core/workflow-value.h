/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "expr.h"

/* A YAML value whose scalars may hold ${{ }}, as strategy.matrix: kept as a tree and turned into a
 * value when the job becomes ready (README, "Matrix jobs"). Scalars are typed as GitHub types them:
 * plain null, booleans and numbers, strings otherwise; a scalar that is one ${{ }} keeps its value's
 * kind (fromJSON() may give a whole vector). Pure. */

typedef struct WorkflowValue WorkflowValue;

typedef struct WorkflowPos {
        unsigned line, column; /* 1-based */
} WorkflowPos;

struct WorkflowValue {
        ExprKind kind;          /* EXPR_ARRAY, EXPR_OBJECT, or a scalar's kind when it is literal */
        ExprValue *literal;     /* a scalar without ${{ }} */
        ExprTemplate *template; /* a scalar with ${{ }} (kind EXPR_STRING then) */
        char **keys;            /* EXPR_OBJECT: the keys, in file order */
        WorkflowPos *key_pos;
        WorkflowValue **items; /* EXPR_ARRAY items, or EXPR_OBJECT values */
        size_t n;
        bool has_templates; /* here or below */
        WorkflowPos pos;
};

WorkflowValue *workflow_value_free(WorkflowValue *v);
static inline void workflow_value_freep(WorkflowValue **v) {
        if (*v)
                *v = workflow_value_free(*v);
}

/* The value, with the templates evaluated against context (which may be NULL when the tree has none).
 * A template's error comes back as its error; keys that collide case-insensitively give -EEXIST, with
 * ret_at (when given) set to the colliding key's position. */
int workflow_value_evaluate(const WorkflowValue *v, const ExprEvalContext *context, ExprValue **ret,
        ExprError *error, WorkflowPos *ret_at);
