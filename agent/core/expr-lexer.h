/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Tokens of GitHub Actions expressions ("github.ref == 'refs/heads/main' && !cancelled()"). Pure: no
 * system calls, no locale beyond the "C" LC_NUMERIC every program here runs with. */

/* GitHub's limits, so that what passes here also passes there. */
#define EXPR_MAX_LENGTH 21000
#define EXPR_MAX_DEPTH 50

typedef enum ExprTokenType {
        EXPR_TOKEN_LPAREN,
        EXPR_TOKEN_RPAREN,
        EXPR_TOKEN_LBRACKET,
        EXPR_TOKEN_RBRACKET,
        EXPR_TOKEN_COMMA,
        EXPR_TOKEN_DOT,
        EXPR_TOKEN_BANG,
        EXPR_TOKEN_NE,
        EXPR_TOKEN_EQ,
        EXPR_TOKEN_GT,
        EXPR_TOKEN_GE,
        EXPR_TOKEN_LT,
        EXPR_TOKEN_LE,
        EXPR_TOKEN_AND,
        EXPR_TOKEN_OR,
        EXPR_TOKEN_STAR,
        EXPR_TOKEN_NUMBER,
        EXPR_TOKEN_STRING,
        EXPR_TOKEN_IDENTIFIER,
        EXPR_TOKEN_TRUE,
        EXPR_TOKEN_FALSE,
        EXPR_TOKEN_NULL,
        EXPR_TOKEN_EOF,
        _EXPR_TOKEN_MAX,
} ExprTokenType;

typedef struct ExprToken {
        ExprTokenType type;
        size_t offset; /* in the expression text; columns are offset + 1 */
        size_t length;
        double number; /* EXPR_TOKEN_NUMBER */
        char *string;  /* EXPR_TOKEN_STRING: the value, quotes removed and '' unescaped */
} ExprToken;

typedef struct ExprTokens {
        ExprToken *tokens; /* the last one is EXPR_TOKEN_EOF */
        size_t n;
} ExprTokens;

typedef struct ExprError {
        size_t offset;
        char message[256];
} ExprError;

/* Converts text to a number the way GitHub coerces strings (JavaScript's Number()): surrounding
 * white space is ignored, "" is 0, 0x/0o/0b prefixes, [+-]Infinity, decimals with exponents.
 * Returns 0, or -EINVAL where the result would be NaN. */
int expr_parse_number(const char *s, size_t n, double *ret);

/* Splits text (n bytes, may contain NULs only as errors) into tokens. On failure returns -EINVAL
 * (or -E2BIG for an over-long expression, -ENOMEM) and, if error is given, fills it with the
 * offending position and GitHub's wording ("Unexpected symbol: '=!'"). */
int expr_lex(const char *text, size_t n, ExprTokens *ret, ExprError *error);

void expr_tokens_done(ExprTokens *t);

const char *expr_token_type_to_string(ExprTokenType t);
