/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

#include <json-c/json.h>

/* A step's annotations (::error::, ::warning::, ::notice::; README, "Workflow commands"): what
 * runner-step wrote to logs/j<J>-s<S>.annotations, one JSON object a line, read back strictly and
 * within GitHub's limits (10 of each level per step). */

#define ANNOTATIONS_FILE_MAX (1024U * 1024U)
#define ANNOTATIONS_PER_LEVEL 10U
#define ANNOTATION_TEXT_MAX (64U * 1024U) /* message, title and file */

typedef enum AnnotationLevel {
        ANNOTATION_ERROR,
        ANNOTATION_WARNING,
        ANNOTATION_NOTICE,
        _ANNOTATION_LEVEL_MAX,
} AnnotationLevel;

typedef struct Annotation {
        AnnotationLevel level;
        char *message;
        char *file, *title;                  /* NULL: not given */
        int line, end_line, col, end_column; /* 0: not given */
} Annotation;

const char *annotation_level_to_string(AnnotationLevel l);
void annotations_free(Annotation *a, size_t n);
/* One object as annotation_to_json() writes it (as runner-step writes it, keys in any order, absent
 * ones not given). -EBADMSG for anything else, -ENOMEM. */
int annotation_from_json(json_object *o, Annotation *ret);
/* {level, message, file, line, endLine, col, endColumn, title}: every key, null where not given. */
json_object *annotation_to_json(const Annotation *a);
/* The file's lines: invalid lines and those beyond the limits are left out; a last line without a
 * newline is ignored (runner-step writes whole lines). Appends to *a, *n. -ENOMEM. */
int annotations_parse(const char *text, size_t len, Annotation **a, size_t *n);
