/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "expr.h"
#include "macro.h"
#include "strbuf.h"

const char *const expr_known_contexts[] = {
        "github",
        "env",
        "job",
        "steps",
        "needs",
        "runner",
        "inputs",
        "vars",
        "secrets",
        "strategy",
        "matrix",
        NULL,
};

static const struct {
        const char *name;
        size_t min_args, max_args;
        ExprAllow needs;
} functions[_EXPR_FUNCTION_MAX] = {
        [EXPR_FUNCTION_CONTAINS] = { "contains", 2, 2, 0 },
        [EXPR_FUNCTION_STARTS_WITH] = { "startsWith", 2, 2, 0 },
        [EXPR_FUNCTION_ENDS_WITH] = { "endsWith", 2, 2, 0 },
        [EXPR_FUNCTION_FORMAT] = { "format", 1, 255, 0 },
        [EXPR_FUNCTION_JOIN] = { "join", 1, 2, 0 },
        [EXPR_FUNCTION_TO_JSON] = { "toJSON", 1, 1, 0 },
        [EXPR_FUNCTION_FROM_JSON] = { "fromJSON", 1, 1, 0 },
        [EXPR_FUNCTION_HASH_FILES] = { "hashFiles", 1, 255, EXPR_ALLOW_HASH_FILES },
        [EXPR_FUNCTION_SUCCESS] = { "success", 0, 0, EXPR_ALLOW_STATUS },
        [EXPR_FUNCTION_ALWAYS] = { "always", 0, 0, EXPR_ALLOW_STATUS },
        [EXPR_FUNCTION_CANCELLED] = { "cancelled", 0, 0, EXPR_ALLOW_STATUS },
        [EXPR_FUNCTION_FAILURE] = { "failure", 0, 0, EXPR_ALLOW_STATUS },
};

const char *expr_function_to_string(ExprFunction f) {
        return f < _EXPR_FUNCTION_MAX ? functions[f].name : NULL;
}

const char *expr_status_to_string(ExprStatus s) {
        static const char *const table[_EXPR_STATUS_MAX] = {
                [EXPR_STATUS_SUCCESS] = "success",
                [EXPR_STATUS_ALWAYS] = "always",
                [EXPR_STATUS_CANCELLED] = "cancelled",
                [EXPR_STATUS_FAILURE] = "failure",
        };
        return s < _EXPR_STATUS_MAX ? table[s] : NULL;
}

_printf_(4, 5) static int set_error(ExprError *error, size_t offset, int r, const char *fmt, ...) {
        if (error) {
                va_list ap;
                error->offset = offset;
                va_start(ap, fmt);
                vsnprintf(error->message, sizeof(error->message), fmt, ap);
                va_end(ap);
        }
        return r;
}

ExprNode *expr_node_free(ExprNode *node) {
        if (!node)
                return NULL;
        for (size_t i = 0; i < node->n_children; i++)
                expr_node_free(node->children[i]);
        free(node->children);
        expr_value_unref(node->literal);
        free(node->name);
        free(node);
        return NULL;
}

static ExprNode *node_new(ExprNodeType type, size_t offset) {
        ExprNode *n = calloc(1, sizeof(ExprNode));
        if (!n)
                return NULL;
        n->type = type;
        n->offset = offset;
        return n;
}

/* Takes ownership of child, also on failure. */
static int node_add(ExprNode *parent, ExprNode *child) {
        ExprNode **p = reallocarray(parent->children, parent->n_children + 1, sizeof(ExprNode *));
        if (!p) {
                expr_node_free(child);
                return -ENOMEM;
        }
        parent->children = p;
        parent->children[parent->n_children++] = child;
        return 0;
}

bool expr_node_uses_status(const ExprNode *node) {
        if (node->type == EXPR_NODE_CALL && functions[node->function].needs == EXPR_ALLOW_STATUS)
                return true;
        for (size_t i = 0; i < node->n_children; i++)
                if (expr_node_uses_status(node->children[i]))
                        return true;
        return false;
}

typedef struct Parser {
        const char *text;
        const ExprToken *tokens;
        size_t n_tokens, pos;
        unsigned depth;
        const ExprParseOptions *options;
        ExprError *error;
} Parser;

static const ExprToken *peek(Parser *p) {
        return &p->tokens[p->pos];
}

static bool at_end(Parser *p) {
        return peek(p)->type == EXPR_TOKEN_EOF;
}

static bool check(Parser *p, ExprTokenType t) {
        return !at_end(p) && peek(p)->type == t;
}

static const ExprToken *previous(Parser *p) {
        return p->pos > 0 ? &p->tokens[p->pos - 1] : &p->tokens[0];
}

static bool match(Parser *p, ExprTokenType t) {
        if (!check(p, t))
                return false;
        p->pos++;
        return true;
}

/* GitHub's messages quote the token's text ("Unexpected symbol: ']'"). */
static int token_error(Parser *p, const ExprToken *tok, int r, const char *what) {
        int len = tok->length > 80 ? 80 : (int) tok->length;
        return set_error(p->error, tok->offset, r, "%s: '%.*s%s'", what, len, p->text + tok->offset,
                tok->length > 80 ? "…" : "");
}

static int unexpected(Parser *p) {
        if (at_end(p))
                return token_error(p, previous(p), -EINVAL, "Unexpected end of expression");
        return token_error(p, peek(p), -EINVAL, "Unexpected symbol");
}

