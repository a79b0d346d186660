/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>

#include "alloc-util.h"
#include "expr-lexer.h"
#include "expr-value.h"
#include "macro.h"
#include "strbuf.h"

static ExprValue *value_new(ExprKind kind) {
        ExprValue *v = calloc(1, sizeof(ExprValue));
        if (!v)
                return NULL;
        v->n_ref = 1;
        v->kind = kind;
        return v;
}

ExprValue *expr_value_ref(ExprValue *v) {
        if (v)
                v->n_ref++;
        return v;
}

ExprValue *expr_value_unref(ExprValue *v) {
        if (!v || --v->n_ref > 0)
                return NULL;

        switch (v->kind) {
        case EXPR_STRING:
                free(v->string.s);
                break;
        case EXPR_ARRAY:
                for (size_t i = 0; i < v->array.n; i++)
                        expr_value_unref(v->array.items[i]);
                free(v->array.items);
                break;
        case EXPR_OBJECT:
                for (size_t i = 0; i < v->object.n; i++) {
                        free(v->object.pairs[i].key);
                        expr_value_unref(v->object.pairs[i].value);
                }
                free(v->object.pairs);
                break;
        default:
                break;
        }
        free(v);
        return NULL;
}

ExprValue *expr_value_new_null(void) {
        return value_new(EXPR_NULL);
}

ExprValue *expr_value_new_boolean(bool b) {
        ExprValue *v = value_new(EXPR_BOOLEAN);
        if (v)
                v->boolean = b;
        return v;
}

ExprValue *expr_value_new_number(double d) {
        ExprValue *v = value_new(EXPR_NUMBER);
        if (v)
                v->number = d;
        return v;
}

static char *memdupz(const char *s, size_t len) {
        char *p = malloc(len + 1);
        if (!p)
                return NULL;
        if (len > 0)
                memcpy(p, s, len);
        p[len] = '\0';
        return p;
}

ExprValue *expr_value_new_string(const char *s, size_t len) {
        ExprValue *v = value_new(EXPR_STRING);
        if (!v)
                return NULL;
        v->string.s = memdupz(s, len);
        if (!v->string.s)
                return expr_value_unref(v);
        v->string.len = len;
        return v;
}

ExprValue *expr_value_new_stringz(const char *s) {
        return expr_value_new_string(s, strlen(s));
}

ExprValue *expr_value_new_array(void) {
        return value_new(EXPR_ARRAY);
}

ExprValue *expr_value_new_object(void) {
        return value_new(EXPR_OBJECT);
}

int expr_array_append(ExprValue *array, ExprValue *v) {
        int r;

        if (array->kind != EXPR_ARRAY)
                return -EINVAL;
        r = array_grow(
                (void **) &array->array.items, &array->array.allocated, array->array.n, sizeof(ExprValue *));
        if (r < 0)
                return r;
        array->array.items[array->array.n++] = expr_value_ref(v);
        return 0;
}

static ExprPair *object_find(const ExprValue *object, const char *key, size_t key_len) {
        for (size_t i = 0; i < object->object.n; i++) {
                ExprPair *p = &object->object.pairs[i];
                if (expr_string_compare_ci(p->key, p->key_len, key, key_len) == 0)
                        return p;
        }
        return NULL;
}

static int object_insert(ExprValue *object, const char *key, size_t key_len, ExprValue *v, bool replace) {
        ExprPair *p;
        char *k;
        int r;

        if (object->kind != EXPR_OBJECT)
                return -EINVAL;

        p = object_find(object, key, key_len);
        if (p) {
                if (!replace)
                        return -EEXIST;
                expr_value_unref(p->value);
                p->value = expr_value_ref(v);
                return 0;
        }

        r = array_grow((void **) &object->object.pairs, &object->object.allocated, object->object.n,
                sizeof(ExprPair));
        if (r < 0)
                return r;
        k = memdupz(key, key_len);
        if (!k)
                return -ENOMEM;
        object->object.pairs[object->object.n++] = (ExprPair){
                .key = k,
                .key_len = key_len,
                .value = expr_value_ref(v),
        };
        return 0;
}

int expr_object_set(ExprValue *object, const char *key, size_t key_len, ExprValue *v) {
        return object_insert(object, key, key_len, v, true);
}

int expr_object_add(ExprValue *object, const char *key, size_t key_len, ExprValue *v) {
        return object_insert(object, key, key_len, v, false);
}

