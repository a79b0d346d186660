/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* PROVISIONAL: replaced by the action.yml loader's header. */
#include "workflow.h"

typedef enum ActionUsing {
        ACTION_USING_NODE16,
        ACTION_USING_NODE20,
        ACTION_USING_NODE24,
        ACTION_USING_COMPOSITE
} ActionUsing;
typedef struct ActionInput {
        char *name;
        WorkflowString default_value;
        bool required;
        char *deprecation_message;
        WorkflowPos pos;
} ActionInput;
typedef struct ActionOutput {
        char *name;
        WorkflowString value;
        WorkflowPos pos;
} ActionOutput;
typedef struct Action {
        char *name;
        char *description;
        ActionInput *inputs;
        size_t n_inputs;
        ActionOutput *outputs;
        size_t n_outputs;
        ActionUsing using;
        char *main, *pre, *post;
        WorkflowCondition pre_if, post_if;
        WorkflowStep *steps;
        size_t n_steps;
} Action;
int action_load(const char *text, size_t len, Action **ret, WorkflowErrors *errors);
Action *action_free(Action *a);
static inline void action_freep(Action **a) {
        if (*a)
                *a = action_free(*a);
}
