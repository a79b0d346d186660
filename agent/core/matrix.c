/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "matrix.h"
#include "strbuf.h"

/* Filter comparisons one expansion may make: the product and the filter lists are bounded by the
 * loader's limits, their product is bounded here. */
#define MATRIX_MAX_WORK (1U << 24)

void matrix_expansion_done(MatrixExpansion *m) {
        for (size_t i = 0; i < m->n; i++) {
                expr_value_unref(m->items[i].matrix);
                free(m->items[i].suffix);
        }
        free(m->items);
        *m = (MatrixExpansion){};
}

_printf_(4, 5) static int fail(
        MatrixError *error, MatrixErrorWhere where, size_t index, const char *format, ...) {
        va_list ap;

        if (error) {
                error->where = where;
                error->index = index;
                error->key = NULL;
                va_start(ap, format);
                vsnprintf(error->message, sizeof(error->message), format, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static bool key_is(const ExprPair *p, const char *s) {
        return p->key_len == strlen(s) && memcmp(p->key, s, p->key_len) == 0;
}

/* An include or exclude item: its leaves compared with the combination's values at the same path. */
typedef struct Filter {
        ExprValue *filter; /* object; for includes only the keys that are vectors */
        ExprValue *extra;  /* object of the other keys (includes only) */
        bool matched;
} Filter;

typedef struct Expansion {
        ExprValue *vectors; /* object: name → non-empty array, in file order */
        Filter *excludes, *includes;
        size_t n_excludes, n_includes;
        uint64_t work;
        MatrixExpansion result;
} Expansion;

static void expansion_done(Expansion *e) {
        expr_value_unref(e->vectors);
        for (size_t i = 0; i < e->n_excludes; i++)
                expr_value_unref(e->excludes[i].filter);
        for (size_t i = 0; i < e->n_includes; i++) {
                expr_value_unref(e->includes[i].filter);
                expr_value_unref(e->includes[i].extra);
        }
        free(e->excludes);
        free(e->includes);
        matrix_expansion_done(&e->result);
}

/* GitHub compares each leaf of a filter with ==, so the comparison is the expressions' loose one
 * (strings case-insensitively, numbers with strings after coercion), and a path the combination
 * lacks compares as null. Empty mappings and sequences in a filter constrain nothing. */
static bool filter_matches(Expansion *e, const ExprValue *filter, const ExprValue *value) {
        static const ExprValue null_value = { .n_ref = 1, .kind = EXPR_NULL };

        e->work++;
        switch (filter->kind) {
        case EXPR_OBJECT:
                for (size_t i = 0; i < filter->object.n; i++) {
                        const ExprPair *p = &filter->object.pairs[i];
                        const ExprValue *sub = value && value->kind == EXPR_OBJECT
                                ? expr_object_get(value, p->key, p->key_len)
                                : NULL;
                        if (!filter_matches(e, p->value, sub))
                                return false;
                }
                return true;
        case EXPR_ARRAY:
                for (size_t i = 0; i < filter->array.n; i++) {
                        const ExprValue *sub = value && value->kind == EXPR_ARRAY && i < value->array.n
                                ? value->array.items[i]
                                : NULL;
                        if (!filter_matches(e, filter->array.items[i], sub))
                                return false;
                }
                return true;
        default:
                return expr_value_equals(value ?: &null_value, filter);
        }
}

static int load_excludes(Expansion *e, const ExprValue *list, MatrixError *error) {
        if (list->kind != EXPR_ARRAY)
                return fail(error, MATRIX_ERROR_EXCLUDE, SIZE_MAX, "exclude must be a sequence, not %s",
                        expr_kind_to_string(list->kind));
        e->excludes = calloc(list->array.n + 1, sizeof(Filter));
        if (!e->excludes)
                return -ENOMEM;
        for (size_t i = 0; i < list->array.n; i++) {
                ExprValue *item = list->array.items[i];

                if (item->kind != EXPR_OBJECT)
                        return fail(error, MATRIX_ERROR_EXCLUDE, i,
                                "exclude item %zu must be a mapping, not %s", i + 1,
                                expr_kind_to_string(item->kind));
                if (item->object.n == 0)
                        return fail(error, MATRIX_ERROR_EXCLUDE, i, "exclude item %zu is empty", i + 1);
                for (size_t k = 0; k < item->object.n; k++) {
                        const ExprPair *p = &item->object.pairs[k];

                        if (expr_object_get(e->vectors, p->key, p->key_len))
                                continue;
                        fail(error, MATRIX_ERROR_EXCLUDE, i,
                                "exclude key '%.*s' is not a key of the matrix (item %zu)",
                                (int) MIN(p->key_len, 100U), p->key, i + 1);
                        if (error)
                                error->key = p->key;
                        return -EINVAL;
                }
                e->excludes[e->n_excludes++].filter = expr_value_ref(item);
        }
        return 0;
}

static int load_includes(Expansion *e, const ExprValue *list, MatrixError *error) {
        if (list->kind != EXPR_ARRAY)
                return fail(error, MATRIX_ERROR_INCLUDE, SIZE_MAX, "include must be a sequence, not %s",
                        expr_kind_to_string(list->kind));
        e->includes = calloc(list->array.n + 1, sizeof(Filter));
        if (!e->includes)
                return -ENOMEM;
        for (size_t i = 0; i < list->array.n; i++) {
                const ExprValue *item = list->array.items[i];
                Filter *f = &e->includes[e->n_includes];

                if (item->kind != EXPR_OBJECT)
                        return fail(error, MATRIX_ERROR_INCLUDE, i,
                                "include item %zu must be a mapping, not %s", i + 1,
                                expr_kind_to_string(item->kind));
                if (item->object.n == 0)
                        return fail(error, MATRIX_ERROR_INCLUDE, i, "include item %zu is empty", i + 1);
                f->filter = expr_value_new_object();
                f->extra = expr_value_new_object();
                e->n_includes++;
                if (!f->filter || !f->extra)
                        return -ENOMEM;
                for (size_t k = 0; k < item->object.n; k++) {
                        const ExprPair *p = &item->object.pairs[k];
                        bool vector = expr_object_get(e->vectors, p->key, p->key_len);

                        if (expr_object_set(vector ? f->filter : f->extra, p->key, p->key_len, p->value) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

static int load(Expansion *e, const ExprValue *definition, MatrixError *error) {
        const ExprValue *include = NULL, *exclude = NULL;
        int r;

        if (definition->kind != EXPR_OBJECT)
                return fail(error, MATRIX_ERROR_MATRIX, 0, "the matrix must be a mapping, not %s",
                        expr_kind_to_string(definition->kind));

        e->vectors = expr_value_new_object();
        if (!e->vectors)
                return -ENOMEM;
        for (size_t i = 0; i < definition->object.n; i++) {
                const ExprPair *p = &definition->object.pairs[i];

                if (key_is(p, "include")) {
                        include = p->value;
                        continue;
                }
                if (key_is(p, "exclude")) {
                        exclude = p->value;
                        continue;
                }
                if (p->value->kind != EXPR_ARRAY || p->value->array.n == 0) {
                        fail(error, MATRIX_ERROR_VECTOR, i,
                                p->value->kind == EXPR_ARRAY
                                        ? "matrix vector '%.*s' does not contain any values"
                                        : "matrix vector '%.*s' must be a sequence",
                                (int) MIN(p->key_len, 100U), p->key);
                        if (error)
                                error->key = p->key;
                        return -EINVAL;
                }
                /* keys of a value are unique in any case, so this only fails for memory */
                r = expr_object_add(e->vectors, p->key, p->key_len, p->value);
                if (r < 0)
                        return r;
        }

        if (exclude) {
                r = load_excludes(e, exclude, error);
                if (r < 0)
                        return r;
        }
        if (include) {
                r = load_includes(e, include, error);
                if (r < 0)
                        return r;
        }
        if (e->vectors->object.n == 0 && e->n_includes == 0)
                return fail(error, MATRIX_ERROR_MATRIX, 0,
                        "the matrix must define at least one vector or include");
        return 0;
}

/* The display name's values: every boolean, number and non-empty string, depth first. */
static int append_segments(StrBuf *b, const ExprValue *v) {
        _cleanup_free_ char *s = NULL;
        size_t len;
        int r;

        switch (v->kind) {
        case EXPR_OBJECT:
                for (size_t i = 0; i < v->object.n; i++) {
                        r = append_segments(b, v->object.pairs[i].value);
                        if (r < 0)
                                return r;
                }
                return 0;
        case EXPR_ARRAY:
                for (size_t i = 0; i < v->array.n; i++) {
                        r = append_segments(b, v->array.items[i]);
                        if (r < 0)
                                return r;
                }
                return 0;
        case EXPR_NULL:
                return 0;
        default:
                r = expr_value_to_string(v, &s, &len);
                if (r < 0)
                        return r;
                if (len == 0)
                        return 0;
                /* a NUL from JSON would cut the name short where it is printed */
                len = strnlen(s, len);
                if (b->len > 0) {
                        r = strbuf_puts(b, ", ");
                        if (r < 0)
                                return r;
                }
                return strbuf_put(b, s, len);
        }
}

static int push(Expansion *e, ExprValue *matrix, const ExprValue *named, MatrixError *error) {
        MatrixExpansion *m = &e->result;
        _cleanup_(strbuf_done) StrBuf b = { .max = 64 * 1024 };
        _cleanup_free_ char *suffix = NULL;
        MatrixCombination *p;
        int r;

        if (m->n == MATRIX_MAX_COMBINATIONS)
                return fail(error, MATRIX_ERROR_MATRIX, 0,
                        "the matrix has more than %u combinations (GitHub's limit)",
                        MATRIX_MAX_COMBINATIONS);

        /* the name needs no more than MATRIX_MAX_NAME characters: a bounded buffer keeps it cheap */
        r = append_segments(&b, named);
        if (r < 0 && r != -E2BIG)
                return r;
        r = strbuf_take(&b, &suffix, NULL);
        if (r < 0)
                return r;

        p = reallocarray(m->items, m->n + 1, sizeof(MatrixCombination));
        if (!p)
                return -ENOMEM;
        m->items = p;
        m->items[m->n++] = (MatrixCombination){
                .matrix = expr_value_ref(matrix),
                .suffix = TAKE_PTR(suffix),
        };
        return 0;
}

static int copy_pairs(ExprValue *to, const ExprValue *from) {
        for (size_t i = 0; i < from->object.n; i++) {
                const ExprPair *p = &from->object.pairs[i];
                if (expr_object_set(to, p->key, p->key_len, p->value) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int expand_product(Expansion *e, MatrixError *error) {
        const ExprValue *v = e->vectors;
        size_t product = v->object.n > 0 ? 1 : 0;
        int r;

        for (size_t i = 0; i < v->object.n; i++) {
                size_t n = v->object.pairs[i].value->array.n;
                if (n > MATRIX_MAX_PRODUCT || product * n > MATRIX_MAX_PRODUCT)
                        return fail(error, MATRIX_ERROR_MATRIX, 0,
                                "the matrix's cross product has more than %u combinations",
                                MATRIX_MAX_PRODUCT);
                product *= n;
        }

        for (size_t index = 0; index < product; index++) {
                _cleanup_(expr_value_unrefp) ExprValue *original = expr_value_new_object();
                _cleanup_(expr_value_unrefp) ExprValue *matrix = NULL;
                size_t block = product;
                bool excluded = false;

                if (!original)
                        return -ENOMEM;
                /* the first vector varies slowest */
                for (size_t i = 0; i < v->object.n; i++) {
                        const ExprPair *p = &v->object.pairs[i];
                        block /= p->value->array.n;
                        if (expr_object_set(original, p->key, p->key_len,
                                    p->value->array.items[(index / block) % p->value->array.n]) < 0)
                                return -ENOMEM;
                }

                for (size_t i = 0; i < e->n_excludes && !excluded; i++)
                        excluded = filter_matches(e, e->excludes[i].filter, original);
                if (e->work > MATRIX_MAX_WORK)
                        return fail(error, MATRIX_ERROR_MATRIX, 0,
                                "the matrix and its filters are too large to expand");
                if (excluded)
                        continue;

                /* every include that matches adds its extras, a later one overwriting an earlier one's;
                 * the original values are never overwritten, as an extra is never a vector's key */
                matrix = expr_value_new_object();
                if (!matrix || copy_pairs(matrix, original) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < e->n_includes; i++) {
                        Filter *f = &e->includes[i];
                        if (!filter_matches(e, f->filter, original))
                                continue;
                        f->matched = true;
                        if (copy_pairs(matrix, f->extra) < 0)
                                return -ENOMEM;
                }
                if (e->work > MATRIX_MAX_WORK)
                        return fail(error, MATRIX_ERROR_MATRIX, 0,
                                "the matrix and its filters are too large to expand");

                r = push(e, matrix, original, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int matrix_expand(const ExprValue *definition, MatrixExpansion *ret, MatrixError *error) {
        _cleanup_(expansion_done) Expansion e = {};
        int r;

        r = load(&e, definition, error);
        if (r < 0)
                return r;
        r = expand_product(&e, error);
        if (r < 0)
                return r;

        /* an include that matched no combination is a combination of its own: its vector keys first,
         * then its other keys, each in the order written */
        for (size_t i = 0; i < e.n_includes; i++) {
                _cleanup_(expr_value_unrefp) ExprValue *matrix = NULL;

                if (e.includes[i].matched)
                        continue;
                matrix = expr_value_new_object();
                if (!matrix || copy_pairs(matrix, e.includes[i].filter) < 0 ||
                        copy_pairs(matrix, e.includes[i].extra) < 0)
                        return -ENOMEM;
                r = push(&e, matrix, matrix, error);
                if (r < 0)
                        return r;
        }

        *ret = e.result;
        e.result = (MatrixExpansion){};
        return 0;
}

int matrix_display_name(const char *name, const char *suffix, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t chars = 0, i;

        if (suffix && *suffix) {
                if (asprintf(&s, "%s (%s)", name, suffix) < 0)
                        return -ENOMEM;
        } else if (!(s = strdup(name)))
                return -ENOMEM;

        /* count characters as UTF-8 lead bytes; cut before the first one past the limit */
        for (i = 0; s[i]; i++)
                if (((unsigned char) s[i] & 0xC0) != 0x80 && ++chars > MATRIX_MAX_NAME)
                        break;
        s[i] = '\0';
        *ret = TAKE_PTR(s);
        return 0;
}