static int depth_inc(Parser *p) {
        if (++p->depth > EXPR_MAX_DEPTH)
                return set_error(p->error, peek(p)->offset, -E2BIG, "Exceeded max expression depth %d",
                        EXPR_MAX_DEPTH);
        return 0;
}

static int parse_expression(Parser *p, ExprNode **ret);

static int parse_primary(Parser *p, ExprNode **ret, bool *ret_indexable) {
        _cleanup_(expr_node_freep) ExprNode *n = NULL;
        const ExprToken *t = peek(p);
        int r;

        *ret_indexable = false;

        switch (t->type) {
        case EXPR_TOKEN_TRUE:
        case EXPR_TOKEN_FALSE:
        case EXPR_TOKEN_NULL:
        case EXPR_TOKEN_NUMBER:
        case EXPR_TOKEN_STRING:
                n = node_new(EXPR_NODE_LITERAL, t->offset);
                if (!n)
                        return -ENOMEM;
                n->literal = t->type == EXPR_TOKEN_TRUE ? expr_value_new_boolean(true)
                        : t->type == EXPR_TOKEN_FALSE   ? expr_value_new_boolean(false)
                        : t->type == EXPR_TOKEN_NULL    ? expr_value_new_null()
                        : t->type == EXPR_TOKEN_NUMBER  ? expr_value_new_number(t->number)
                                                        : expr_value_new_stringz(t->string);
                if (!n->literal)
                        return -ENOMEM;
                p->pos++;
                break;

        case EXPR_TOKEN_LPAREN:
                p->pos++;
                r = parse_expression(p, &n);
                if (r < 0)
                        return r;
                if (!match(p, EXPR_TOKEN_RPAREN))
                        return unexpected(p);
                *ret_indexable = true;
                break;

        case EXPR_TOKEN_EOF:
                return unexpected(p);

        default:
                return token_error(p, t, -EINVAL, "Unexpected symbol");
        }

        *ret = TAKE_PTR(n);
        return 0;
}

