/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The machinery the workflow loader (workflow.c) and the action loader (action.c) share: the YAML
 * document as a tree of nodes, the Loader that walks it with a budget and collects errors at
 * line:column, the checks of keys and values, and the step loader (a composite action's steps are
 * a job's steps with GitHub's few differences). Internal to agent/core. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "macro.h"
#include "workflow.h"

/* The YAML document as a tree. Aliases point at the anchored node, so a node may have several
 * parents; all nodes are owned by the document. */
typedef enum YType {
        Y_SCALAR,
        Y_SEQUENCE,
        Y_MAPPING,
} YType;

typedef struct YNode YNode;
struct YNode {
        YType type;
        WorkflowPos pos;
        unsigned end_line;
        yaml_scalar_style_t style;
        bool tagged_string; /* !!str */
        char *value;
        size_t len;
        YNode **items; /* sequence items, or mapping keys and values alternating */
        size_t n, allocated;
};

typedef struct Anchor {
        char *name;
        YNode *node;
} Anchor;

typedef struct Loader {
        const char *text;
        size_t len;
        const char *document; /* what the file is, in messages: "a workflow file" */

        YNode **nodes;
        size_t n_nodes, allocated_nodes;
        Anchor *anchors;
        size_t n_anchors, allocated_anchors;
        YNode *root;

        WorkflowErrors errors;
        unsigned visited;
        bool oom;
} Loader;

_printf_(3, 4) void loader_error_at(Loader *l, WorkflowPos pos, const char *fmt, ...);

/* Checks the size and the bytes of the text and builds the tree. Returns 0, -EINVAL after reporting,
 * or -ENOMEM. */
int loader_begin(Loader *l, const char *text, size_t len);
/* Turns r (0 after loading) into the result: -EINVAL when anything was reported, -ENOMEM when memory
 * ran out; hands the errors, sorted by position, to errors (when given) and frees the tree. */
int loader_finish(Loader *l, int r, WorkflowErrors *errors);
int loader_compare_errors(const void *a, const void *b);

/* Counts a node visit; aliases make a small file a huge tree, so the walk has a budget. */
bool loader_visit(Loader *l, const YNode *n);
bool loader_expect(Loader *l, const YNode *n, YType type, const char *what);
WorkflowPos loader_scalar_pos(Loader *l, const YNode *n, size_t offset);

bool ynode_is_plain(const YNode *n);
bool ynode_is_null(const YNode *n);
bool ynode_as_boolean(const YNode *n, bool *ret);
bool ynode_as_number(const YNode *n, double *ret);
const char *ynode_type_name(const YNode *n);
const YNode *ynode_map_get(const YNode *map, const char *key);
const YNode *ynode_map_key(const YNode *map, const char *key);

typedef struct KeySet {
        const char *const *allowed;
        const char *const *unsupported; /* GitHub keys runner-agent does not implement */
        const char *what;
} KeySet;

typedef struct KeyRef {
        const char *key;
        size_t index;
} KeyRef;

bool loader_in_list(const char *const *list, const char *s);
/* Reports keys that are not strings, duplicated, unsupported or unknown. */
int loader_check_keys(Loader *l, const YNode *map, const KeySet *set);

/* Values into the model; each reports what is wrong and returns < 0 only for memory. */
int loader_set_string(
        Loader *l, const YNode *n, const ExprParseOptions *opts, const char *what, WorkflowString *ret);
int loader_set_condition(Loader *l, const YNode *n, const ExprParseOptions *opts, WorkflowCondition *ret);
int loader_set_vars(Loader *l, const YNode *n, const ExprParseOptions *opts, const char *what, bool outputs,
        WorkflowVars *ret);
void loader_set_boolean(Loader *l, const YNode *n, const char *what, bool *ret);
void loader_set_timeout(Loader *l, const YNode *n, uint64_t *ret);
void loader_set_limits(Loader *l, const YNode *map, uint64_t *ret_timeout, bool *ret_continue);

bool loader_valid_id(const char *s);
void loader_id_error(Loader *l, const YNode *n, const char *what);

typedef struct RunDefaults {
        const char *shell; /* a resolved command line */
        const char *shell_name;
        const char *working_directory;
        const YNode *working_directory_node;
} RunDefaults;

/* Resolves a shell name or custom command line; NULL (after reporting) if invalid. */
const char *loader_resolve_shell(Loader *l, const YNode *n, const char **ret_name);

/* Where a step is: a job's, or a composite action's, where GitHub wants a shell on every run: step
 * and has no timeout-minutes; and what its expressions may use there (a composite action's steps see
 * no secrets). */
typedef struct StepPlace {
        const RunDefaults *defaults; /* a job's; NULL in a composite action */
        bool composite;
        const ExprParseOptions *expr, *expr_if; /* for the step's strings, for its if: */
} StepPlace;

int loader_load_step(Loader *l, const YNode *n, const StepPlace *place, WorkflowStep *s);
/* Reports duplicate ids among steps (what: "job 'build'", "the action") and gives the steps without
 * one GitHub's generated ids. */
int loader_step_ids(Loader *l, const YNode *steps_node, WorkflowStep *steps, size_t n, const char *what);

void workflow_vars_done(WorkflowVars *v);
void workflow_string_done(WorkflowString *s);
void workflow_condition_done(WorkflowCondition *c);
void workflow_step_done(WorkflowStep *s);
