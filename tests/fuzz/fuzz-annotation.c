/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A step's annotations file as runner-step writes it, and as anything in the step's cgroup could
 * have made it: what is accepted stays within GitHub's limits and survives the round trip through the
 * status JSON (which run-state.json keeps). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "annotation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int streq_null(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Annotation *a = NULL;
        size_t n = 0;
        unsigned counts[_ANNOTATION_LEVEL_MAX] = {};

        if (size > ANNOTATIONS_FILE_MAX)
                return 0;
        if (annotations_parse((const char *) data, size, &a, &n) < 0)
                abort();
        for (size_t i = 0; i < n; i++) {
                json_object *o = annotation_to_json(&a[i]);
                Annotation b;

                if (++counts[a[i].level] > ANNOTATIONS_PER_LEVEL || !a[i].message)
                        __builtin_trap();
                if (!o || annotation_from_json(o, &b) < 0)
                        __builtin_trap();
                if (b.level != a[i].level || !streq_null(b.message, a[i].message) ||
                        !streq_null(b.file, a[i].file) || !streq_null(b.title, a[i].title) ||
                        b.line != a[i].line || b.end_line != a[i].end_line || b.col != a[i].col ||
                        b.end_column != a[i].end_column)
                        __builtin_trap();
                free(b.message);
                free(b.file);
                free(b.title);
                json_object_put(o);
        }
        annotations_free(a, n);
        return 0;
}
