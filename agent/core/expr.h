/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "expr-lexer.h"
#include "expr-value.h"

/* GitHub Actions expressions: parsing into a tree, evaluation against contexts, `if:` conditions
 * with the implicit success() and `${{ }}` templates. Pure: the status functions and hashFiles()
 * reach the outside world only through the callbacks in ExprEvalContext. */

typedef enum ExprFunction {
        EXPR_FUNCTION_CONTAINS,
        EXPR_FUNCTION_STARTS_WITH,
        EXPR_FUNCTION_ENDS_WITH,
        EXPR_FUNCTION_FORMAT,
        EXPR_FUNCTION_JOIN,
        EXPR_FUNCTION_TO_JSON,
        EXPR_FUNCTION_FROM_JSON,
        EXPR_FUNCTION_HASH_FILES,
        EXPR_FUNCTION_SUCCESS,
        EXPR_FUNCTION_ALWAYS,
        EXPR_FUNCTION_CANCELLED,
        EXPR_FUNCTION_FAILURE,
        _EXPR_FUNCTION_MAX,
} ExprFunction;

typedef enum ExprNodeType {
        EXPR_NODE_LITERAL,
        EXPR_NODE_CONTEXT, /* a named value: github, env, steps, … */
        EXPR_NODE_INDEX,   /* children[0][children[1]], or children[0].* when star */
        EXPR_NODE_NOT,
        EXPR_NODE_COMPARE, /* op is one of the comparison tokens */
        EXPR_NODE_AND,     /* n-ary, returns the deciding operand */
        EXPR_NODE_OR,
        EXPR_NODE_CALL,
        _EXPR_NODE_TYPE_MAX,
} ExprNodeType;

typedef struct ExprNode ExprNode;
struct ExprNode {
        ExprNodeType type;
        size_t offset; /* of the token that made the node, in the text parsed */
        ExprValue *literal;
        char *name;
        ExprTokenType op;
        ExprFunction function;
        bool star;
        ExprNode **children;
        size_t n_children;
};

/* Where an expression appears decides what it may use, as in GitHub's context availability table. */
typedef enum ExprAllow {
        EXPR_ALLOW_STATUS = 1 << 0,     /* success(), always(), cancelled(), failure() */
        EXPR_ALLOW_HASH_FILES = 1 << 1, /* hashFiles() */
} ExprAllow;

typedef struct ExprParseOptions {
        const char *const *contexts; /* NULL-terminated allowed named values; NULL allows all known ones */
        ExprAllow allow;
} ExprParseOptions;

extern const char *const expr_known_contexts[];

int expr_parse(
        const char *text, size_t n, const ExprParseOptions *options, ExprNode **ret, ExprError *error);
ExprNode *expr_node_free(ExprNode *node);
static inline void expr_node_freep(ExprNode **n) {
        if (*n)
                *n = expr_node_free(*n);
}

/* Whether the tree calls any of the status functions. */
bool expr_node_uses_status(const ExprNode *node);

typedef enum ExprStatus {
        EXPR_STATUS_SUCCESS,
        EXPR_STATUS_ALWAYS,
        EXPR_STATUS_CANCELLED,
        EXPR_STATUS_FAILURE,
        _EXPR_STATUS_MAX,
} ExprStatus;

typedef struct ExprEvalContext {
        const ExprValue *contexts; /* object: named value → value; missing names are null */
        /* Returns > 0 for true, 0 for false, < 0 for an error. */
        int (*status)(ExprStatus which, void *userdata);
        /* Returns 0 with a newly allocated hash, or < 0 and (optionally) a message in error. */
        int (*hash_files)(const char *const *patterns, size_t n, char **ret, char *error, size_t error_size,
                void *userdata);
        void *userdata;
} ExprEvalContext;

int expr_evaluate(const ExprNode *node, const ExprEvalContext *context, ExprValue **ret, ExprError *error);

/* `if:` conditions. The text may be wrapped in ${{ }}; a text that mixes ${{ }} with other text is a
 * string template, as on GitHub. Without a status function the condition becomes
 * success() && (condition); empty text is success(). */
int expr_parse_condition(
        const char *text, size_t n, const ExprParseOptions *options, ExprNode **ret, ExprError *error);
int expr_evaluate_condition(
        const ExprNode *node, const ExprEvalContext *context, bool *ret, ExprError *error);

/* `${{ }}` templates in strings (run:, env:, name:, …). A template is kept as one format() call, or
 * as the expression itself when the whole text is a single ${{ }}. Offsets in errors are into the
 * template text. */
typedef struct ExprTemplate {
        ExprNode *node; /* NULL when the text has no ${{ }} */
        char *text;     /* the literal text in that case */
        size_t text_len;
        bool single; /* the whole text is one ${{ }}: its value keeps its kind */
} ExprTemplate;

int expr_template_parse(
        const char *text, size_t n, const ExprParseOptions *options, ExprTemplate **ret, ExprError *error);
ExprTemplate *expr_template_free(ExprTemplate *t);
static inline void expr_template_freep(ExprTemplate **t) {
        if (*t)
                *t = expr_template_free(*t);
}
/* The value of a template: a string, or for a single ${{ }} the expression's own value. */
int expr_template_evaluate(
        const ExprTemplate *t, const ExprEvalContext *context, ExprValue **ret, ExprError *error);
int expr_template_evaluate_string(const ExprTemplate *t, const ExprEvalContext *context, char **ret,
        size_t *ret_len, ExprError *error);

const char *expr_function_to_string(ExprFunction f);
const char *expr_status_to_string(ExprStatus s);