ExprValue *expr_object_get(const ExprValue *object, const char *key, size_t key_len) {
        ExprPair *p;

        if (!object || object->kind != EXPR_OBJECT)
                return NULL;
        p = object_find(object, key, key_len);
        return p ? p->value : NULL;
}

bool expr_value_is_primitive(const ExprValue *v) {
        return v->kind != EXPR_ARRAY && v->kind != EXPR_OBJECT;
}

bool expr_value_truthy(const ExprValue *v) {
        switch (v->kind) {
        case EXPR_NULL:
                return false;
        case EXPR_BOOLEAN:
                return v->boolean;
        case EXPR_NUMBER:
                return !(v->number == 0 || isnan(v->number));
        case EXPR_STRING:
                return v->string.len > 0;
        default:
                return true;
        }
}

double expr_value_to_number(const ExprValue *v) {
        double d;

        switch (v->kind) {
        case EXPR_NULL:
                return 0;
        case EXPR_BOOLEAN:
                return v->boolean ? 1 : 0;
        case EXPR_NUMBER:
                return v->number;
        case EXPR_STRING:
                if (expr_parse_number(v->string.s, v->string.len, &d) < 0)
                        return NAN;
                return d;
        default:
                return NAN;
        }
}

/* Shortest round-tripping digits of a finite positive d: digits (no dot) and the decimal exponent n
 * such that d = 0.digits × 10^n, as ECMAScript's Number::toString defines them. */
static void shortest_digits(double d, char digits[static 20], int *ret_n) {
        char tmp[40];
        int exponent = 0;

        for (int precision = 1; precision <= 17; precision++) {
                snprintf(tmp, sizeof(tmp), "%.*e", precision - 1, d);
                if (strtod(tmp, NULL) == d)
                        break;
        }

        /* tmp is "D[.DDD]e±XX" */
        size_t k = 0;
        for (const char *p = tmp; *p && *p != 'e'; p++)
                if (*p != '.')
                        digits[k++] = *p;
        while (k > 1 && digits[k - 1] == '0')
                k--;
        digits[k] = '\0';
        exponent = atoi(strchr(tmp, 'e') + 1);
        *ret_n = exponent + 1;
}

