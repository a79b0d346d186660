/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

#include "expr-value.h"

/* Matrix jobs: strategy.matrix expanded into its combinations exactly as GitHub does (see the README,
 * "Matrix jobs"). The definition is a value, so a matrix written in YAML and one computed by
 * fromJSON() expand alike. Pure. */

/* GitHub's limit of combinations per matrix. */
#define MATRIX_MAX_COMBINATIONS 256U
/* The cross product before exclude is bounded too, so an input cannot make the expansion slow. */
#define MATRIX_MAX_PRODUCT 65536U
/* Characters of a matrix job's display name. */
#define MATRIX_MAX_NAME 100U

/* What an error is about, so that a loader can point at the YAML that caused it. */
typedef enum MatrixErrorWhere {
        MATRIX_ERROR_MATRIX,  /* the definition as a whole */
        MATRIX_ERROR_VECTOR,  /* the vector named key */
        MATRIX_ERROR_INCLUDE, /* include item index (key: the list itself when index is SIZE_MAX) */
        MATRIX_ERROR_EXCLUDE, /* exclude item index; key set when a key in it is wrong */
} MatrixErrorWhere;

typedef struct MatrixError {
        MatrixErrorWhere where;
        size_t index;
        const char *key; /* borrowed from the definition; NULL when the error is not about a key */
        char message[256];
} MatrixError;

typedef struct MatrixCombination {
        ExprValue *matrix; /* an object: the matrix context of this job */
        /* The scalar values that make the display name, joined by ", ": those of the cross product
         * (include extras left out) or, for an appended include, all of its values. May be "". */
        char *suffix;
} MatrixCombination;

typedef struct MatrixExpansion {
        MatrixCombination *items; /* the cross product in order, the first vector varying slowest, then
                                   * the appended includes in their order */
        size_t n;
} MatrixExpansion;

void matrix_expansion_done(MatrixExpansion *m);

/* Expands definition, an object of vectors (non-empty arrays) and the optional "include" and "exclude"
 * arrays of objects. Returns 0, -EINVAL with error filled in, or -ENOMEM. */
int matrix_expand(const ExprValue *definition, MatrixExpansion *ret, MatrixError *error);

/* "NAME (SUFFIX)", or NAME when suffix is empty, cut after MATRIX_MAX_NAME characters (never inside a
 * UTF-8 sequence). */
int matrix_display_name(const char *name, const char *suffix, char **ret);
