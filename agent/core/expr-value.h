/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The values GitHub expressions compute with: null, booleans, numbers (doubles), strings, arrays and
 * objects whose keys compare case-insensitively. Reference-counted and immutable once shared; pure. */

/* The largest string or JSON text an expression may produce; GitHub stops runaway format() and
 * toJSON() results too. */
#define EXPR_VALUE_MAX_SIZE (1024U * 1024U)
/* Nesting of arrays and objects accepted from JSON. */
#define EXPR_VALUE_MAX_DEPTH 64

typedef enum ExprKind {
        EXPR_NULL,
        EXPR_BOOLEAN,
        EXPR_NUMBER,
        EXPR_STRING,
        EXPR_ARRAY,
        EXPR_OBJECT,
        _EXPR_KIND_MAX,
} ExprKind;

typedef struct ExprValue ExprValue;

typedef struct ExprPair {
        char *key;
        size_t key_len;
        ExprValue *value;
} ExprPair;

struct ExprValue {
        unsigned n_ref;
        ExprKind kind;
        bool filtered; /* an array made by a '*' filter: further access maps over its items */
        union {
                bool boolean;
                double number;
                struct {
                        char *s; /* NUL-terminated, but may contain NULs from JSON */
                        size_t len;
                } string;
                struct {
                        ExprValue **items;
                        size_t n, allocated;
                } array;
                struct {
                        ExprPair *pairs; /* in insertion order */
                        size_t n, allocated;
                } object;
        };
};

ExprValue *expr_value_ref(ExprValue *v);
ExprValue *expr_value_unref(ExprValue *v);
static inline void expr_value_unrefp(ExprValue **v) {
        if (*v)
                *v = expr_value_unref(*v);
}

/* Constructors return NULL only on allocation failure. */
ExprValue *expr_value_new_null(void);
ExprValue *expr_value_new_boolean(bool b);
ExprValue *expr_value_new_number(double d);
ExprValue *expr_value_new_string(const char *s, size_t len);
ExprValue *expr_value_new_stringz(const char *s);
ExprValue *expr_value_new_array(void);
ExprValue *expr_value_new_object(void);

/* Appends v (a new reference is taken) to an array. */
int expr_array_append(ExprValue *array, ExprValue *v);
/* Sets key to v (a new reference is taken), replacing a value under the same key in any case. */
int expr_object_set(ExprValue *object, const char *key, size_t key_len, ExprValue *v);
/* Adds key unless it exists in any case (the first one wins, as in GitHub's dictionaries): returns
 * 0 if added, -EEXIST if not. */
int expr_object_add(ExprValue *object, const char *key, size_t key_len, ExprValue *v);
/* Case-insensitive lookup; a borrowed pointer, or NULL. */
ExprValue *expr_object_get(const ExprValue *object, const char *key, size_t key_len);
static inline ExprValue *expr_object_getz(const ExprValue *object, const char *key) {
        return expr_object_get(object, key, __builtin_strlen(key));
}

bool expr_value_is_primitive(const ExprValue *v);
bool expr_value_truthy(const ExprValue *v);
/* GitHub's number coercion: null 0, false 0, true 1, strings as Number(), arrays/objects NaN. */
double expr_value_to_number(const ExprValue *v);
/* GitHub's string coercion: null "", "true"/"false", numbers with at most 15 decimals, "Array",
 * "Object". */
int expr_value_to_string(const ExprValue *v, char **ret, size_t *ret_len);

/* The loose comparisons: equality and ordering after coercion, strings case-insensitive, NaN never
 * equal or ordered, arrays and objects equal only to themselves. */
bool expr_value_equals(const ExprValue *a, const ExprValue *b);
bool expr_value_greater(const ExprValue *a, const ExprValue *b);
bool expr_value_less(const ExprValue *a, const ExprValue *b);

/* Case-insensitive comparison of UTF-8 text with simple Unicode case mapping (Latin, Greek,
 * Cyrillic, Armenian, full-width forms), keeping dotless ı apart as GitHub does. */
int expr_string_compare_ci(const char *a, size_t alen, const char *b, size_t blen);
/* Upper-cases UTF-8 text with the same mapping; the result is newly allocated. */
int expr_string_upper(const char *s, size_t len, char **ret, size_t *ret_len);

/* Formats a number as JavaScript's Number.prototype.toString() does. buf needs 32 bytes. */
void expr_number_format_js(double d, char buf[static 32]);
/* Formats a number as GitHub coerces numbers to strings (at most 15 decimals). */
void expr_number_format(double d, char buf[static 32]);

/* JSON text as toJSON() gives it: pretty with two-space indentation when pretty is set, compact
 * otherwise. -E2BIG beyond EXPR_VALUE_MAX_SIZE. */
int expr_value_to_json(const ExprValue *v, bool pretty, char **ret, size_t *ret_len);
/* Parses JSON text. On -EINVAL, error (if given, size 256) says why. */
int expr_value_from_json(const char *text, size_t len, ExprValue **ret, char *error, size_t error_size);

const char *expr_kind_to_string(ExprKind k);