void expr_number_format_js(double d, char buf[static 32]) {
        char digits[20];
        char *p = buf;
        int n, k;

        if (isnan(d)) {
                strcpy(buf, "NaN");
                return;
        }
        if (d == 0) {
                strcpy(buf, "0");
                return;
        }
        if (d < 0) {
                *p++ = '-';
                d = -d;
        }
        if (isinf(d)) {
                strcpy(p, "Infinity");
                return;
        }

        shortest_digits(d, digits, &n);
        k = (int) strlen(digits);

        if (k <= n && n <= 21) {
                memcpy(p, digits, k);
                p += k;
                for (int i = 0; i < n - k; i++)
                        *p++ = '0';
                *p = '\0';
        } else if (0 < n && n <= 21) {
                memcpy(p, digits, n);
                p += n;
                *p++ = '.';
                strcpy(p, digits + n);
        } else if (-6 < n && n <= 0) {
                *p++ = '0';
                *p++ = '.';
                for (int i = 0; i < -n; i++)
                        *p++ = '0';
                strcpy(p, digits);
        } else {
                *p++ = digits[0];
                if (k > 1) {
                        *p++ = '.';
                        memcpy(p, digits + 1, k - 1);
                        p += k - 1;
                }
                sprintf(p, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
        }
}

void expr_number_format(double d, char buf[static 32]) {
        /* GitHub limits numbers to 15 decimals by going through JavaScript's toFixed(15), which rounds
         * the exact binary value half away from zero; printf rounds exact ties to even, so round by
         * hand on the exact expansion (a double below 1e21 has at most 1074 decimals). */
        char exact[1200];
        bool negative;
        size_t dot, end;

        if (d == 0 || isnan(d) || isinf(d) || fabs(d) >= 1e21) {
                expr_number_format_js(d == 0 ? 0 : d, buf);
                return;
        }

        negative = d < 0;
        snprintf(exact, sizeof(exact), "%.1100f", fabs(d));
        dot = strchr(exact, '.') - exact;
        end = dot + 16; /* keep 15 decimals */
        if (exact[end] >= '5') {
                size_t i = end;
                for (;;) {
                        if (i == 0) {
                                /* all nines: 9.99… → 10.00… */
                                memmove(exact + 1, exact, end);
                                exact[0] = '1';
                                end++;
                                break;
                        }
                        i--;
                        if (exact[i] == '.')
                                continue;
                        if (exact[i] == '9') {
                                exact[i] = '0';
                                continue;
                        }
                        exact[i]++;
                        break;
                }
        }
        exact[end] = '\0';

        d = strtod(exact, NULL);
        expr_number_format_js(negative && d != 0 ? -d : d, buf);
}

int expr_value_to_string(const ExprValue *v, char **ret, size_t *ret_len) {
        char buf[32];
        const char *s;
        size_t len;
        char *p;

        switch (v->kind) {
        case EXPR_NULL:
                s = "";
                break;
        case EXPR_BOOLEAN:
                s = v->boolean ? "true" : "false";
                break;
        case EXPR_NUMBER:
                expr_number_format(v->number, buf);
                s = buf;
                break;
        case EXPR_STRING:
                p = memdupz(v->string.s, v->string.len);
                if (!p)
                        return -ENOMEM;
                *ret = p;
                if (ret_len)
                        *ret_len = v->string.len;
                return 0;
        case EXPR_ARRAY:
                s = "Array";
                break;
        case EXPR_OBJECT:
                s = "Object";
                break;
        default:
                return -EINVAL;
        }

        len = strlen(s);
        p = memdupz(s, len);
        if (!p)
                return -ENOMEM;
        *ret = p;
        if (ret_len)
                *ret_len = len;
        return 0;
}

/* Decodes one UTF-8 sequence at s; invalid bytes decode to themselves above the Unicode range so
 * they compare apart from every character and from each other. */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *ret_len) {
        uint32_t c;
        size_t len, i;

        if (s[0] < 0x80) {
                *ret_len = 1;
                return s[0];
        }
        if ((s[0] & 0xe0) == 0xc0) {
                len = 2;
                c = s[0] & 0x1f;
        } else if ((s[0] & 0xf0) == 0xe0) {
                len = 3;
                c = s[0] & 0x0f;
        } else if ((s[0] & 0xf8) == 0xf0) {
                len = 4;
                c = s[0] & 0x07;
        } else
                goto invalid;
        if (len > n)
                goto invalid;
        for (i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        goto invalid;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
                (len == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
                goto invalid;
        *ret_len = len;
        return c;

invalid:
        *ret_len = 1;
        return 0x110000 + s[0];
}

static size_t utf8_put(uint32_t c, char *p) {
        if (c >= 0x110000) {
                p[0] = (char) (c - 0x110000);
                return 1;
        }
        if (c < 0x80) {
                p[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                p[0] = (char) (0xc0 | (c >> 6));
                p[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                p[0] = (char) (0xe0 | (c >> 12));
                p[1] = (char) (0x80 | ((c >> 6) & 0x3f));
                p[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        p[0] = (char) (0xf0 | (c >> 18));
        p[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        p[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        p[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

/* Simple upper-case mapping for the scripts most workflow text is written in. */
static uint32_t to_upper(uint32_t c) {
        if (c < 0x80)
                return c >= 'a' && c <= 'z' ? c - 32 : c;
        if (c == 0xb5)
                return 0x39c;
        if (c >= 0xe0 && c <= 0xfe && c != 0xf7)
                return c - 32;
        if (c == 0xff)
                return 0x178;
        if (c == 0x131) /* dotless ı stays itself, as GitHub keeps it */
                return c;
        if (c == 0x17f)
                return 'S';
        if ((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177))
                return c & 1 ? c - 1 : c;
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
                return c & 1 ? c : c - 1;
        if (c == 0x3ac)
                return 0x386;
        if (c >= 0x3ad && c <= 0x3af)
                return c - 37;
        if (c == 0x3c2)
                return 0x3a3;
        if (c >= 0x3b1 && c <= 0x3cb)
                return c - 32;
        if (c == 0x3cc)
                return 0x38c;
        if (c >= 0x3cd && c <= 0x3ce)
                return c - 63;
        if (c >= 0x430 && c <= 0x44f)
                return c - 32;
        if (c >= 0x450 && c <= 0x45f)
                return c - 80;
        if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf) || (c >= 0x4d0 && c <= 0x52f))
                return c & 1 ? c - 1 : c;
        if (c >= 0x4c1 && c <= 0x4ce)
                return c & 1 ? c : c - 1;
        if (c == 0x4cf)
                return 0x4c0;
        if (c >= 0x561 && c <= 0x586)
                return c - 48;
        if ((c >= 0x1e00 && c <= 0x1e95) || (c >= 0x1ea0 && c <= 0x1eff))
                return c & 1 ? c - 1 : c;
        if (c >= 0xff41 && c <= 0xff5a)
                return c - 32;
        return c;
}

int expr_string_compare_ci(const char *a, size_t alen, const char *b, size_t blen) {
        const unsigned char *x = (const unsigned char *) a, *y = (const unsigned char *) b;
        size_t i = 0, j = 0;

        while (i < alen && j < blen) {
                size_t l1, l2;
                uint32_t c1, c2;

                /* ASCII fast path: most keys and values are plain ASCII */
                if (x[i] < 0x80 && y[j] < 0x80) {
                        c1 = to_upper(x[i++]);
                        c2 = to_upper(y[j++]);
                } else {
                        c1 = to_upper(utf8_next(x + i, alen - i, &l1));
                        c2 = to_upper(utf8_next(y + j, blen - j, &l2));
                        i += l1;
                        j += l2;
                }
                if (c1 != c2)
                        return c1 < c2 ? -1 : 1;
        }
        if (i < alen)
                return 1;
        if (j < blen)
                return -1;
        return 0;
}

int expr_string_upper(const char *s, size_t len, char **ret, size_t *ret_len) {
        /* No character's upper-case form in this mapping is encoded longer than the character itself
         * (ſ even shrinks to S), so len bytes suffice. */
        char *p = malloc(len + 1);
        size_t i = 0, k = 0;

        if (!p)
                return -ENOMEM;
        while (i < len) {
                size_t l;
                uint32_t c = utf8_next((const unsigned char *) s + i, len - i, &l);
                k += utf8_put(to_upper(c), p + k);
                i += l;
        }
        p[k] = '\0';
        *ret = p;
        *ret_len = k;
        return 0;
}

/* JavaScript's abstract equality and relational comparison as GitHub narrows them: null and booleans
 * become numbers, a number against a string makes the string a number, other mixed kinds never
 * compare. Returns the kind both sides were brought to, or _EXPR_KIND_MAX if they differ. */
static ExprKind coerce(const ExprValue *a, const ExprValue *b, double *ret_a, double *ret_b) {
        ExprKind ka = a->kind, kb = b->kind;

        *ret_a = *ret_b = NAN;

        if (ka == kb) {
                if (ka == EXPR_NUMBER) {
                        *ret_a = a->number;
                        *ret_b = b->number;
                }
                return ka;
        }
        if (ka == EXPR_NULL || ka == EXPR_BOOLEAN || (ka == EXPR_STRING && kb == EXPR_NUMBER))
                ka = EXPR_NUMBER;
        if (kb == EXPR_NULL || kb == EXPR_BOOLEAN || (kb == EXPR_STRING && ka == EXPR_NUMBER))
                kb = EXPR_NUMBER;
        /* a string on the left of null/boolean: the right side only became a number above */
        if (kb == EXPR_NUMBER && ka == EXPR_STRING)
                ka = EXPR_NUMBER;
        if (ka != kb)
                return _EXPR_KIND_MAX;
        *ret_a = expr_value_to_number(a);
        *ret_b = expr_value_to_number(b);
        return EXPR_NUMBER;
}

bool expr_value_equals(const ExprValue *a, const ExprValue *b) {
        double x, y;

        switch (coerce(a, b, &x, &y)) {
        case EXPR_NULL:
                return true;
        case EXPR_BOOLEAN:
                return a->boolean == b->boolean;
        case EXPR_NUMBER:
                return x == y; /* false if either is NaN */
        case EXPR_STRING:
                return expr_string_compare_ci(a->string.s, a->string.len, b->string.s, b->string.len) == 0;
        case EXPR_ARRAY:
        case EXPR_OBJECT:
                return a == b;
        default:
                return false;
        }
}

bool expr_value_greater(const ExprValue *a, const ExprValue *b) {
        double x, y;

        switch (coerce(a, b, &x, &y)) {
        case EXPR_BOOLEAN:
                return a->boolean && !b->boolean;
        case EXPR_NUMBER:
                return x > y;
        case EXPR_STRING:
                return expr_string_compare_ci(a->string.s, a->string.len, b->string.s, b->string.len) > 0;
        default:
                return false;
        }
}

bool expr_value_less(const ExprValue *a, const ExprValue *b) {
        double x, y;

        switch (coerce(a, b, &x, &y)) {
        case EXPR_BOOLEAN:
                return !a->boolean && b->boolean;
        case EXPR_NUMBER:
                return x < y;
        case EXPR_STRING:
                return expr_string_compare_ci(a->string.s, a->string.len, b->string.s, b->string.len) < 0;
        default:
                return false;
        }
}

static int json_indent(StrBuf *b, unsigned level) {
        int r = strbuf_puts(b, "\n");
        for (unsigned i = 0; r >= 0 && i < level; i++)
                r = strbuf_puts(b, "  ");
        return r;
}

static int json_put_string(StrBuf *b, const char *s, size_t len) {
        size_t start = 0;
        int r;

        r = strbuf_puts(b, "\"");
        for (size_t i = 0; r >= 0 && i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char esc[8];

                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                r = strbuf_put(b, s + start, i - start);
                if (r < 0)
                        return r;
                switch (c) {
                case '"':
                        strcpy(esc, "\\\"");
                        break;
                case '\\':
                        strcpy(esc, "\\\\");
                        break;
                case '\b':
                        strcpy(esc, "\\b");
                        break;
                case '\f':
                        strcpy(esc, "\\f");
                        break;
                case '\n':
                        strcpy(esc, "\\n");
                        break;
                case '\r':
                        strcpy(esc, "\\r");
                        break;
                case '\t':
                        strcpy(esc, "\\t");
                        break;
                default:
                        snprintf(esc, sizeof(esc), "\\u%04x", c);
                }
                r = strbuf_puts(b, esc);
                start = i + 1;
        }
        if (r < 0)
                return r;
        r = strbuf_put(b, s + start, len - start);
        if (r < 0)
                return r;
        return strbuf_puts(b, "\"");
}

static int json_put(StrBuf *b, const ExprValue *v, bool pretty, unsigned level) {
        char num[32];
        int r;

        /* Values are trees bounded by EXPR_VALUE_MAX_DEPTH when they come from JSON; deeper ones can
         * only be built in code, and the size limit stops those anyway. */
        if (level > EXPR_VALUE_MAX_DEPTH * 4)
                return -E2BIG;

        switch (v->kind) {
        case EXPR_NULL:
                return strbuf_puts(b, "null");
        case EXPR_BOOLEAN:
                return strbuf_puts(b, v->boolean ? "true" : "false");
        case EXPR_NUMBER:
                if (!isfinite(v->number))
                        return strbuf_puts(b, "null");
                expr_number_format_js(v->number, num);
                return strbuf_puts(b, num);
        case EXPR_STRING:
                return json_put_string(b, v->string.s, v->string.len);
        case EXPR_ARRAY:
                if (v->array.n == 0)
                        return strbuf_puts(b, "[]");
                r = strbuf_puts(b, "[");
                for (size_t i = 0; r >= 0 && i < v->array.n; i++) {
                        if (i > 0)
                                r = strbuf_puts(b, ",");
                        if (r >= 0 && pretty)
                                r = json_indent(b, level + 1);
                        if (r >= 0)
                                r = json_put(b, v->array.items[i], pretty, level + 1);
                }
                if (r >= 0 && pretty)
                        r = json_indent(b, level);
                return r < 0 ? r : strbuf_puts(b, "]");
        case EXPR_OBJECT:
                if (v->object.n == 0)
                        return strbuf_puts(b, "{}");
                r = strbuf_puts(b, "{");
                for (size_t i = 0; r >= 0 && i < v->object.n; i++) {
                        if (i > 0)
                                r = strbuf_puts(b, ",");
                        if (r >= 0 && pretty)
                                r = json_indent(b, level + 1);
                        if (r >= 0)
                                r = json_put_string(b, v->object.pairs[i].key, v->object.pairs[i].key_len);
                        if (r >= 0)
                                r = strbuf_puts(b, pretty ? ": " : ":");
                        if (r >= 0)
                                r = json_put(b, v->object.pairs[i].value, pretty, level + 1);
                }
                if (r >= 0 && pretty)
                        r = json_indent(b, level);
                return r < 0 ? r : strbuf_puts(b, "}");
        default:
                return -EINVAL;
        }
}

int expr_value_to_json(const ExprValue *v, bool pretty, char **ret, size_t *ret_len) {
        StrBuf b = { .max = EXPR_VALUE_MAX_SIZE };
        int r;

        r = json_put(&b, v, pretty, 0);
        if (r < 0) {
                free(b.data);
                return r;
        }
        *ret = b.data;
        if (ret_len)
                *ret_len = b.len;
        return 0;
}

static int from_json_object(json_object *o, ExprValue **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        int r;

        switch (json_object_get_type(o)) {
        case json_type_null:
                v = expr_value_new_null();
                break;
        case json_type_boolean:
                v = expr_value_new_boolean(json_object_get_boolean(o));
                break;
        case json_type_double:
                v = expr_value_new_number(json_object_get_double(o));
                break;
        case json_type_int: {
                /* json-c keeps integers as int64 and clamps beyond; take the unsigned reading above
                 * INT64_MAX so 64-bit values survive as doubles do in JavaScript. */
                int64_t i = json_object_get_int64(o);
                v = expr_value_new_number(i == INT64_MAX ? (double) json_object_get_uint64(o) : (double) i);
                break;
        }
        case json_type_string:
                v = expr_value_new_string(json_object_get_string(o), (size_t) json_object_get_string_len(o));
                break;
        case json_type_array: {
                size_t n = json_object_array_length(o);
                v = expr_value_new_array();
                for (size_t i = 0; v && i < n; i++) {
                        _cleanup_(expr_value_unrefp) ExprValue *item = NULL;
                        r = from_json_object(json_object_array_get_idx(o, i), &item);
                        if (r < 0)
                                return r;
                        r = expr_array_append(v, item);
                        if (r < 0)
                                return r;
                }
                break;
        }
        case json_type_object:
                v = expr_value_new_object();
                if (!v)
                        break;
                json_object_object_foreach(o, key, val) {
                        _cleanup_(expr_value_unrefp) ExprValue *item = NULL;
                        r = from_json_object(val, &item);
                        if (r < 0)
                                return r;
                        r = expr_object_add(v, key, strlen(key), item);
                        if (r < 0 && r != -EEXIST)
                                return r;
                }
                break;
        default:
                return -EINVAL;
        }
        if (!v)
                return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

static void json_tokener_freep(json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

int expr_value_from_json(const char *text, size_t len, ExprValue **ret, char *error, size_t error_size) {
        _cleanup_(json_tokener_freep) json_tokener *t = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *copy = NULL;
        enum json_tokener_error e;
        size_t end;

        if (len > EXPR_VALUE_MAX_SIZE * 16) {
                if (error)
                        snprintf(error, error_size, "JSON text of %zu bytes is larger than the limit of %u",
                                len, EXPR_VALUE_MAX_SIZE * 16);
                return -E2BIG;
        }
        if (memchr(text, '\0', len)) {
                if (error)
                        snprintf(error, error_size, "unexpected NUL byte at offset %zu",
                                (size_t) ((const char *) memchr(text, '\0', len) - text));
                return -EINVAL;
        }

        /* json-c completes a number at the end of the input only when it sees the terminating NUL */
        copy = memdupz(text, len);
        t = json_tokener_new_ex(EXPR_VALUE_MAX_DEPTH);
        if (!copy || !t)
                return -ENOMEM;
        json_tokener_set_flags(t, JSON_TOKENER_STRICT);

        o = json_tokener_parse_ex(t, copy, (int) len + 1);
        e = json_tokener_get_error(t);
        end = json_tokener_get_parse_end(t);
        if (e == json_tokener_success && end < len) /* parse_ex stops after the first value */
                e = json_tokener_error_parse_unexpected;
        if (e == json_tokener_success && !o && len > 0) /* a lone "null" */
                return (*ret = expr_value_new_null()) ? 0 : -ENOMEM;
        if (e != json_tokener_success || len == 0) {
                if (error)
                        snprintf(error, error_size, "%s at offset %zu",
                                len == 0 ? "empty input" : json_tokener_error_desc(e), end);
                return -EINVAL;
        }

        return from_json_object(o, ret);
}

const char *expr_kind_to_string(ExprKind k) {
        static const char *const table[_EXPR_KIND_MAX] = {
                [EXPR_NULL] = "Null",
                [EXPR_BOOLEAN] = "Boolean",
                [EXPR_NUMBER] = "Number",
                [EXPR_STRING] = "String",
                [EXPR_ARRAY] = "Array",
                [EXPR_OBJECT] = "Object",
        };
        return k < _EXPR_KIND_MAX ? table[k] : NULL;
}
