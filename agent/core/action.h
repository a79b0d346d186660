/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "expr.h"
#include "workflow.h"

/* Action metadata files (action.yml, action.yaml): the JavaScript and composite actions a step may
 * use (README, "Actions"), loaded from YAML text into a typed model with the workflow loader's
 * rigour and limits. Pure: the caller reads the file. */

#define ACTION_MAX_INPUTS 1000U
#define ACTION_MAX_OUTPUTS 1000U

typedef enum ActionUsing {
        ACTION_USING_NODE16,
        ACTION_USING_NODE20,
        ACTION_USING_NODE24,
        ACTION_USING_COMPOSITE,
} ActionUsing;

typedef struct ActionInput {
        char *name;                   /* as written; GitHub compares input names ignoring case */
        WorkflowString default_value; /* raw NULL: no default; may hold ${{ }} */
        bool required;
        char *deprecation_message; /* NULL: none */
        WorkflowPos pos;
} ActionInput;

typedef struct ActionOutput {
        char *name;
        WorkflowString
                value; /* composite actions: the value expression (required there); JavaScript: raw NULL */
        WorkflowPos pos;
} ActionOutput;

typedef struct Action {
        char *name;        /* required */
        char *description; /* NULL: none */
        ActionInput *inputs;
        size_t n_inputs;
        ActionOutput *outputs;
        size_t n_outputs;
        ActionUsing using;
        /* JavaScript: files relative to the action's directory; main required; pre and post NULL when
         * absent */
        char *main, *pre, *post;
        /* JavaScript: raw NULL when absent, and then always(), GitHub's default (not the implicit
         * success() of a step's if:); a condition given gets the implicit success() like any if: */
        WorkflowCondition pre_if, post_if;
        WorkflowStep *steps; /* composite, numbered 1…n in file order, with generated ids */
        size_t n_steps;
} Action;

/* Loads an action's metadata. Returns 0, or -EINVAL with every problem found in errors (when given),
 * or -ENOMEM. */
int action_load(const char *text, size_t len, Action **ret, WorkflowErrors *errors);

Action *action_free(Action *a);
static inline void action_freep(Action **a) {
        if (*a)
                *a = action_free(*a);
}

const char *action_using_to_string(ActionUsing u);

/* The parse options for each place of an action's metadata an expression may appear, following
 * GitHub's context availability table: a composite action's steps see inputs but no secrets. */
extern const ExprParseOptions action_expr_input_default;
extern const ExprParseOptions action_expr_output;
extern const ExprParseOptions action_expr_step;
extern const ExprParseOptions action_expr_step_if;
extern const ExprParseOptions action_expr_hook_if; /* runs.pre-if, runs.post-if */