static bool name_eq(const char *a, size_t alen, const char *b) {
        return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

static int parse_call(Parser *p, ExprNode **ret, bool *ret_indexable) {
        _cleanup_(expr_node_freep) ExprNode *n = NULL;
        const ExprToken *id;
        const char *name;
        int r;

        if (!check(p, EXPR_TOKEN_IDENTIFIER))
                return parse_primary(p, ret, ret_indexable);

        id = &p->tokens[p->pos++];
        name = p->text + id->offset;
        *ret_indexable = true;

        if (!match(p, EXPR_TOKEN_LPAREN)) {
                const char *const *allowed = p->options && p->options->contexts ? p->options->contexts
                                                                                : expr_known_contexts;
                bool found = false;

                for (const char *const *c = allowed; *c; c++)
                        if (name_eq(name, id->length, *c)) {
                                found = true;
                                break;
                        }
                if (!found)
                        return token_error(p, id, -EINVAL, "Unrecognized named-value");

                n = node_new(EXPR_NODE_CONTEXT, id->offset);
                if (!n)
                        return -ENOMEM;
                n->name = strndup(name, id->length);
                if (!n->name)
                        return -ENOMEM;
                *ret = TAKE_PTR(n);
                return 0;
        }

        n = node_new(EXPR_NODE_CALL, id->offset);
        if (!n)
                return -ENOMEM;
        n->function = _EXPR_FUNCTION_MAX;
        for (ExprFunction f = 0; f < _EXPR_FUNCTION_MAX; f++)
                if (name_eq(name, id->length, functions[f].name)) {
                        n->function = f;
                        break;
                }
        if (n->function == _EXPR_FUNCTION_MAX ||
                (functions[n->function].needs & ~(p->options ? p->options->allow : 0)) != 0)
                return token_error(p, id, -EINVAL, "Unrecognized function");

        while (!match(p, EXPR_TOKEN_RPAREN)) {
                ExprNode *arg = NULL;

                r = parse_expression(p, &arg);
                if (r < 0)
                        return r;
                r = node_add(n, arg);
                if (r < 0)
                        return r;
                if (!check(p, EXPR_TOKEN_RPAREN) && !match(p, EXPR_TOKEN_COMMA))
                        return unexpected(p);
        }

        if (n->n_children < functions[n->function].min_args)
                return token_error(p, id, -EINVAL, "Too few parameters supplied");
        if (n->n_children > functions[n->function].max_args)
                return token_error(p, id, -EINVAL, "Too many parameters supplied");

        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_index(Parser *p, ExprNode **ret) {
        _cleanup_(expr_node_freep) ExprNode *n = NULL;
        unsigned depth = p->depth;
        bool indexable;
        int r;

        r = parse_call(p, &n, &indexable);
        if (r < 0)
                return r;

        while (indexable) {
                _cleanup_(expr_node_freep) ExprNode *access = NULL;
                ExprNode *index = NULL;
                const ExprToken *t = peek(p);

                if (match(p, EXPR_TOKEN_LBRACKET)) {
                        access = node_new(EXPR_NODE_INDEX, t->offset);
                        if (!access)
                                return -ENOMEM;
                        if (match(p, EXPR_TOKEN_STAR))
                                access->star = true;
                        else {
                                r = parse_expression(p, &index);
                                if (r < 0)
                                        return r;
                        }
                        if (!match(p, EXPR_TOKEN_RBRACKET)) {
                                expr_node_free(index);
                                return unexpected(p);
                        }
                } else if (match(p, EXPR_TOKEN_DOT)) {
                        const ExprToken *property = peek(p);

                        access = node_new(EXPR_NODE_INDEX, t->offset);
                        if (!access)
                                return -ENOMEM;
                        if (match(p, EXPR_TOKEN_STAR))
                                access->star = true;
                        else if (match(p, EXPR_TOKEN_IDENTIFIER)) {
                                index = node_new(EXPR_NODE_LITERAL, property->offset);
                                if (!index)
                                        return -ENOMEM;
                                index->literal = expr_value_new_string(
                                        p->text + property->offset, property->length);
                                if (!index->literal) {
                                        expr_node_free(index);
                                        return -ENOMEM;
                                }
                        } else
                                return unexpected(p);
                } else
                        break;

                r = depth_inc(p);
                if (r < 0) {
                        expr_node_free(index);
                        return r;
                }
                r = node_add(access, TAKE_PTR(n));
                if (r < 0) {
                        expr_node_free(index);
                        return r;
                }
                if (index) {
                        r = node_add(access, index);
                        if (r < 0)
                                return r;
                }
                n = TAKE_PTR(access);
        }

        p->depth = depth;
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_unary(Parser *p, ExprNode **ret) {
        _cleanup_(expr_node_freep) ExprNode *n = NULL;
        ExprNode *operand = NULL;
        const ExprToken *t = peek(p);
        int r;

        if (!match(p, EXPR_TOKEN_BANG))
                return parse_index(p, ret);

        r = depth_inc(p);
        if (r < 0)
                return r;
        n = node_new(EXPR_NODE_NOT, t->offset);
        if (!n)
                return -ENOMEM;
        r = parse_unary(p, &operand);
        if (r < 0)
                return r;
        r = node_add(n, operand);
        if (r < 0)
                return r;
        p->depth--;
        *ret = TAKE_PTR(n);
        return 0;
}

static bool is_comparison(ExprTokenType t) {
        return IN_SET(t, EXPR_TOKEN_GT, EXPR_TOKEN_GE, EXPR_TOKEN_LT, EXPR_TOKEN_LE);
}

static bool is_equality(ExprTokenType t) {
        return IN_SET(t, EXPR_TOKEN_EQ, EXPR_TOKEN_NE);
}

/* Left-associative binary levels: comparison (> >= < <=) binds tighter than equality (== !=). */
static int parse_binary(Parser *p, bool equality, ExprNode **ret) {
        _cleanup_(expr_node_freep) ExprNode *left = NULL;
        int r;

        r = equality ? parse_binary(p, false, &left) : parse_unary(p, &left);
        if (r < 0)
                return r;

        while (!at_end(p) && (equality ? is_equality(peek(p)->type) : is_comparison(peek(p)->type))) {
                _cleanup_(expr_node_freep) ExprNode *n = NULL;
                ExprNode *right = NULL;
                const ExprToken *op = &p->tokens[p->pos++];

                n = node_new(EXPR_NODE_COMPARE, op->offset);
                if (!n)
                        return -ENOMEM;
                n->op = op->type;
                r = equality ? parse_binary(p, false, &right) : parse_unary(p, &right);
                if (r < 0)
                        return r;
                r = node_add(n, TAKE_PTR(left));
                if (r < 0) {
                        expr_node_free(right);
                        return r;
                }
                r = node_add(n, right);
                if (r < 0)
                        return r;
                left = TAKE_PTR(n);
        }

        *ret = TAKE_PTR(left);
        return 0;
}

/* && binds tighter than ||; both are n-ary nodes. */
static int parse_logical(Parser *p, bool or, ExprNode **ret) {
        _cleanup_(expr_node_freep) ExprNode *first = NULL, *n = NULL;
        ExprTokenType op = or ? EXPR_TOKEN_OR : EXPR_TOKEN_AND;
        int r;

        r = or ? parse_logical(p, false, &first) : parse_binary(p, true, &first);
        if (r < 0)
                return r;
        if (!check(p, op)) {
                *ret = TAKE_PTR(first);
                return 0;
        }

        r = depth_inc(p);
        if (r < 0)
                return r;
        n = node_new(or ? EXPR_NODE_OR : EXPR_NODE_AND, peek(p)->offset);
        if (!n)
                return -ENOMEM;
        r = node_add(n, TAKE_PTR(first));
        if (r < 0)
                return r;
        while (match(p, op)) {
                ExprNode *next = NULL;

                r = or ? parse_logical(p, false, &next) : parse_binary(p, true, &next);
                if (r < 0)
                        return r;
                r = node_add(n, next);
                if (r < 0)
                        return r;
        }
        p->depth--;
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_expression(Parser *p, ExprNode **ret) {
        int r;

        r = depth_inc(p);
        if (r < 0)
                return r;
        r = parse_logical(p, true, ret);
        if (r < 0)
                return r;
        p->depth--;
        return 0;
}

/* Parses text that sits at base in a larger text; node and error offsets are into the larger one. */
static int parse_at(const char *full, size_t base, size_t n, const ExprParseOptions *options, ExprNode **ret,
        ExprError *error) {
        _cleanup_(expr_tokens_done) ExprTokens tokens = {};
        _cleanup_(expr_node_freep) ExprNode *node = NULL;
        Parser p;
        int r;

        r = expr_lex(full + base, n, &tokens, error);
        if (r < 0) {
                if (error)
                        error->offset += base;
                return r;
        }
        for (size_t i = 0; i < tokens.n; i++)
                tokens.tokens[i].offset += base;

        p = (Parser){
                .text = full,
                .tokens = tokens.tokens,
                .n_tokens = tokens.n,
                .options = options,
                .error = error,
        };

        if (at_end(&p))
                return set_error(error, base, -EINVAL, "An expression was expected");

        r = parse_expression(&p, &node);
        if (r < 0)
                return r;
        if (!at_end(&p))
                return token_error(&p, peek(&p), -EINVAL, "Unexpected symbol");

        *ret = TAKE_PTR(node);
        return 0;
}

int expr_parse(
        const char *text, size_t n, const ExprParseOptions *options, ExprNode **ret, ExprError *error) {
        return parse_at(text, 0, n, options, ret, error);
}

/* Evaluation */

typedef struct Evaluator {
        const ExprEvalContext *context;
        ExprError *error;
} Evaluator;

static int evaluate(Evaluator *e, const ExprNode *node, ExprValue **ret);

static int new_value(ExprValue *v, ExprValue **ret) {
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

static int too_big(Evaluator *e, const ExprNode *node, int r) {
        if (r == -E2BIG)
                return set_error(e->error, node->offset, r, "Exceeded max result size of %u bytes",
                        EXPR_VALUE_MAX_SIZE);
        return r;
}

/* An index as GitHub reads it: a primitive gives a key (its string form) and, if it is a finite
 * non-negative number, an array position (rounded down). */
typedef struct Index {
        bool star;
        char *key;
        size_t key_len;
        bool has_position;
        size_t position;
} Index;

static void index_done(Index *i) {
        free(i->key);
}

static int index_from_value(const ExprValue *v, Index *ret) {
        double d;
        int r;

        *ret = (Index){};
        if (expr_value_is_primitive(v)) {
                r = expr_value_to_string(v, &ret->key, &ret->key_len);
                if (r < 0)
                        return r;
        }
        d = expr_value_to_number(v);
        if (isfinite(d) && d >= 0 && d < (double) SIZE_MAX) {
                ret->has_position = true;
                ret->position = (size_t) floor(d);
        }
        return 0;
}

static int filtered_add(ExprValue *out, ExprValue *item, const Index *idx) {
        ExprValue *v;
        int r;

        switch (item->kind) {
        case EXPR_OBJECT:
                if (idx->star) {
                        for (size_t i = 0; i < item->object.n; i++) {
                                r = expr_array_append(out, item->object.pairs[i].value);
                                if (r < 0)
                                        return r;
                        }
                        return 0;
                }
                if (!idx->key)
                        return 0;
                v = expr_object_get(item, idx->key, idx->key_len);
                return v ? expr_array_append(out, v) : 0;
        case EXPR_ARRAY:
                if (idx->star) {
                        for (size_t i = 0; i < item->array.n; i++) {
                                r = expr_array_append(out, item->array.items[i]);
                                if (r < 0)
                                        return r;
                        }
                        return 0;
                }
                if (idx->has_position && idx->position < item->array.n)
                        return expr_array_append(out, item->array.items[idx->position]);
                return 0;
        default:
                return 0;
        }
}

static int evaluate_index(Evaluator *e, const ExprNode *node, ExprValue **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *object = NULL, *index_value = NULL, *out = NULL;
        _cleanup_(index_done) Index idx = {};
        ExprValue *v;
        int r;

        if (!node->star) {
                r = evaluate(e, node->children[1], &index_value);
                if (r < 0)
                        return r;
                r = index_from_value(index_value, &idx);
                if (r < 0)
                        return r;
        }
        idx.star = node->star;

        r = evaluate(e, node->children[0], &object);
        if (r < 0)
                return r;

        if (object->kind == EXPR_ARRAY && object->filtered) {
                out = expr_value_new_array();
                if (!out)
                        return -ENOMEM;
                out->filtered = true;
                for (size_t i = 0; i < object->array.n; i++) {
                        r = filtered_add(out, object->array.items[i], &idx);
                        if (r < 0)
                                return r;
                }
                *ret = TAKE_PTR(out);
                return 0;
        }

        if (idx.star) {
                out = expr_value_new_array();
                if (!out)
                        return -ENOMEM;
                out->filtered = true;
                /* a star on an array or object collects its items; on anything else, nothing */
                if (object->kind == EXPR_ARRAY || object->kind == EXPR_OBJECT) {
                        r = filtered_add(out, object, &idx);
                        if (r < 0)
                                return r;
                }
                *ret = TAKE_PTR(out);
                return 0;
        }

        v = NULL;
        if (object->kind == EXPR_ARRAY && idx.has_position && idx.position < object->array.n)
                v = object->array.items[idx.position];
        else if (object->kind == EXPR_OBJECT && idx.key)
                v = expr_object_get(object, idx.key, idx.key_len);

        if (v) {
                *ret = expr_value_ref(v);
                return 0;
        }
        return new_value(expr_value_new_null(), ret);
}

static int fn_contains(ExprValue **args, ExprValue **ret) {
        ExprValue *haystack = args[0], *needle = args[1];
        bool found = false;
        int r;

        if (expr_value_is_primitive(haystack) && expr_value_is_primitive(needle)) {
                _cleanup_free_ char *h = NULL, *n = NULL, *hu = NULL, *nu = NULL;
                size_t hl, nl, hul, nul;

                r = expr_value_to_string(haystack, &h, &hl);
                if (r >= 0)
                        r = expr_value_to_string(needle, &n, &nl);
                if (r >= 0)
                        r = expr_string_upper(h, hl, &hu, &hul);
                if (r >= 0)
                        r = expr_string_upper(n, nl, &nu, &nul);
                if (r < 0)
                        return r;
                found = memmem(hu, hul, nu, nul) != NULL;
        } else if (haystack->kind == EXPR_ARRAY)
                for (size_t i = 0; i < haystack->array.n && !found; i++)
                        found = expr_value_equals(needle, haystack->array.items[i]);

        return new_value(expr_value_new_boolean(found), ret);
}

static int fn_affix(ExprValue **args, bool start, ExprValue **ret) {
        _cleanup_free_ char *s = NULL, *a = NULL, *su = NULL, *au = NULL;
        size_t sl, al, sul, aul;
        bool result = false;
        int r;

        if (expr_value_is_primitive(args[0]) && expr_value_is_primitive(args[1])) {
                r = expr_value_to_string(args[0], &s, &sl);
                if (r >= 0)
                        r = expr_value_to_string(args[1], &a, &al);
                if (r >= 0)
                        r = expr_string_upper(s, sl, &su, &sul);
                if (r >= 0)
                        r = expr_string_upper(a, al, &au, &aul);
                if (r < 0)
                        return r;
                result = aul <= sul && memcmp(start ? su : su + sul - aul, au, aul) == 0;
        }
        return new_value(expr_value_new_boolean(result), ret);
}

static int fn_format(Evaluator *e, const ExprNode *node, ExprValue **args, size_t n_args, ExprValue **ret) {
        _cleanup_(strbuf_done) StrBuf out = { .max = EXPR_VALUE_MAX_SIZE };
        _cleanup_free_ char *f = NULL;
        size_t len, i = 0;
        char *s;
        int r;

        r = expr_value_to_string(args[0], &f, &len);
        if (r < 0)
                return r;

#define FORMAT_ERROR(what) \
        set_error(e->error, node->offset, -EINVAL, "The following format string %s: %.160s%s", what, f, \
                len > 160 ? "…" : "")

        /* the next brace of each kind is remembered until passed, so that a long run of one kind
         * does not make this quadratic */
        char *next_l = NULL, *next_r = NULL;
        bool l_done = false, r_done = false;

        while (i < len) {
                char *l, *rb;

                if (!l_done && (!next_l || next_l < f + i)) {
                        next_l = memchr(f + i, '{', len - i);
                        l_done = !next_l;
                }
                if (!r_done && (!next_r || next_r < f + i)) {
                        next_r = memchr(f + i, '}', len - i);
                        r_done = !next_r;
                }
                l = next_l;
                rb = next_r;

                if (l && (!rb || rb > l)) {
                        size_t lb = l - f, digits = 0, arg = 0;

                        if (lb + 1 < len && f[lb + 1] == '{') { /* {{ */
                                r = strbuf_put(&out, f + i, lb - i + 1);
                                if (r < 0)
                                        return too_big(e, node, r);
                                i = lb + 2;
                                continue;
                        }
                        /* {N}: digits right after the brace; GitHub ignores anything between them and
                         * the closing brace */
                        while (lb + 1 + digits < len && f[lb + 1 + digits] >= '0' &&
                                f[lb + 1 + digits] <= '9') {
                                if (arg < 1000)
                                        arg = arg * 10 + (size_t) (f[lb + 1 + digits] - '0');
                                digits++;
                        }
                        if (!rb || (size_t) (rb - f) <= lb + 1 || digits == 0)
                                return FORMAT_ERROR("is invalid");
                        if (arg + 1 > n_args - 1)
                                return FORMAT_ERROR("references more arguments than were supplied");

                        _cleanup_free_ char *a = NULL;
                        size_t alen;

                        r = strbuf_put(&out, f + i, lb - i);
                        if (r >= 0)
                                r = expr_value_to_string(args[1 + arg], &a, &alen);
                        if (r >= 0)
                                r = strbuf_put(&out, a, alen);
                        if (r < 0)
                                return too_big(e, node, r);
                        i = (size_t) (rb - f) + 1;
                } else if (rb) {
                        size_t k = rb - f;

                        if (k + 1 >= len || f[k + 1] != '}') /* a lone } */
                                return FORMAT_ERROR("is invalid");
                        r = strbuf_put(&out, f + i, k - i + 1);
                        if (r < 0)
                                return too_big(e, node, r);
                        i = k + 2;
                } else {
                        r = strbuf_put(&out, f + i, len - i);
                        if (r < 0)
                                return too_big(e, node, r);
                        break;
                }
        }
#undef FORMAT_ERROR

        r = strbuf_take(&out, &s, &len);
        if (r < 0)
                return r;
        *ret = expr_value_new_string(s, len);
        free(s);
        return *ret ? 0 : -ENOMEM;
}

static int fn_join(Evaluator *e, const ExprNode *node, ExprValue **args, size_t n_args, ExprValue **ret) {
        _cleanup_(strbuf_done) StrBuf out = { .max = EXPR_VALUE_MAX_SIZE };
        _cleanup_free_ char *sep = NULL, *s = NULL;
        size_t sep_len = 1, len;
        int r;

        if (expr_value_is_primitive(args[0])) {
                r = expr_value_to_string(args[0], &s, &len);
                if (r < 0)
                        return r;
                return new_value(expr_value_new_string(s, len), ret);
        }
        if (args[0]->kind != EXPR_ARRAY)
                return new_value(expr_value_new_string("", 0), ret);

        if (n_args > 1 && expr_value_is_primitive(args[1]))
                r = expr_value_to_string(args[1], &sep, &sep_len);
        else
                r = (sep = strdup(",")) ? 0 : -ENOMEM;
        if (r < 0)
                return r;

        for (size_t i = 0; i < args[0]->array.n; i++) {
                _cleanup_free_ char *item = NULL;
                size_t item_len;

                if (i > 0) {
                        r = strbuf_put(&out, sep, sep_len);
                        if (r < 0)
                                return too_big(e, node, r);
                }
                r = expr_value_to_string(args[0]->array.items[i], &item, &item_len);
                if (r < 0)
                        return r;
                r = strbuf_put(&out, item, item_len);
                if (r < 0)
                        return too_big(e, node, r);
        }

        r = strbuf_take(&out, &s, &len);
        if (r < 0)
                return r;
        return new_value(expr_value_new_string(s, len), ret);
}

static int fn_hash_files(
        Evaluator *e, const ExprNode *node, ExprValue **args, size_t n_args, ExprValue **ret) {
        _cleanup_free_ char **patterns = NULL;
        _cleanup_free_ char *hash = NULL;
        char message[200] = "";
        size_t i;
        int r;

        if (!e->context->hash_files)
                return set_error(e->error, node->offset, -EOPNOTSUPP, "hashFiles() is not available here");

        patterns = calloc(n_args + 1, sizeof(char *));
        if (!patterns)
                return -ENOMEM;
        for (i = 0; i < n_args; i++) {
                r = expr_value_to_string(args[i], &patterns[i], NULL);
                if (r < 0)
                        break;
        }
        if (i == n_args)
                r = e->context->hash_files((const char *const *) patterns, n_args, &hash, message,
                        sizeof(message), e->context->userdata);
        for (size_t k = 0; k < n_args; k++)
                free(patterns[k]);
        if (r < 0)
                return set_error(e->error, node->offset, r, "hashFiles() failed: %s",
                        message[0] ? message : strerror(-r));
        if (!hash)
                return set_error(e->error, node->offset, -EIO, "hashFiles() returned no hash");

        return new_value(expr_value_new_stringz(hash), ret);
}

/* The status functions are listed in ExprStatus order. */
_Static_assert(EXPR_FUNCTION_FAILURE - EXPR_FUNCTION_SUCCESS == EXPR_STATUS_FAILURE - EXPR_STATUS_SUCCESS &&
                EXPR_FUNCTION_ALWAYS - EXPR_FUNCTION_SUCCESS == EXPR_STATUS_ALWAYS &&
                EXPR_FUNCTION_CANCELLED - EXPR_FUNCTION_SUCCESS == EXPR_STATUS_CANCELLED,
        "status functions out of order");

static int fn_status(Evaluator *e, const ExprNode *node, ExprValue **ret) {
        ExprStatus s = (ExprStatus) (node->function - EXPR_FUNCTION_SUCCESS);
        int r;

        if (s == EXPR_STATUS_ALWAYS)
                return new_value(expr_value_new_boolean(true), ret);
        if (!e->context->status)
                return set_error(e->error, node->offset, -EOPNOTSUPP, "%s() is not available here",
                        expr_status_to_string(s));
        r = e->context->status(s, e->context->userdata);
        if (r < 0)
                return set_error(e->error, node->offset, r, "%s() could not be evaluated: %s",
                        expr_status_to_string(s), strerror(-r));
        return new_value(expr_value_new_boolean(r > 0), ret);
}

static int evaluate_call(Evaluator *e, const ExprNode *node, ExprValue **ret) {
        ExprValue **args;
        size_t n = node->n_children;
        int r = 0;

        if (node->function >= EXPR_FUNCTION_SUCCESS)
                return fn_status(e, node, ret);

        args = calloc(n ? n : 1, sizeof(ExprValue *));
        if (!args)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = evaluate(e, node->children[i], &args[i]);

        if (r >= 0)
                switch (node->function) {
                case EXPR_FUNCTION_CONTAINS:
                        r = fn_contains(args, ret);
                        break;
                case EXPR_FUNCTION_STARTS_WITH:
                case EXPR_FUNCTION_ENDS_WITH:
                        r = fn_affix(args, node->function == EXPR_FUNCTION_STARTS_WITH, ret);
                        break;
                case EXPR_FUNCTION_FORMAT:
                        r = fn_format(e, node, args, n, ret);
                        break;
                case EXPR_FUNCTION_JOIN:
                        r = fn_join(e, node, args, n, ret);
                        break;
                case EXPR_FUNCTION_TO_JSON: {
                        _cleanup_free_ char *json = NULL;
                        size_t len;

                        r = expr_value_to_json(args[0], true, &json, &len);
                        if (r < 0)
                                r = too_big(e, node, r);
                        else
                                r = new_value(expr_value_new_string(json, len), ret);
                        break;
                }
                case EXPR_FUNCTION_FROM_JSON: {
                        _cleanup_free_ char *s = NULL;
                        char message[256];
                        size_t len;

                        r = expr_value_to_string(args[0], &s, &len);
                        if (r < 0)
                                break;
                        r = expr_value_from_json(s, len, ret, message, sizeof(message));
                        if (r < 0 && r != -ENOMEM)
                                r = set_error(
                                        e->error, node->offset, r, "Error parsing fromJson: %s", message);
                        break;
                }
                case EXPR_FUNCTION_HASH_FILES:
                        r = fn_hash_files(e, node, args, n, ret);
                        break;
                default:
                        r = -EINVAL;
                }

        for (size_t i = 0; i < n; i++)
                expr_value_unref(args[i]);
        free(args);
        return r;
}

static int evaluate(Evaluator *e, const ExprNode *node, ExprValue **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *a = NULL, *b = NULL;
        ExprValue *v;
        bool result;
        int r;

        switch (node->type) {
        case EXPR_NODE_LITERAL:
                *ret = expr_value_ref(node->literal);
                return 0;

        case EXPR_NODE_CONTEXT:
                v = expr_object_getz(e->context->contexts, node->name);
                if (v) {
                        *ret = expr_value_ref(v);
                        return 0;
                }
                return new_value(expr_value_new_null(), ret);

        case EXPR_NODE_INDEX:
                return evaluate_index(e, node, ret);

        case EXPR_NODE_NOT:
                r = evaluate(e, node->children[0], &a);
                if (r < 0)
                        return r;
                return new_value(expr_value_new_boolean(!expr_value_truthy(a)), ret);

        case EXPR_NODE_COMPARE:
                r = evaluate(e, node->children[0], &a);
                if (r < 0)
                        return r;
                r = evaluate(e, node->children[1], &b);
                if (r < 0)
                        return r;
                switch (node->op) {
                case EXPR_TOKEN_EQ:
                        result = expr_value_equals(a, b);
                        break;
                case EXPR_TOKEN_NE:
                        result = !expr_value_equals(a, b);
                        break;
                case EXPR_TOKEN_GT:
                        result = expr_value_greater(a, b);
                        break;
                case EXPR_TOKEN_GE:
                        result = expr_value_equals(a, b) || expr_value_greater(a, b);
                        break;
                case EXPR_TOKEN_LT:
                        result = expr_value_less(a, b);
                        break;
                case EXPR_TOKEN_LE:
                        result = expr_value_equals(a, b) || expr_value_less(a, b);
                        break;
                default:
                        return -EINVAL;
                }
                return new_value(expr_value_new_boolean(result), ret);

        case EXPR_NODE_AND:
        case EXPR_NODE_OR:
                for (size_t i = 0; i < node->n_children; i++) {
                        a = expr_value_unref(a);
                        r = evaluate(e, node->children[i], &a);
                        if (r < 0)
                                return r;
                        if (expr_value_truthy(a) == (node->type == EXPR_NODE_OR))
                                break;
                }
                *ret = TAKE_PTR(a);
                return 0;

        case EXPR_NODE_CALL:
                return evaluate_call(e, node, ret);

        default:
                return -EINVAL;
        }
}

int expr_evaluate(const ExprNode *node, const ExprEvalContext *context, ExprValue **ret, ExprError *error) {
        static const ExprEvalContext empty = {};
        Evaluator e = {
                .context = context ?: &empty,
                .error = error,
        };
        ExprValue *v = NULL;
        int r;

        r = evaluate(&e, node, &v);
        if (r == -ENOMEM)
                return set_error(error, node->offset, r, "Out of memory");
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

/* Templates */

static bool is_blank(char c) {
        return IN_SET(c, ' ', '\t', '\n', '\r', '\f', '\v');
}

/* Finds the }} closing the ${{ at start, skipping '…' string literals; returns its offset or n. */
static size_t find_close(const char *text, size_t start, size_t n) {
        bool in_string = false;

        for (size_t j = start + 3; j < n; j++) {
                if (in_string) {
                        if (text[j] == '\'') {
                                if (j + 1 < n && text[j + 1] == '\'')
                                        j++;
                                else
                                        in_string = false;
                        }
                } else if (text[j] == '\'')
                        in_string = true;
                else if (text[j] == '}' && j + 1 < n && text[j + 1] == '}')
                        return j;
        }
        return n;
}

static const char *find_open(const char *text, size_t from, size_t n) {
        return from < n ? memmem(text + from, n - from, "${{", 3) : NULL;
}

static int literal_node(const char *s, size_t len, size_t offset, ExprNode **ret) {
        _cleanup_(expr_node_freep) ExprNode *n = node_new(EXPR_NODE_LITERAL, offset);
        if (!n)
                return -ENOMEM;
        n->literal = expr_value_new_string(s, len);
        if (!n->literal)
                return -ENOMEM;
        *ret = TAKE_PTR(n);
        return 0;
}

/* Compiles text with ${{ }} into format('…{0}…', expr0, …): literal braces doubled. */
static int compile_template(const char *text, size_t from, size_t n, const ExprParseOptions *options,
        ExprNode **ret, bool *ret_single, ExprError *error) {
        _cleanup_(expr_node_freep) ExprNode *call = NULL;
        _cleanup_(strbuf_done) StrBuf fmt = { .max = EXPR_VALUE_MAX_SIZE };
        _cleanup_free_ char *s = NULL;
        ExprNode *f = NULL;
        size_t i = from, count = 0, len;
        const char *open;
        int r;

        call = node_new(EXPR_NODE_CALL, 0);
        if (!call)
                return -ENOMEM;
        call->function = EXPR_FUNCTION_FORMAT;

        while ((open = find_open(text, i, n))) {
                size_t start = open - text, close, b, e;
                ExprNode *expr = NULL;
                char ref[32];

                for (size_t k = i; k < start; k++) {
                        r = strbuf_put(&fmt, text + k, 1);
                        if (r >= 0 && (text[k] == '{' || text[k] == '}'))
                                r = strbuf_put(&fmt, text + k, 1);
                        if (r < 0)
                                return set_error(error, k, r, "Template too large");
                }

                close = find_close(text, start, n);
                if (close >= n)
                        return set_error(error, start, -EINVAL,
                                "The expression is not closed. An unescaped ${{ sequence was found, but the "
                                "closing }} sequence was not found.");

                for (b = start + 3; b < close && is_blank(text[b]); b++)
                        ;
                for (e = close; e > b && is_blank(text[e - 1]); e--)
                        ;
                if (b == e)
                        return set_error(error, start, -EINVAL, "An expression was expected");

                r = parse_at(text, b, e - b, options, &expr, error);
                if (r < 0)
                        return r;
                r = node_add(call, expr);
                if (r < 0)
                        return r;
                snprintf(ref, sizeof(ref), "{%zu}", count++);
                r = strbuf_puts(&fmt, ref);
                if (r < 0)
                        return set_error(error, start, r, "Template too large");
                i = close + 2;
        }

        if (count == 0) {
                *ret = NULL;
                return 0;
        }

        /* one ${{ }} and nothing around it: the expression's own value */
        if (count == 1 && fmt.len == 3 && i == n) {
                *ret = call->children[0];
                call->n_children = 0;
                *ret_single = true;
                return 0;
        }

        for (size_t k = i; k < n; k++) {
                r = strbuf_put(&fmt, text + k, 1);
                if (r >= 0 && (text[k] == '{' || text[k] == '}'))
                        r = strbuf_put(&fmt, text + k, 1);
                if (r < 0)
                        return set_error(error, k, r, "Template too large");
        }

        r = strbuf_take(&fmt, &s, &len);
        if (r < 0)
                return r;
        r = literal_node(s, len, 0, &f);
        if (r < 0)
                return r;
        /* the format string goes first */
        r = node_add(call, f);
        if (r < 0)
                return r;
        memmove(call->children + 1, call->children, (call->n_children - 1) * sizeof(ExprNode *));
        call->children[0] = f;

        *ret = TAKE_PTR(call);
        *ret_single = false;
        return 0;
}

int expr_template_parse(
        const char *text, size_t n, const ExprParseOptions *options, ExprTemplate **ret, ExprError *error) {
        _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
        int r;

        t = calloc(1, sizeof(ExprTemplate));
        if (!t)
                return -ENOMEM;
        r = compile_template(text, 0, n, options, &t->node, &t->single, error);
        if (r < 0)
                return r;
        if (!t->node) {
                t->text = strndup(text, n);
                if (!t->text)
                        return -ENOMEM;
                t->text_len = strlen(t->text);
        }
        *ret = TAKE_PTR(t);
        return 0;
}

ExprTemplate *expr_template_free(ExprTemplate *t) {
        if (!t)
                return NULL;
        expr_node_free(t->node);
        free(t->text);
        free(t);
        return NULL;
}

int expr_template_evaluate(
        const ExprTemplate *t, const ExprEvalContext *context, ExprValue **ret, ExprError *error) {
        if (!t->node)
                return new_value(expr_value_new_string(t->text, t->text_len), ret);
        return expr_evaluate(t->node, context, ret, error);
}

int expr_template_evaluate_string(const ExprTemplate *t, const ExprEvalContext *context, char **ret,
        size_t *ret_len, ExprError *error) {
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        int r;

        r = expr_template_evaluate(t, context, &v, error);
        if (r < 0)
                return r;
        return expr_value_to_string(v, ret, ret_len);
}

/* Conditions */

static int call_node(ExprFunction f, size_t offset, ExprNode **ret) {
        ExprNode *n = node_new(EXPR_NODE_CALL, offset);
        if (!n)
                return -ENOMEM;
        n->function = f;
        *ret = n;
        return 0;
}

int expr_parse_condition(
        const char *text, size_t n, const ExprParseOptions *options, ExprNode **ret, ExprError *error) {
        _cleanup_(expr_node_freep) ExprNode *cond = NULL, *and = NULL;
        ExprNode *success = NULL;
        size_t b = 0, e = n;
        bool single = false;
        int r;

        while (b < e && is_blank(text[b]))
                b++;
        while (e > b && is_blank(text[e - 1]))
                e--;

        if (b == e)
                return call_node(EXPR_FUNCTION_SUCCESS, 0, ret);

        if (find_open(text, b, e)) {
                r = compile_template(text, b, e, options, &cond, &single, error);
                if (r < 0)
                        return r;
        } else {
                r = parse_at(text, b, e - b, options, &cond, error);
                if (r < 0)
                        return r;
        }

        if (expr_node_uses_status(cond)) {
                *ret = TAKE_PTR(cond);
                return 0;
        }

        and = node_new(EXPR_NODE_AND, b);
        if (!and)
                return -ENOMEM;
        r = call_node(EXPR_FUNCTION_SUCCESS, b, &success);
        if (r < 0)
                return r;
        r = node_add(and, success);
        if (r < 0)
                return r;
        r = node_add(and, TAKE_PTR(cond));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(and);
        return 0;
}

int expr_evaluate_condition(
        const ExprNode *node, const ExprEvalContext *context, bool *ret, ExprError *error) {
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        int r;

        r = expr_evaluate(node, context, &v, error);
        if (r < 0)
                return r;
        *ret = expr_value_truthy(v);
        return 0;
}
