/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "annotation.h"
#include "macro.h"

static const char *const level_names[_ANNOTATION_LEVEL_MAX] = {
        [ANNOTATION_ERROR] = "error",
        [ANNOTATION_WARNING] = "warning",
        [ANNOTATION_NOTICE] = "notice",
};

static const char *const number_keys[] = { "line", "endLine", "col", "endColumn" };

const char *annotation_level_to_string(AnnotationLevel l) {
        return l >= 0 && l < _ANNOTATION_LEVEL_MAX ? level_names[l] : NULL;
}

static void annotation_done(Annotation *a) {
        free(a->message);
        free(a->file);
        free(a->title);
}

void annotations_free(Annotation *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                annotation_done(&a[i]);
        free(a);
}

static int text(json_object *v, bool nullable, char **ret) {
        size_t len;

        if (!v && nullable) {
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        len = (size_t) json_object_get_string_len(v);
        if (len > ANNOTATION_TEXT_MAX || memchr(json_object_get_string(v), '\0', len))
                return -EBADMSG;
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

int annotation_from_json(json_object *o, Annotation *ret) {
        Annotation a = {};
        int *numbers[] = { &a.line, &a.end_line, &a.col, &a.end_column };
        bool level = false;
        int r = 0;

        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        json_object_object_foreach(o, key, v) {
                size_t i;

                if (r < 0)
                        break;
                if (streq(key, "level")) {
                        r = -EBADMSG;
                        for (i = 0; i < _ANNOTATION_LEVEL_MAX; i++)
                                if (json_object_is_type(v, json_type_string) &&
                                        streq(json_object_get_string(v), level_names[i])) {
                                        a.level = (AnnotationLevel) i;
                                        level = true;
                                        r = 0;
                                }
                        continue;
                }
                if (streq(key, "message")) {
                        free(a.message);
                        r = text(v, false, &a.message);
                        continue;
                }
                if (streq(key, "file") || streq(key, "title")) {
                        char **where = streq(key, "file") ? &a.file : &a.title;
                        free(*where);
                        r = text(v, true, where);
                        continue;
                }
                for (i = 0; i < ELEMENTSOF(number_keys); i++)
                        if (streq(key, number_keys[i]))
                                break;
                if (i == ELEMENTSOF(number_keys)) {
                        r = -EBADMSG; /* an unknown key */
                        continue;
                }
                if (!v)
                        *numbers[i] = 0;
                else if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
                        json_object_get_int64(v) > 0x7fffffff)
                        r = -EBADMSG;
                else
                        *numbers[i] = (int) json_object_get_int64(v);
        }
        if (r >= 0 && (!level || !a.message))
                r = -EBADMSG;
        if (r < 0) {
                annotation_done(&a);
                return r;
        }
        *ret = a;
        return 0;
}

static json_object *string_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

json_object *annotation_to_json(const Annotation *a) {
        json_object *o = json_object_new_object();
        const int numbers[] = { a->line, a->end_line, a->col, a->end_column };

        if (!o)
                return NULL;
        if (json_object_object_add(o, "level", json_object_new_string(level_names[a->level])) < 0 ||
                json_object_object_add(o, "message", json_object_new_string(a->message)) < 0 ||
                json_object_object_add(o, "file", string_or_null(a->file)) < 0)
                goto fail;
        for (size_t i = 0; i < ELEMENTSOF(number_keys); i++)
                if (json_object_object_add(
                            o, number_keys[i], numbers[i] > 0 ? json_object_new_int(numbers[i]) : NULL) < 0)
                        goto fail;
        if (json_object_object_add(o, "title", string_or_null(a->title)) < 0)
                goto fail;
        return o;
fail:
        json_object_put(o);
        return NULL;
}

int annotations_parse(const char *data, size_t len, Annotation **a, size_t *n) {
        unsigned counts[_ANNOTATION_LEVEL_MAX] = {};

        for (size_t i = 0; i < *n; i++)
                counts[(*a)[i].level]++;
        for (size_t p = 0; p < len;) {
                const char *nl = memchr(data + p, '\n', len - p);
                _cleanup_free_ char *line = NULL;
                json_object *o;
                Annotation x;
                int r;

                if (!nl)
                        break; /* not written whole */
                line = strndup(data + p, (size_t) (nl - data) - p);
                p = (size_t) (nl - data) + 1;
                if (!line)
                        return -ENOMEM;
                o = json_tokener_parse(line);
                r = o ? annotation_from_json(o, &x) : -EBADMSG;
                json_object_put(o);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || counts[x.level] >= ANNOTATIONS_PER_LEVEL) {
                        if (r >= 0)
                                annotation_done(&x);
                        continue;
                }
                {
                        Annotation *na = realloc(*a, (*n + 1) * sizeof(Annotation));
                        if (!na) {
                                annotation_done(&x);
                                return -ENOMEM;
                        }
                        *a = na;
                }
                (*a)[(*n)++] = x;
                counts[x.level]++;
        }
        return 0;
}
