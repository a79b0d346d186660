/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <yaml.h>

#include "alloc-util.h"
#include "macro.h"
#include "matrix.h"
#include "workflow.h"

/* Where expressions may appear and what they may use (GitHub's "context availability"). */
static const char *const ctx_workflow_env[] = { "github", "secrets", "inputs", "vars", NULL };
static const char *const ctx_job_name[] = { "github", "needs", "strategy", "matrix", "vars", "inputs",
        NULL };
static const char *const ctx_job_if[] = { "github", "needs", "vars", "inputs", NULL };
static const char *const ctx_job_env[] = {
        "github",
        "needs",
        "strategy",
        "matrix",
        "vars",
        "secrets",
        "inputs",
        NULL,
};
static const char *const ctx_step_if[] = {
        "github",
        "needs",
        "strategy",
        "matrix",
        "job",
        "runner",
        "env",
        "vars",
        "steps",
        "inputs",
        NULL,
};
static const char *const ctx_step[] = {
        "github",
        "needs",
        "strategy",
        "matrix",
        "job",
        "runner",
        "env",
        "vars",
        "secrets",
        "steps",
        "inputs",
        NULL,
};

/* strategy.matrix is evaluated when the job becomes ready, before it has a matrix of its own */
static const char *const ctx_matrix[] = { "github", "needs", "vars", "inputs", NULL };
/* concurrency: a workflow's before any job, a job's when it becomes ready */
static const char *const ctx_workflow_concurrency[] = { "github", "inputs", "vars", NULL };
static const char *const ctx_job_concurrency[] = { "github", "needs", "strategy", "matrix", "vars", "inputs",
        NULL };

static const ExprParseOptions opts_workflow_env = { .contexts = ctx_workflow_env };
static const ExprParseOptions opts_matrix = { .contexts = ctx_matrix };
static const ExprParseOptions opts_workflow_concurrency = { .contexts = ctx_workflow_concurrency };
static const ExprParseOptions opts_job_concurrency = { .contexts = ctx_job_concurrency };
static const ExprParseOptions opts_job_name = { .contexts = ctx_job_name };
static const ExprParseOptions opts_job_env = { .contexts = ctx_job_env };
static const ExprParseOptions opts_job_outputs = { .contexts = ctx_step };
const ExprParseOptions workflow_expr_job_if = { .contexts = ctx_job_if, .allow = EXPR_ALLOW_STATUS };
static const ExprParseOptions opts_step_if = {
        .contexts = ctx_step_if,
        .allow = EXPR_ALLOW_STATUS | EXPR_ALLOW_HASH_FILES,
};
const ExprParseOptions workflow_expr_step = { .contexts = ctx_step, .allow = EXPR_ALLOW_HASH_FILES };

static const struct {
        const char *name;
        const char *command;
} shells[] = {
        { "bash", "bash --noprofile --norc -eo pipefail {0}" },
        { "sh", "sh -e {0}" },
        { "python", "python {0}" },
        { "pwsh", "pwsh -command \". '{0}'\"" },
};
/* What a step runs with when no shell is given anywhere, as on GitHub's Linux runners. */
#define DEFAULT_SHELL "bash -e {0}"

/* The YAML document as a tree. Aliases point at the anchored node, so a node may have several
 * parents; all nodes are owned by the document. */
typedef enum YType {
        Y_SCALAR,
        Y_SEQUENCE,
        Y_MAPPING,
} YType;

typedef struct YNode YNode;
struct YNode {
        YType type;
        WorkflowPos pos;
        unsigned end_line;
        yaml_scalar_style_t style;
        bool tagged_string; /* !!str */
        char *value;
        size_t len;
        YNode **items; /* sequence items, or mapping keys and values alternating */
        size_t n, allocated;
};

typedef struct Anchor {
        char *name;
        YNode *node;
} Anchor;

typedef struct Loader {
        const char *text;
        size_t len;

        YNode **nodes;
        size_t n_nodes, allocated_nodes;
        Anchor *anchors;
        size_t n_anchors, allocated_anchors;
        YNode *root;

        WorkflowErrors errors;
        unsigned visited;
        bool oom;
} Loader;

void workflow_errors_done(WorkflowErrors *e) {
        for (size_t i = 0; i < e->n; i++)
                free(e->errors[i].message);
        free(e->errors);
        *e = (WorkflowErrors){};
}

static void error_push(Loader *l, WorkflowPos pos, char *m) {
        WorkflowErrors *e = &l->errors;

        /* an alias used in several places would report the same problem at the same place again */
        for (size_t i = 0; i < e->n; i++)
                if (e->errors[i].pos.line == pos.line && e->errors[i].pos.column == pos.column &&
                        streq(e->errors[i].message, m)) {
                        free(m);
                        return;
                }

        /* e->n is also the allocated size: errors are rare, so grow one at a time */
        WorkflowError *p = reallocarray(e->errors, e->n + 1, sizeof(WorkflowError));
        if (!p) {
                free(m);
                l->oom = true;
                return;
        }
        e->errors = p;
        e->errors[e->n++] = (WorkflowError){ .pos = pos, .message = m };
}

_printf_(3, 4) static void error_at(Loader *l, WorkflowPos pos, const char *fmt, ...) {
        WorkflowErrors *e = &l->errors;
        char *m = NULL;
        va_list ap;
        int r;

        if (e->truncated)
                return;
        if (e->n >= WORKFLOW_MAX_ERRORS) {
                e->truncated = true;
                m = strdup("too many errors, stopping here");
                if (!m)
                        l->oom = true;
                else
                        error_push(l, e->errors[e->n - 1].pos, m);
                return;
        }

        va_start(ap, fmt);
        r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r < 0) {
                l->oom = true;
                return;
        }
        error_push(l, pos, m);
}

/* YAML → tree */

static WorkflowPos mark_pos(yaml_mark_t m) {
        return (WorkflowPos){ .line = (unsigned) m.line + 1, .column = (unsigned) m.column + 1 };
}

static YNode *node_new(Loader *l, YType type, const yaml_event_t *ev) {
        YNode *n;

        if (array_grow((void **) &l->nodes, &l->allocated_nodes, l->n_nodes, sizeof(YNode *)) < 0)
                return NULL;
        n = calloc(1, sizeof(YNode));
        if (!n)
                return NULL;
        n->type = type;
        n->pos = mark_pos(ev->start_mark);
        n->end_line = (unsigned) ev->end_mark.line + 1;
        l->nodes[l->n_nodes++] = n;
        return n;
}

static int node_append(YNode *parent, YNode *child) {
        int r = array_grow((void **) &parent->items, &parent->allocated, parent->n, sizeof(YNode *));
        if (r < 0)
                return r;
        parent->items[parent->n++] = child;
        return 0;
}

static int anchor_add(Loader *l, const yaml_char_t *name, YNode *node) {
        char *s;

        if (!name)
                return 0;
        if (array_grow((void **) &l->anchors, &l->allocated_anchors, l->n_anchors, sizeof(Anchor)) < 0)
                return -ENOMEM;
        s = strdup((const char *) name);
        if (!s)
                return -ENOMEM;
        /* a later anchor of the same name overrides an earlier one, as YAML says */
        l->anchors[l->n_anchors++] = (Anchor){ .name = s, .node = node };
        return 0;
}

static YNode *anchor_find(Loader *l, const yaml_char_t *name) {
        for (size_t i = l->n_anchors; i > 0; i--)
                if (streq(l->anchors[i - 1].name, (const char *) name))
                        return l->anchors[i - 1].node;
        return NULL;
}

static bool tag_ok(Loader *l, const yaml_event_t *ev, const yaml_char_t *tag, bool *ret_string) {
        static const char *const standard[] = {
                YAML_STR_TAG,
                YAML_INT_TAG,
                YAML_FLOAT_TAG,
                YAML_BOOL_TAG,
                YAML_NULL_TAG,
                YAML_SEQ_TAG,
                YAML_MAP_TAG,
        };

        *ret_string = false;
        if (!tag)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(standard); i++)
                if (streq((const char *) tag, standard[i])) {
                        *ret_string = i == 0;
                        return true;
                }
        error_at(l, mark_pos(ev->start_mark), "YAML tag '%s' is not supported", (const char *) tag);
        return false;
}

/* Builds the tree. Returns 0, -EINVAL after a YAML error (reported), or -ENOMEM. */
static int build_tree(Loader *l) {
        yaml_parser_t parser;
        YNode *stack[WORKFLOW_MAX_DEPTH + 1];
        yaml_char_t *anchors_owned[WORKFLOW_MAX_DEPTH + 1] = {};
        size_t depth = 0;
        unsigned documents = 0;
        int r = 0;
        bool done = false;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) l->text, l->len);

        while (!done) {
                yaml_event_t ev;
                YNode *n = NULL;
                bool is_string;

                if (!yaml_parser_parse(&parser, &ev)) {
                        if (parser.error == YAML_MEMORY_ERROR) {
                                r = -ENOMEM;
                                break;
                        }
                        error_at(l, mark_pos(parser.problem_mark), "YAML syntax error: %s%s%s",
                                parser.problem ?: "invalid YAML", parser.context ? " " : "",
                                parser.context ?: "");
                        r = -EINVAL;
                        break;
                }

                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;

                case YAML_DOCUMENT_START_EVENT:
                        if (++documents > 1) {
                                error_at(l, mark_pos(ev.start_mark),
                                        "a workflow file holds one YAML document, found a second");
                                r = -EINVAL;
                        }
                        break;

                case YAML_ALIAS_EVENT:
                        n = anchor_find(l, ev.data.alias.anchor);
                        if (!n) {
                                error_at(l, mark_pos(ev.start_mark), "unknown YAML alias '*%s'",
                                        (const char *) ev.data.alias.anchor);
                                r = -EINVAL;
                        }
                        break;

                case YAML_SCALAR_EVENT:
                        if (!tag_ok(l, &ev, ev.data.scalar.tag, &is_string)) {
                                r = -EINVAL;
                                break;
                        }
                        if (ev.data.scalar.length > WORKFLOW_MAX_STRING) {
                                error_at(l, mark_pos(ev.start_mark),
                                        "string of %zu bytes is longer than the limit of %u bytes",
                                        ev.data.scalar.length, WORKFLOW_MAX_STRING);
                                r = -EINVAL;
                                break;
                        }
                        n = node_new(l, Y_SCALAR, &ev);
                        if (!n) {
                                r = -ENOMEM;
                                break;
                        }
                        n->style = ev.data.scalar.style;
                        n->tagged_string = is_string;
                        n->value = malloc(ev.data.scalar.length + 1);
                        if (!n->value) {
                                r = -ENOMEM;
                                break;
                        }
                        memcpy(n->value, ev.data.scalar.value, ev.data.scalar.length);
                        n->value[ev.data.scalar.length] = '\0';
                        n->len = ev.data.scalar.length;
                        if (anchor_add(l, ev.data.scalar.anchor, n) < 0)
                                r = -ENOMEM;
                        break;

                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT: {
                        bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
                        const yaml_char_t *tag = seq ? ev.data.sequence_start.tag
                                                     : ev.data.mapping_start.tag;
                        yaml_char_t *anchor = seq ? ev.data.sequence_start.anchor
                                                  : ev.data.mapping_start.anchor;

                        if (!tag_ok(l, &ev, tag, &is_string)) {
                                r = -EINVAL;
                                break;
                        }
                        if (depth >= WORKFLOW_MAX_DEPTH) {
                                error_at(l, mark_pos(ev.start_mark),
                                        "nesting deeper than the limit of %u levels", WORKFLOW_MAX_DEPTH);
                                r = -EINVAL;
                                break;
                        }
                        n = node_new(l, seq ? Y_SEQUENCE : Y_MAPPING, &ev);
                        if (!n) {
                                r = -ENOMEM;
                                break;
                        }
                        /* attach now, to keep document order; register the anchor when complete, so
                         * an alias cannot refer to a node that contains it */
                        if (depth > 0)
                                r = node_append(stack[depth - 1], n);
                        else
                                l->root = n;
                        if (r < 0)
                                break;
                        anchors_owned[depth] = anchor ? (yaml_char_t *) strdup((const char *) anchor) : NULL;
                        if (anchor && !anchors_owned[depth]) {
                                r = -ENOMEM;
                                break;
                        }
                        stack[depth++] = n;
                        n = NULL; /* attached already */
                        break;
                }

                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        depth--;
                        if (anchor_add(l, anchors_owned[depth], stack[depth]) < 0)
                                r = -ENOMEM;
                        free(anchors_owned[depth]);
                        anchors_owned[depth] = NULL;
                        break;

                default:
                        break;
                }

                if (r >= 0 && n) {
                        if (depth > 0)
                                r = node_append(stack[depth - 1], n);
                        else
                                l->root = n;
                }
                yaml_event_delete(&ev);
                if (r < 0)
                        break;
        }

        for (size_t i = 0; i < ELEMENTSOF(anchors_owned); i++)
                free(anchors_owned[i]);
        yaml_parser_delete(&parser);
        return r;
}

static void loader_done(Loader *l) {
        for (size_t i = 0; i < l->n_nodes; i++) {
                free(l->nodes[i]->value);
                free(l->nodes[i]->items);
                free(l->nodes[i]);
        }
        free(l->nodes);
        for (size_t i = 0; i < l->n_anchors; i++)
                free(l->anchors[i].name);
        free(l->anchors);
        workflow_errors_done(&l->errors);
}

/* Scalars */

/* Counts a node visit; aliases make a small file name a huge tree, so the walk has a budget. */
static bool visit(Loader *l, const YNode *n) {
        if (++l->visited == WORKFLOW_MAX_NODES + 1)
                error_at(l, n->pos, "more than %u YAML nodes (counting each use of an alias)",
                        WORKFLOW_MAX_NODES);
        return l->visited <= WORKFLOW_MAX_NODES;
}

static bool is_plain(const YNode *n) {
        return n->type == Y_SCALAR && n->style == YAML_PLAIN_SCALAR_STYLE && !n->tagged_string;
}

static bool is_null(const YNode *n) {
        return is_plain(n) &&
                (n->len == 0 || streq(n->value, "~") || streq(n->value, "null") || streq(n->value, "Null") ||
                        streq(n->value, "NULL"));
}

static bool as_boolean(const YNode *n, bool *ret) {
        if (!is_plain(n))
                return false;
        if (streq(n->value, "true") || streq(n->value, "True") || streq(n->value, "TRUE")) {
                *ret = true;
                return true;
        }
        if (streq(n->value, "false") || streq(n->value, "False") || streq(n->value, "FALSE")) {
                *ret = false;
                return true;
        }
        return false;
}

/* YAML 1.2 core schema decimal numbers. */
static bool as_number(const YNode *n, double *ret) {
        const char *s = n->value;
        size_t i = 0, digits = 0;

        if (!is_plain(n) || n->len == 0 || n->len > 64)
                return false;
        if (s[i] == '+' || s[i] == '-')
                i++;
        for (; s[i] >= '0' && s[i] <= '9'; i++)
                digits++;
        if (s[i] == '.')
                for (i++; s[i] >= '0' && s[i] <= '9'; i++)
                        digits++;
        if (digits == 0)
                return false;
        if (s[i] == 'e' || s[i] == 'E') {
                size_t e;
                i++;
                if (s[i] == '+' || s[i] == '-')
                        i++;
                for (e = i; s[i] >= '0' && s[i] <= '9'; i++)
                        ;
                if (i == e)
                        return false;
        }
        if (i != n->len)
                return false;
        *ret = strtod(s, NULL);
        return true;
}

static const char *type_name(const YNode *n) {
        return n->type == Y_MAPPING ? "a mapping" : n->type == Y_SEQUENCE ? "a sequence" : "a scalar";
}

/* The source position of byte offset in a scalar's value: exact for one-line plain and quoted
 * scalars without escapes before it and for literal blocks; the scalar's start otherwise. */
static WorkflowPos scalar_pos(Loader *l, const YNode *n, size_t offset) {
        WorkflowPos p = n->pos;

        if (offset > n->len)
                return p;

        if (n->style == YAML_LITERAL_SCALAR_STYLE) {
                size_t line_start = 0, k = 0, i, indent = 0;
                const char *s;
                unsigned line;

                for (i = 0; i < offset; i++)
                        if (n->value[i] == '\n') {
                                k++;
                                line_start = i + 1;
                        }
                line = n->pos.line + 1 + (unsigned) k;
                /* the block's indentation is that of its first non-blank line */
                s = l->text;
                for (unsigned cur = 1; cur <= n->pos.line && s; cur++) {
                        s = memchr(s, '\n', l->len - (size_t) (s - l->text));
                        if (s)
                                s++;
                }
                while (s && (size_t) (s - l->text) < l->len) {
                        size_t rest = l->len - (size_t) (s - l->text), sp = 0;
                        const char *eol = memchr(s, '\n', rest);
                        size_t width = eol ? (size_t) (eol - s) : rest;

                        while (sp < width && s[sp] == ' ')
                                sp++;
                        if (sp < width && s[sp] != '\r') {
                                indent = sp;
                                break;
                        }
                        s = eol ? eol + 1 : NULL;
                }
                if (!s || (size_t) (s - l->text) >= l->len)
                        return p;
                return (WorkflowPos){ .line = line,
                        .column = (unsigned) (indent + offset - line_start + 1) };
        }

        if (n->end_line != n->pos.line || memchr(n->value, '\n', n->len))
                return p;
        if (n->style == YAML_PLAIN_SCALAR_STYLE)
                p.column += (unsigned) offset;
        else if (n->style == YAML_SINGLE_QUOTED_SCALAR_STYLE || n->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
                p.column += 1 + (unsigned) offset;
        return p;
}

/* Mappings */

typedef struct KeySet {
        const char *const *allowed;
        const char *const *unsupported; /* GitHub keys runner-agent does not implement */
        const char *what;
} KeySet;

static bool in_list(const char *const *list, const char *s) {
        for (; list && *list; list++)
                if (streq(*list, s))
                        return true;
        return false;
}

static char *join_list(const char *const *list) {
        size_t len = 1;
        char *s, *p;

        for (const char *const *i = list; *i; i++)
                len += strlen(*i) + 2;
        s = p = malloc(len);
        if (!s)
                return NULL;
        *p = '\0';
        for (const char *const *i = list; *i; i++)
                p = stpcpy(stpcpy(p, i == list ? "" : ", "), *i);
        return s;
}

typedef struct KeyRef {
        const char *key;
        size_t index;
} KeyRef;

static int compare_keys(const void *a, const void *b) {
        const KeyRef *x = a, *y = b;
        int c = strcmp(x->key, y->key);

        if (c != 0)
                return c;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Reports keys that are not strings, duplicated, unsupported or unknown. Duplicates are found by
 * sorting, as a generated env: mapping may have many thousands of keys. */
static int check_keys(Loader *l, const YNode *map, const KeySet *set) {
        _cleanup_free_ KeyRef *refs = NULL;
        size_t n = 0;

        refs = calloc(map->n / 2 + 1, sizeof(KeyRef));
        if (!refs)
                return -ENOMEM;

        for (size_t i = 0; i + 1 < map->n; i += 2) {
                const YNode *k = map->items[i];

                if (k->type != Y_SCALAR) {
                        error_at(l, k->pos, "keys in %s must be strings, not %s", set->what, type_name(k));
                        continue;
                }
                refs[n++] = (KeyRef){ .key = k->value, .index = i };
                if (!set->allowed)
                        continue;
                if (in_list(set->unsupported, k->value))
                        error_at(l, k->pos, "'%s' is not supported by runner-agent (in %s)", k->value,
                                set->what);
                else if (!in_list(set->allowed, k->value)) {
                        _cleanup_free_ char *keys = join_list(set->allowed);
                        error_at(l, k->pos, "unknown key '%s' in %s (expected one of: %s)", k->value,
                                set->what, keys ?: "?");
                }
        }

        qsort(refs, n, sizeof(KeyRef), compare_keys);
        for (size_t i = 1, first = 0; i < n; i++) {
                if (!streq(refs[i].key, refs[first].key)) {
                        first = i;
                        continue;
                }
                error_at(l, map->items[refs[i].index]->pos, "duplicate key '%s' in %s (first at line %u)",
                        refs[i].key, set->what, map->items[refs[first].index]->pos.line);
        }
        return 0;
}

static const YNode *map_get(const YNode *map, const char *key) {
        for (size_t i = 0; i + 1 < map->n; i += 2)
                if (map->items[i]->type == Y_SCALAR && streq(map->items[i]->value, key))
                        return map->items[i + 1];
        return NULL;
}

static const YNode *map_key(const YNode *map, const char *key) {
        for (size_t i = 0; i + 1 < map->n; i += 2)
                if (map->items[i]->type == Y_SCALAR && streq(map->items[i]->value, key))
                        return map->items[i];
        return NULL;
}

static bool expect(Loader *l, const YNode *n, YType type, const char *what) {
        static const char *const names[] = { "a string", "a sequence", "a mapping" };

        if (n->type == type)
                return true;
        error_at(l, n->pos, "%s must be %s, not %s", what, names[type], type_name(n));
        return false;
}

/* Model building */

static int set_string(
        Loader *l, const YNode *n, const ExprParseOptions *opts, const char *what, WorkflowString *ret) {
        ExprError e = {};
        int r;

        if (!visit(l, n) || !expect(l, n, Y_SCALAR, what))
                return 0;
        if (is_null(n) && n->len > 0) /* "~" and "null" mean empty, as in GitHub */
                ret->raw = strdup("");
        else
                ret->raw = strdup(n->value);
        if (!ret->raw)
                return -ENOMEM;
        ret->pos = n->pos;
        if (!opts)
                return 0;
        r = expr_template_parse(ret->raw, strlen(ret->raw), opts, &ret->template, &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                error_at(l, scalar_pos(l, n, e.offset), "invalid expression in %s: %s", what, e.message);
        return 0;
}

static int set_condition(Loader *l, const YNode *n, const ExprParseOptions *opts, WorkflowCondition *ret) {
        ExprError e = {};
        int r;

        if (!n)
                return expr_parse_condition("", 0, opts, &ret->node, NULL);
        if (!visit(l, n) || !expect(l, n, Y_SCALAR, "if"))
                return 0;
        ret->raw = strdup(is_null(n) ? "" : n->value);
        if (!ret->raw)
                return -ENOMEM;
        ret->pos = n->pos;
        r = expr_parse_condition(ret->raw, strlen(ret->raw), opts, &ret->node, &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                error_at(l, scalar_pos(l, n, e.offset), "invalid expression in if: %s", e.message);
        return 0;
}

static bool valid_var_name(const char *s) {
        return *s && !strchr(s, '=');
}

static int set_vars(Loader *l, const YNode *n, const ExprParseOptions *opts, const char *what, bool outputs,
        WorkflowVars *ret) {
        int r;

        if (!visit(l, n) || !expect(l, n, Y_MAPPING, what))
                return 0;
        r = check_keys(l, n, &(KeySet){ .what = what });
        if (r < 0)
                return r;

        ret->items = calloc(n->n / 2 + 1, sizeof(WorkflowVar));
        if (!ret->items)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < n->n; i += 2) {
                const YNode *k = n->items[i], *v = n->items[i + 1];
                WorkflowVar *var;

                if (k->type != Y_SCALAR || !visit(l, k))
                        continue;
                if (outputs ? !valid_var_name(k->value) || strchr(k->value, ' ')
                            : !valid_var_name(k->value)) {
                        error_at(l, k->pos, "invalid name '%s' in %s", k->value, what);
                        continue;
                }
                if (v->type != Y_SCALAR) {
                        error_at(l, v->pos, "%s value of '%s' must be a string, not %s", what, k->value,
                                type_name(v));
                        continue;
                }
                var = &ret->items[ret->n++];
                var->name = strdup(k->value);
                if (!var->name)
                        return -ENOMEM;
                r = set_string(l, v, opts, what, &var->value);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void set_timeout(Loader *l, const YNode *n, uint64_t *ret) {
        double d;

        if (!visit(l, n))
                return;
        if (n->type == Y_SCALAR && strstr(n->value, "${{")) {
                error_at(l, n->pos, "expressions in timeout-minutes are not supported by runner-agent");
                return;
        }
        if (!as_number(n, &d) || !(d > 0) || d > WORKFLOW_MAX_TIMEOUT_MINUTES) {
                error_at(l, n->pos, "timeout-minutes must be a number of minutes above 0 and at most %u",
                        WORKFLOW_MAX_TIMEOUT_MINUTES);
                return;
        }
        *ret = (uint64_t) llround(d * 60e6);
}

static void set_boolean(Loader *l, const YNode *n, const char *what, bool *ret) {
        if (!visit(l, n))
                return;
        if (n->type == Y_SCALAR && strstr(n->value, "${{")) {
                error_at(l, n->pos, "expressions in %s are not supported by runner-agent", what);
                return;
        }
        if (!as_boolean(n, ret))
                error_at(l, n->pos, "%s must be true or false", what);
}

/* timeout-minutes and continue-on-error, which jobs and steps share */
static void set_limits(Loader *l, const YNode *map, uint64_t *ret_timeout, bool *ret_continue) {
        const YNode *v;

        v = map_get(map, "timeout-minutes");
        if (v)
                set_timeout(l, v, ret_timeout);
        v = map_get(map, "continue-on-error");
        if (v)
                set_boolean(l, v, "continue-on-error", ret_continue);
}

static bool valid_id(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n >= WORKFLOW_MAX_ID)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                            (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

static void id_error(Loader *l, const YNode *n, const char *what) {
        error_at(l, n->pos,
                "invalid %s id '%s': ids start with a letter or '_', contain only letters, digits, '-' and "
                "'_', and are shorter than %u characters",
                what, n->value, WORKFLOW_MAX_ID);
}

typedef struct RunDefaults {
        const char *shell; /* a resolved command line */
        const char *shell_name;
        const char *working_directory;
        const YNode *working_directory_node;
} RunDefaults;

/* Resolves a shell name or custom command line; NULL (after reporting) if invalid. */
static const char *resolve_shell(Loader *l, const YNode *n, const char **ret_name) {
        *ret_name = NULL;
        for (size_t i = 0; i < ELEMENTSOF(shells); i++)
                if (streq(n->value, shells[i].name)) {
                        *ret_name = shells[i].name;
                        return shells[i].command;
                }
        if (strstr(n->value, "{0}") && !strstr(n->value, "${{"))
                return n->value;
        if (streq(n->value, "cmd") || streq(n->value, "powershell"))
                error_at(l, n->pos, "shell '%s' exists only on Windows runners", n->value);
        else if (strstr(n->value, "${{"))
                error_at(l, n->pos, "expressions in shell are not supported");
        else
                error_at(l, n->pos,
                        "unknown shell '%s': use bash, sh, python, pwsh or a command line containing {0} for "
                        "the script file",
                        n->value);
        return NULL;
}

static int read_defaults(Loader *l, const YNode *n, RunDefaults *d) {
        static const char *const defaults_keys[] = { "run", NULL };
        static const char *const run_keys[] = { "shell", "working-directory", NULL };
        const YNode *run, *v;
        int r;

        if (!visit(l, n) || !expect(l, n, Y_MAPPING, "defaults"))
                return 0;
        r = check_keys(l, n, &(KeySet){ defaults_keys, NULL, "defaults" });
        if (r < 0)
                return r;
        run = map_get(n, "run");
        if (!run || !visit(l, run) || !expect(l, run, Y_MAPPING, "defaults.run"))
                return 0;
        r = check_keys(l, run, &(KeySet){ run_keys, NULL, "defaults.run" });
        if (r < 0)
                return r;

        v = map_get(run, "shell");
        if (v && visit(l, v) && expect(l, v, Y_SCALAR, "shell")) {
                const char *name, *cmd = resolve_shell(l, v, &name);
                if (cmd) {
                        d->shell = cmd;
                        d->shell_name = name;
                }
        }
        v = map_get(run, "working-directory");
        if (v && visit(l, v) && expect(l, v, Y_SCALAR, "working-directory")) {
                _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
                ExprError e = {};

                /* checked here once, not for every step that inherits it */
                r = expr_template_parse(v->value, v->len, &workflow_expr_step, &t, &e);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        error_at(l, scalar_pos(l, v, e.offset),
                                "invalid expression in working-directory: %s", e.message);
                else {
                        d->working_directory = v->value;
                        d->working_directory_node = v;
                }
        }
        return 0;
}

/* owner/repo@ref of actions/checkout: GitHub compares owner and repository names ignoring case. */
static bool is_checkout(const char *uses) {
        const char *at = strchr(uses, '@');

        return at && at[1] && (size_t) (at - uses) == STRLEN("actions/checkout") &&
                strncasecmp(uses, "actions/checkout", STRLEN("actions/checkout")) == 0;
}

/* with: of actions/checkout: what runs offline from the run's source; what needs GitHub's API is an
 * error that says so, and inputs that change nothing here are accepted. */
static int load_checkout_with(Loader *l, const YNode *n, WorkflowCheckout *c) {
        static const char *const keys[] = {
                "path",
                "clean",
                "fetch-depth",
                "persist-credentials",
                "show-progress",
                "fetch-tags",
                "set-safe-directory",
                "lfs",
                "submodules",
                "repository",
                "ref",
                "token",
                "ssh-key",
                "ssh-known-hosts",
                "ssh-strict",
                "ssh-user",
                "sparse-checkout",
                "sparse-checkout-cone-mode",
                "filter",
                "github-server-url",
                NULL,
        };
        static const char *const api[] = { "repository", "ref", "token", "ssh-key", "ssh-known-hosts",
                "ssh-strict", "ssh-user", "sparse-checkout", "sparse-checkout-cone-mode", "filter",
                "github-server-url", NULL };
        int r;

        if (!visit(l, n) || !expect(l, n, Y_MAPPING, "with"))
                return 0;
        r = check_keys(l, n, &(KeySet){ keys, NULL, "the inputs of actions/checkout" });
        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < n->n; i += 2) {
                const YNode *k = n->items[i], *v = n->items[i + 1];

                if (k->type != Y_SCALAR)
                        continue;
                if (!visit(l, v) || !expect(l, v, Y_SCALAR, k->value))
                        continue;
                if (in_list(api, k->value))
                        error_at(l, k->pos,
                                "actions/checkout input '%s' is not supported: runner-agent checks out the run's own source (a workflow file in a git work tree, or runnerctl run --source DIR), without GitHub's API",
                                k->value);
                else if ((streq(k->value, "lfs") || streq(k->value, "submodules")) &&
                        !streq(v->value, "false"))
                        error_at(l, v->pos,
                                "actions/checkout input '%s' is not supported: it needs GitHub's API; leave it false",
                                k->value);
                else if (streq(k->value, "path")) {
                        r = set_string(l, v, &workflow_expr_step, "path", &c->path);
                        if (r < 0)
                                return r;
                } else if (streq(k->value, "clean")) {
                        if (!strstr(v->value, "${{") && !streq(v->value, "true") &&
                                !streq(v->value, "false"))
                                error_at(l, v->pos, "'clean' must be true or false");
                        r = set_string(l, v, &workflow_expr_step, "clean", &c->clean);
                        if (r < 0)
                                return r;
                } else if (streq(k->value, "fetch-depth")) {
                        if (!strstr(v->value, "${{") &&
                                (v->len == 0 || v->len > 9 || strspn(v->value, "0123456789") != v->len))
                                error_at(l, v->pos, "'fetch-depth' must be a number of commits (0: all)");
                        r = set_string(l, v, &workflow_expr_step, "fetch-depth", &c->fetch_depth);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* uses: — actions/checkout only, for now; every other action is refused at its line. */
static int load_uses(Loader *l, const YNode *n, const YNode *with, WorkflowStep *s) {
        if (!visit(l, n) || !expect(l, n, Y_SCALAR, "uses"))
                return 0;
        if (!is_checkout(n->value)) {
                error_at(l, n->pos,
                        "uses: %s is not supported yet: of actions, runner-agent runs only actions/checkout (JavaScript, composite and container actions are not supported yet)",
                        n->value);
                return 0;
        }
        s->kind = WORKFLOW_STEP_CHECKOUT;
        s->uses = strdup(n->value);
        if (!s->uses)
                return -ENOMEM;
        return with ? load_checkout_with(l, with, &s->checkout) : 0;
}

static int load_step(Loader *l, const YNode *n, const RunDefaults *defaults, WorkflowStep *s) {
        static const char *const keys[] = {
                "id",
                "name",
                "if",
                "run",
                "uses",
                "with",
                "shell",
                "env",
                "working-directory",
                "timeout-minutes",
                "continue-on-error",
                NULL,
        };
        const YNode *v;
        int r;

        s->pos = n->pos;
        if (!expect(l, n, Y_MAPPING, "a step"))
                return 0;
        r = check_keys(l, n, &(KeySet){ keys, NULL, "a step" });
        if (r < 0)
                return r;

        v = map_get(n, "uses");
        if (v && map_get(n, "run"))
                error_at(l, map_key(n, "uses")->pos, "a step has either 'run' or 'uses', not both");
        else if (v) {
                r = load_uses(l, v, map_get(n, "with"), s);
                if (r < 0)
                        return r;
                for (const char *const *k = (const char *const[]){ "shell", "working-directory", NULL }; *k;
                        k++)
                        if (map_get(n, *k))
                                error_at(l, map_key(n, *k)->pos, "'%s' applies to run steps, not to uses",
                                        *k);
        } else if (map_get(n, "with"))
                error_at(l, map_key(n, "with")->pos, "'with' goes with 'uses'");

        v = map_get(n, "id");
        if (v && visit(l, v) && expect(l, v, Y_SCALAR, "id")) {
                if (!valid_id(v->value))
                        id_error(l, v, "step");
                s->id = strdup(v->value);
                if (!s->id)
                        return -ENOMEM;
        }

        v = map_get(n, "name");
        if (v && !is_null(v)) {
                r = set_string(l, v, &workflow_expr_step, "name", &s->name);
                if (r < 0)
                        return r;
        }

        r = set_condition(l, map_get(n, "if"), &opts_step_if, &s->condition);
        if (r < 0)
                return r;

        v = map_get(n, "run");
        if (!v) {
                if (!map_get(n, "uses"))
                        error_at(l, n->pos, "a step needs 'run'");
        } else if (map_get(n, "uses"))
                ; /* reported above */
        else if (is_null(v) || (v->type == Y_SCALAR && v->len == 0))
                error_at(l, v->pos, "'run' must not be empty");
        else {
                r = set_string(l, v, &workflow_expr_step, "run", &s->run);
                if (r < 0)
                        return r;
        }

        const char *shell = defaults->shell ?: DEFAULT_SHELL, *shell_name = defaults->shell_name;
        v = map_get(n, "shell");
        if (v && visit(l, v) && expect(l, v, Y_SCALAR, "shell")) {
                const char *name, *cmd = resolve_shell(l, v, &name);
                if (cmd) {
                        shell = cmd;
                        shell_name = name;
                }
        }
        s->shell = strdup(shell);
        if (!s->shell)
                return -ENOMEM;
        if (shell_name) {
                s->shell_name = strdup(shell_name);
                if (!s->shell_name)
                        return -ENOMEM;
        }

        v = map_get(n, "env");
        if (v) {
                r = set_vars(l, v, &workflow_expr_step, "env", false, &s->env);
                if (r < 0)
                        return r;
        }

        v = map_get(n, "working-directory") ?: defaults->working_directory_node;
        if (v) {
                r = set_string(l, v, &workflow_expr_step, "working-directory", &s->working_directory);
                if (r < 0)
                        return r;
        }

        set_limits(l, n, &s->timeout_usec, &s->continue_on_error);

        if (s->name.raw)
                s->display_name = strdup(s->name.raw);
        else if (s->uses)
                return asprintf(&s->display_name, "Run %s", s->uses) < 0 ? -ENOMEM : 0;
        else if (s->run.raw)
                return workflow_script_display_name(s->run.raw, &s->display_name);
        else
                return 0; /* reported: the workflow does not load */
        return s->display_name ? 0 : -ENOMEM;
}

static int load_needs(Loader *l, const YNode *n, WorkflowJob *j) {
        const YNode *const *items = &n;
        size_t count = 1;

        if (!visit(l, n))
                return 0;
        if (n->type == Y_SEQUENCE) {
                items = (const YNode *const *) n->items;
                count = n->n;
        } else if (n->type != Y_SCALAR) {
                error_at(l, n->pos, "needs must be a job id or a sequence of job ids, not %s", type_name(n));
                return 0;
        }

        j->needs = calloc(count + 1, sizeof(char *));
        j->needs_pos = calloc(count + 1, sizeof(WorkflowPos));
        j->needs_index = calloc(count + 1, sizeof(size_t));
        if (!j->needs || !j->needs_pos || !j->needs_index)
                return -ENOMEM;

        for (size_t i = 0; i < count; i++) {
                const YNode *item = items[i];
                bool dup = false;

                if (!visit(l, item) || !expect(l, item, Y_SCALAR, "a needs entry"))
                        continue;
                for (size_t k = 0; k < j->n_needs; k++)
                        dup = dup || streq(j->needs[k], item->value);
                if (dup)
                        continue;
                j->needs[j->n_needs] = strdup(item->value);
                if (!j->needs[j->n_needs])
                        return -ENOMEM;
                j->needs_pos[j->n_needs++] = item->pos;
        }
        return 0;
}

static char *runs_on_string(const YNode *n) {
        if (n->type == Y_SCALAR)
                return strdup(n->value);
        if (n->type == Y_SEQUENCE) {
                size_t len = 1;
                char *s, *p;

                for (size_t i = 0; i < n->n; i++)
                        len += (n->items[i]->type == Y_SCALAR ? n->items[i]->len : 0) + 1;
                s = p = malloc(len);
                if (!s)
                        return NULL;
                *p = '\0';
                for (size_t i = 0; i < n->n; i++)
                        if (n->items[i]->type == Y_SCALAR)
                                p = stpcpy(stpcpy(p, p == s ? "" : ","), n->items[i]->value);
                return s;
        }
        return strdup("");
}

/* strategy */

static int compare_keys_ci(const void *a, const void *b) {
        const KeyRef *x = a, *y = b;
        int c = expr_string_compare_ci(x->key, strlen(x->key), y->key, strlen(y->key));

        if (c != 0)
                return c;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Matrix keys become the keys of a value, which compare case-insensitively: "os" and "OS" would be
 * one. check_keys() has reported keys that are exactly equal already. */
static int check_keys_ci(Loader *l, const YNode *map) {
        _cleanup_free_ KeyRef *refs = NULL;
        size_t n = 0;

        refs = calloc(map->n / 2 + 1, sizeof(KeyRef));
        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < map->n; i += 2)
                if (map->items[i]->type == Y_SCALAR)
                        refs[n++] = (KeyRef){ .key = map->items[i]->value, .index = i };
        qsort(refs, n, sizeof(KeyRef), compare_keys_ci);
        for (size_t i = 1, first = 0; i < n; i++) {
                if (expr_string_compare_ci(refs[i].key, strlen(refs[i].key), refs[first].key,
                            strlen(refs[first].key)) != 0) {
                        first = i;
                        continue;
                }
                if (!streq(refs[i].key, refs[first].key))
                        error_at(l, map->items[refs[i].index]->pos,
                                "duplicate key '%s' in the matrix: keys compare case-insensitively (first "
                                "at line %u)",
                                refs[i].key, map->items[refs[first].index]->pos.line);
        }
        return 0;
}

static int scalar_value(Loader *l, const YNode *n, WorkflowValue *v) {
        ExprError e = {};
        double d;
        bool b;
        int r;

        if (strstr(n->value, "${{")) {
                v->kind = EXPR_STRING;
                v->has_templates = true;
                r = expr_template_parse(n->value, n->len, &opts_matrix, &v->template, &e);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        error_at(l, scalar_pos(l, n, e.offset), "invalid expression in matrix: %s",
                                e.message);
                return 0;
        }
        if (is_null(n))
                v->literal = expr_value_new_null();
        else if (as_boolean(n, &b))
                v->literal = expr_value_new_boolean(b);
        else if (as_number(n, &d))
                v->literal = expr_value_new_number(d);
        else
                v->literal = expr_value_new_string(n->value, n->len);
        if (!v->literal)
                return -ENOMEM;
        v->kind = v->literal->kind;
        return 0;
}

/* The YAML as a WorkflowValue; NULL in *ret for a node past the visit budget. */
static int load_value(Loader *l, const YNode *n, WorkflowValue **ret) {
        _cleanup_(workflow_value_freep) WorkflowValue *v = NULL;
        int r;

        *ret = NULL;
        if (!visit(l, n))
                return 0;
        v = calloc(1, sizeof(WorkflowValue));
        if (!v)
                return -ENOMEM;
        v->pos = n->pos;
        if (n->type == Y_SCALAR) {
                r = scalar_value(l, n, v);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(v);
                return 0;
        }

        v->kind = n->type == Y_MAPPING ? EXPR_OBJECT : EXPR_ARRAY;
        v->items = calloc(n->n + 1, sizeof(WorkflowValue *));
        if (!v->items)
                return -ENOMEM;
        if (n->type == Y_MAPPING) {
                r = check_keys(l, n, &(KeySet){ .what = "the matrix" });
                if (r >= 0)
                        r = check_keys_ci(l, n);
                if (r < 0)
                        return r;
                v->keys = calloc(n->n / 2 + 1, sizeof(char *));
                v->key_pos = calloc(n->n / 2 + 1, sizeof(WorkflowPos));
                if (!v->keys || !v->key_pos)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n->n; i += n->type == Y_MAPPING ? 2 : 1) {
                const YNode *k = n->type == Y_MAPPING ? n->items[i] : NULL, *item = n->items[i + !!k];
                WorkflowValue *child;

                if (k && (k->type != Y_SCALAR || !visit(l, k)))
                        continue;
                r = load_value(l, item, &child);
                if (r < 0)
                        return r;
                if (!child)
                        continue;
                v->items[v->n] = child;
                v->has_templates = v->has_templates || child->has_templates;
                if (k) {
                        v->key_pos[v->n] = k->pos;
                        v->keys[v->n] = strdup(k->value);
                        if (!v->keys[v->n]) {
                                v->n++;
                                return -ENOMEM;
                        }
                }
                v->n++;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* Where a MatrixError about a matrix written as YAML points. */
static WorkflowPos matrix_error_pos(const YNode *key, const YNode *matrix, const MatrixError *e) {
        const YNode *list, *item, *k;

        switch (e->where) {
        case MATRIX_ERROR_VECTOR:
                if (2 * e->index < matrix->n)
                        return matrix->items[2 * e->index]->pos;
                break;
        case MATRIX_ERROR_INCLUDE:
        case MATRIX_ERROR_EXCLUDE:
                list = map_get(matrix, e->where == MATRIX_ERROR_INCLUDE ? "include" : "exclude");
                if (!list)
                        break;
                if (list->type != Y_SEQUENCE || e->index >= list->n)
                        return list->pos;
                item = list->items[e->index];
                k = e->key && item->type == Y_MAPPING ? map_key(item, e->key) : NULL;
                return k ? k->pos : item->pos;
        default:
                break;
        }
        return key->pos;
}

/* A matrix with ${{ }} gets the checks its written parts allow; it is expanded when its job becomes
 * ready. */
static void check_matrix_shape(Loader *l, const YNode *n) {
        for (size_t i = 0; n->type == Y_MAPPING && i + 1 < n->n; i += 2) {
                const YNode *k = n->items[i], *v = n->items[i + 1];
                bool list;

                if (k->type != Y_SCALAR || (v->type == Y_SCALAR && strstr(v->value, "${{")))
                        continue;
                list = streq(k->value, "include") || streq(k->value, "exclude");
                if (v->type != Y_SEQUENCE)
                        error_at(l, v->pos,
                                list ? "%s must be a sequence" : "matrix vector '%s' must be a sequence",
                                k->value);
                else if (!list && v->n == 0)
                        error_at(l, v->pos, "matrix vector '%s' does not contain any values", k->value);
                for (size_t j = 0; list && v->type == Y_SEQUENCE && j < v->n; j++) {
                        const YNode *item = v->items[j];
                        if (item->type == Y_SEQUENCE ||
                                (item->type == Y_SCALAR && !strstr(item->value, "${{")))
                                error_at(l, item->pos, "%s item %zu must be a mapping, not %s", k->value,
                                        j + 1, type_name(item));
                }
        }
}

/* A matrix without ${{ }} is expanded now, so that its errors point at the YAML. */
static int expand_matrix(Loader *l, const YNode *key, const YNode *n, WorkflowStrategy *s) {
        _cleanup_(matrix_expansion_done) MatrixExpansion m = {};
        _cleanup_(expr_value_unrefp) ExprValue *definition = NULL;
        MatrixError error = {};
        int r;

        r = workflow_value_evaluate(s->matrix, NULL, &definition, NULL, NULL);
        if (r < 0) /* only memory: the keys were checked and there are no templates */
                return r == -ENOMEM ? r : 0;
        r = matrix_expand(definition, &m, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                error_at(l, matrix_error_pos(key, n, &error), "%s", error.message);
        else
                s->n_combinations = m.n;
        return 0;
}

static int load_matrix(Loader *l, const YNode *key, const YNode *n, WorkflowStrategy *s) {
        size_t errors = l->errors.n;
        int r;

        if (!visit(l, n))
                return 0;
        if (n->type == Y_SEQUENCE || (n->type == Y_SCALAR && !strstr(n->value, "${{"))) {
                error_at(l, n->pos, "matrix must be a mapping or a ${{ }} expression, not %s", type_name(n));
                return 0;
        }
        r = load_value(l, n, &s->matrix);
        if (r < 0 || !s->matrix)
                return r;
        if (s->matrix->has_templates || l->errors.n != errors) {
                check_matrix_shape(l, n);
                return 0;
        }
        return expand_matrix(l, key, n, s);
}

static void set_max_parallel(Loader *l, const YNode *n, unsigned *ret) {
        double d;

        if (!visit(l, n))
                return;
        if (n->type == Y_SCALAR && strstr(n->value, "${{")) {
                error_at(l, n->pos, "expressions in max-parallel are not supported by runner-agent");
                return;
        }
        if (!as_number(n, &d) || !(d >= 1) || d > INT32_MAX || d != floor(d)) {
                error_at(l, n->pos, "max-parallel must be a whole number above 0");
                return;
        }
        *ret = (unsigned) d;
}

static int load_strategy(Loader *l, const YNode *key, const YNode *n, WorkflowJob *j) {
        static const char *const keys[] = { "matrix", "fail-fast", "max-parallel", NULL };
        const YNode *v;
        int r;

        if (!visit(l, n) || !expect(l, n, Y_MAPPING, "strategy"))
                return 0;
        r = check_keys(l, n, &(KeySet){ keys, NULL, "strategy" });
        if (r < 0)
                return r;

        j->strategy = calloc(1, sizeof(WorkflowStrategy));
        if (!j->strategy)
                return -ENOMEM;
        j->strategy->pos = key->pos;
        j->strategy->fail_fast = true;
        v = map_get(n, "fail-fast");
        if (v)
                set_boolean(l, v, "fail-fast", &j->strategy->fail_fast);
        v = map_get(n, "max-parallel");
        if (v)
                set_max_parallel(l, v, &j->strategy->max_parallel);
        v = map_get(n, "matrix");
        if (v)
                return load_matrix(l, map_key(n, "matrix"), v, j->strategy);
        return 0;
}

/* concurrency: GROUP, or a mapping with group and cancel-in-progress; each may hold ${{ }}. A group
 * without ${{ }} is checked now: not empty, under 400 characters. */
static int load_concurrency(Loader *l, const YNode *key, const YNode *n, const ExprParseOptions *opts,
        WorkflowConcurrency **ret) {
        static const char *const keys[] = { "group", "cancel-in-progress", NULL };
        const YNode *group = n, *cancel = NULL;
        WorkflowConcurrency *c;
        bool b;
        int r;

        if (!visit(l, n))
                return 0;
        if (n->type == Y_SEQUENCE) {
                error_at(l, n->pos,
                        "concurrency must be a group or a mapping of group and cancel-in-progress, "
                        "not a sequence");
                return 0;
        }
        if (n->type == Y_MAPPING) {
                r = check_keys(l, n, &(KeySet){ keys, NULL, "concurrency" });
                if (r < 0)
                        return r;
                group = map_get(n, "group");
                cancel = map_get(n, "cancel-in-progress");
                if (!group) {
                        error_at(l, n->pos, "concurrency needs a group");
                        return 0;
                }
                if (!visit(l, group))
                        return 0;
        }
        if (!expect(l, group, Y_SCALAR, n == group ? "concurrency" : "group"))
                return 0;

        *ret = c = calloc(1, sizeof(WorkflowConcurrency));
        if (!c)
                return -ENOMEM;
        c->pos = key->pos;
        r = set_string(l, group, opts, "concurrency group", &c->group);
        if (r < 0)
                return r;
        if (c->group.raw && !strstr(c->group.raw, "${{")) {
                size_t chars = 0;

                for (const char *p = c->group.raw; *p; p++)
                        chars += ((unsigned char) *p & 0xC0) != 0x80;
                if (chars == 0)
                        error_at(l, group->pos, "the concurrency group must not be empty");
                else if (chars >= WORKFLOW_MAX_CONCURRENCY_GROUP)
                        error_at(l, group->pos, "the concurrency group must be shorter than %u characters",
                                WORKFLOW_MAX_CONCURRENCY_GROUP);
        }
        if (!cancel || !visit(l, cancel))
                return 0;
        if (cancel->type == Y_SCALAR && !strstr(cancel->value, "${{") && !as_boolean(cancel, &b)) {
                error_at(l, cancel->pos, "cancel-in-progress must be true, false or a ${{ }} expression");
                return 0;
        }
        return set_string(l, cancel, opts, "cancel-in-progress", &c->cancel_in_progress);
}

static int load_job(
        Loader *l, const YNode *key, const YNode *n, const RunDefaults *workflow_defaults, WorkflowJob *j) {
        static const char *const keys[] = {
                "name",
                "needs",
                "if",
                "env",
                "outputs",
                "timeout-minutes",
                "continue-on-error",
                "defaults",
                "steps",
                "runs-on",
                "strategy",
                "concurrency",
                NULL,
        };
        static const char *const unsupported[] = {
                "uses",
                "with",
                "secrets",
                "services",
                "container",
                "permissions",
                "environment",
                NULL,
        };
        RunDefaults defaults = *workflow_defaults;
        const YNode *v, *steps;
        unsigned generated = 0;
        int r;

        j->pos = key->pos;
        j->id = strdup(key->value);
        if (!j->id)
                return -ENOMEM;
        if (!valid_id(key->value))
                id_error(l, key, "job");
        j->timeout_usec = (uint64_t) WORKFLOW_DEFAULT_JOB_TIMEOUT_MINUTES * 60 * 1000000;

        if (!visit(l, n))
                return 0;
        if (n->type != Y_MAPPING) {
                error_at(l, n->pos, "job '%s' must be a mapping, not %s", key->value, type_name(n));
                return 0;
        }
        r = check_keys(l, n, &(KeySet){ keys, unsupported, "a job" });
        if (r < 0)
                return r;

        v = map_get(n, "name");
        if (v && !is_null(v)) {
                r = set_string(l, v, &opts_job_name, "name", &j->name);
                if (r < 0)
                        return r;
        }
        v = map_get(n, "needs");
        if (v) {
                r = load_needs(l, v, j);
                if (r < 0)
                        return r;
        }
        r = set_condition(l, map_get(n, "if"), &workflow_expr_job_if, &j->condition);
        if (r < 0)
                return r;
        v = map_get(n, "env");
        if (v) {
                r = set_vars(l, v, &opts_job_env, "env", false, &j->env);
                if (r < 0)
                        return r;
        }
        v = map_get(n, "outputs");
        if (v) {
                r = set_vars(l, v, &opts_job_outputs, "outputs", true, &j->outputs);
                if (r < 0)
                        return r;
        }
        set_limits(l, n, &j->timeout_usec, &j->continue_on_error);
        v = map_get(n, "runs-on");
        if (v && visit(l, v)) {
                j->runs_on = runs_on_string(v);
                if (!j->runs_on)
                        return -ENOMEM;
        }
        v = map_get(n, "defaults");
        if (v) {
                r = read_defaults(l, v, &defaults);
                if (r < 0)
                        return r;
        }
        v = map_get(n, "strategy");
        if (v) {
                r = load_strategy(l, map_key(n, "strategy"), v, j);
                if (r < 0)
                        return r;
        }
        v = map_get(n, "concurrency");
        if (v) {
                r = load_concurrency(
                        l, map_key(n, "concurrency"), v, &opts_job_concurrency, &j->concurrency);
                if (r < 0)
                        return r;
        }

        steps = map_get(n, "steps");
        if (!steps) {
                if (!map_get(n, "uses"))
                        error_at(l, key->pos, "job '%s' has no steps", key->value);
                return 0;
        }
        if (!visit(l, steps) || !expect(l, steps, Y_SEQUENCE, "steps"))
                return 0;
        if (steps->n == 0) {
                error_at(l, steps->pos, "job '%s' has no steps", key->value);
                return 0;
        }
        if (steps->n > WORKFLOW_MAX_STEPS)
                error_at(l, steps->items[WORKFLOW_MAX_STEPS]->pos,
                        "job '%s' has %zu steps, more than the limit of %u", key->value, steps->n,
                        WORKFLOW_MAX_STEPS);

        j->steps = calloc(MIN(steps->n, WORKFLOW_MAX_STEPS), sizeof(WorkflowStep));
        if (!j->steps)
                return -ENOMEM;
        for (size_t i = 0; i < steps->n && i < WORKFLOW_MAX_STEPS; i++) {
                WorkflowStep *s = &j->steps[j->n_steps++];

                s->number = (unsigned) j->n_steps;
                if (!visit(l, steps->items[i]))
                        break;
                r = load_step(l, steps->items[i], &defaults, s);
                if (r < 0)
                        return r;
        }

        /* duplicate ids, then GitHub's generated ids for steps without one: __run, __run_2, … */
        for (size_t i = 0; i < j->n_steps; i++) {
                if (!j->steps[i].id)
                        continue;
                for (size_t k = 0; k < i; k++)
                        if (j->steps[k].id && strcasecmp(j->steps[k].id, j->steps[i].id) == 0) {
                                const YNode *id = map_get(steps->items[i], "id");
                                error_at(l, id ? id->pos : j->steps[i].pos,
                                        "duplicate step id '%s' in job '%s' (first at line %u)",
                                        j->steps[i].id, j->id, j->steps[k].pos.line);
                                break;
                        }
        }
        for (size_t i = 0; i < j->n_steps; i++) {
                bool taken;
                char *id;

                if (j->steps[i].id)
                        continue;
                do {
                        generated++;
                        if (generated == 1)
                                id = strdup("__run");
                        else if (asprintf(&id, "__run_%u", generated) < 0)
                                id = NULL;
                        if (!id)
                                return -ENOMEM;
                        taken = false;
                        for (size_t k = 0; k < j->n_steps; k++)
                                taken = taken || (j->steps[k].id && strcasecmp(j->steps[k].id, id) == 0);
                        if (taken)
                                free(id);
                } while (taken);
                j->steps[i].id = id;
                j->steps[i].id_generated = true;
        }
        return 0;
}

/* needs: every name known, no cycles */

static bool find_cycle(Workflow *w, size_t i, unsigned char *state, size_t *path, size_t depth,
        size_t *ret_len, size_t *ret_start) {
        state[i] = 1;
        path[depth] = i;
        for (size_t k = 0; k < w->jobs[i].n_needs; k++) {
                size_t t = w->jobs[i].needs_index[k];

                if (t == SIZE_MAX)
                        continue;
                if (state[t] == 1) {
                        for (size_t s = 0; s <= depth; s++)
                                if (path[s] == t)
                                        *ret_start = s;
                        *ret_len = depth + 1;
                        return true;
                }
                if (state[t] == 0 && find_cycle(w, t, state, path, depth + 1, ret_len, ret_start))
                        return true;
        }
        state[i] = 2;
        return false;
}

static int check_needs(Loader *l, Workflow *w) {
        _cleanup_free_ unsigned char *state = NULL;
        _cleanup_free_ size_t *path = NULL;

        for (size_t i = 0; i < w->n_jobs; i++) {
                WorkflowJob *j = &w->jobs[i];

                for (size_t k = 0; k < j->n_needs; k++) {
                        j->needs_index[k] = SIZE_MAX;
                        for (size_t t = 0; t < w->n_jobs; t++)
                                if (streq(w->jobs[t].id, j->needs[k]))
                                        j->needs_index[k] = t;
                        if (j->needs_index[k] == SIZE_MAX)
                                error_at(l, j->needs_pos[k], "job '%s' needs unknown job '%s'", j->id,
                                        j->needs[k]);
                }
        }

        state = calloc(w->n_jobs + 1, 1);
        path = calloc(w->n_jobs + 1, sizeof(size_t));
        if (!state || !path)
                return -ENOMEM;
        for (size_t i = 0; i < w->n_jobs; i++) {
                size_t len = 0, start = 0;

                if (state[i] != 0 || !find_cycle(w, i, state, path, 0, &len, &start))
                        continue;

                _cleanup_free_ char *chain = NULL;
                size_t size = 1;
                char *p;

                for (size_t s = start; s < len; s++)
                        size += strlen(w->jobs[path[s]].id) + 5;
                size += strlen(w->jobs[path[start]].id);
                chain = p = malloc(size);
                if (!chain)
                        return -ENOMEM;
                for (size_t s = start; s < len; s++)
                        p = stpcpy(stpcpy(p, w->jobs[path[s]].id), " → ");
                strcpy(p, w->jobs[path[start]].id);
                error_at(l, w->jobs[path[start]].pos, "jobs depend on each other in a cycle: %s", chain);
                /* mark the whole component done so each cycle is reported once */
                for (size_t s = 0; s < w->n_jobs; s++)
                        if (state[s] == 1)
                                state[s] = 2;
        }
        return 0;
}

static void vars_done(WorkflowVars *v) {
        for (size_t i = 0; i < v->n; i++) {
                free(v->items[i].name);
                free(v->items[i].value.raw);
                expr_template_free(v->items[i].value.template);
        }
        free(v->items);
}

static void string_done(WorkflowString *s) {
        free(s->raw);
        expr_template_free(s->template);
}

static void condition_done(WorkflowCondition *c) {
        free(c->raw);
        expr_node_free(c->node);
}

int workflow_script_display_name(const char *script, char **ret) {
        const char *line = script + strspn(script, " \t\r\n");
        size_t len = strcspn(line, "\r\n"), chars = 0, cut = 0;

        /* Count characters by their first byte; stop before the one past the limit. */
        for (; cut < len; cut++)
                if (((unsigned char) line[cut] & 0xC0) != 0x80 && chars++ == WORKFLOW_MAX_DISPLAY_NAME)
                        break;
        return asprintf(ret, "Run %.*s", (int) cut, line) < 0 ? -ENOMEM : 0;
}

static int compare_errors(const void *a, const void *b);

int workflow_check_runnable(const Workflow *w, WorkflowErrors *errors) {
        Loader l = {};
        int r = 0;

        for (size_t i = 0; i < w->n_jobs; i++) {
                const WorkflowStrategy *s = w->jobs[i].strategy;

                if (!s || !s->matrix)
                        continue;
                if (s->matrix->has_templates)
                        continue; /* expanded when its job is ready */
                if (s->n_combinations == 0)
                        error_at(&l, s->pos, "the matrix of job '%s' has no combinations", w->jobs[i].id);
                else
                        continue;
                r = -EOPNOTSUPP;
        }
        if (l.oom) {
                workflow_errors_done(&l.errors);
                return -ENOMEM;
        }
        if (l.errors.n > 1) /* the workflow's concurrency may come after the jobs */
                qsort(l.errors.errors, l.errors.n, sizeof(WorkflowError), compare_errors);
        if (errors) {
                workflow_errors_done(errors);
                *errors = l.errors;
        } else
                workflow_errors_done(&l.errors);
        return r;
}

static void concurrency_free(WorkflowConcurrency *c) {
        if (!c)
                return;
        string_done(&c->group);
        string_done(&c->cancel_in_progress);
        free(c);
}

Workflow *workflow_free(Workflow *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_jobs; i++) {
                WorkflowJob *j = &w->jobs[i];

                for (size_t k = 0; k < j->n_steps; k++) {
                        WorkflowStep *s = &j->steps[k];
                        free(s->id);
                        string_done(&s->name);
                        free(s->display_name);
                        condition_done(&s->condition);
                        string_done(&s->run);
                        string_done(&s->checkout.path);
                        string_done(&s->checkout.clean);
                        string_done(&s->checkout.fetch_depth);
                        free(s->uses);
                        free(s->shell);
                        free(s->shell_name);
                        vars_done(&s->env);
                        string_done(&s->working_directory);
                }
                free(j->steps);
                free(j->id);
                string_done(&j->name);
                for (size_t k = 0; k < j->n_needs; k++)
                        free(j->needs[k]);
                free(j->needs);
                free(j->needs_index);
                free(j->needs_pos);
                condition_done(&j->condition);
                vars_done(&j->env);
                vars_done(&j->outputs);
                free(j->runs_on);
                if (j->strategy)
                        workflow_value_free(j->strategy->matrix);
                free(j->strategy);
                concurrency_free(j->concurrency);
        }
        free(w->jobs);
        concurrency_free(w->concurrency);
        for (size_t i = 0; i < w->n_on; i++)
                free(w->on[i]);
        free(w->on);
        free(w->name);
        vars_done(&w->env);
        free(w);
        return NULL;
}

const WorkflowJob *workflow_find_job(const Workflow *w, const char *id) {
        for (size_t i = 0; i < w->n_jobs; i++)
                if (streq(w->jobs[i].id, id))
                        return &w->jobs[i];
        return NULL;
}

static int load_on(Loader *l, const YNode *n, Workflow *w) {
        size_t count = n->type == Y_SCALAR ? 1 : n->type == Y_SEQUENCE ? n->n : n->n / 2;

        if (!visit(l, n))
                return 0;
        w->on = calloc(count + 1, sizeof(char *));
        if (!w->on)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                const YNode *e = n->type == Y_SCALAR ? n
                        : n->type == Y_SEQUENCE      ? n->items[i]
                                                     : n->items[2 * i];

                if (e->type != Y_SCALAR) {
                        error_at(l, e->pos, "on: event names must be strings, not %s", type_name(e));
                        continue;
                }
                w->on[w->n_on] = strdup(e->value);
                if (!w->on[w->n_on])
                        return -ENOMEM;
                w->n_on++;
        }
        return 0;
}

static int load_workflow(Loader *l, Workflow *w) {
        static const char *const keys[] = { "name", "on", "env", "defaults", "jobs", "concurrency", NULL };
        static const char *const unsupported[] = { "run-name", "permissions", NULL };
        const YNode *root = l->root, *v, *jobs;
        RunDefaults defaults = {};
        int r;

        if (!root || (root->type == Y_SCALAR && is_null(root))) {
                error_at(l, (WorkflowPos){ 1, 1 }, "the workflow is empty");
                return 0;
        }
        if (!visit(l, root))
                return 0;
        if (root->type != Y_MAPPING) {
                error_at(l, root->pos, "a workflow must be a mapping, not %s", type_name(root));
                return 0;
        }
        r = check_keys(l, root, &(KeySet){ keys, unsupported, "the workflow" });
        if (r < 0)
                return r;

        v = map_get(root, "concurrency");
        if (v) {
                r = load_concurrency(
                        l, map_key(root, "concurrency"), v, &opts_workflow_concurrency, &w->concurrency);
                if (r < 0)
                        return r;
        }
        v = map_get(root, "name");
        if (v && visit(l, v) && expect(l, v, Y_SCALAR, "name")) {
                w->name = strdup(v->value);
                if (!w->name)
                        return -ENOMEM;
        }
        v = map_get(root, "on");
        if (v) {
                r = load_on(l, v, w);
                if (r < 0)
                        return r;
        }
        v = map_get(root, "env");
        if (v) {
                r = set_vars(l, v, &opts_workflow_env, "env", false, &w->env);
                if (r < 0)
                        return r;
        }
        v = map_get(root, "defaults");
        if (v) {
                r = read_defaults(l, v, &defaults);
                if (r < 0)
                        return r;
        }

        jobs = map_get(root, "jobs");
        if (!jobs) {
                error_at(l, root->pos, "the workflow has no jobs");
                return 0;
        }
        if (!visit(l, jobs) || !expect(l, jobs, Y_MAPPING, "jobs"))
                return 0;
        if (jobs->n == 0) {
                error_at(l, map_key(root, "jobs")->pos, "the workflow has no jobs");
                return 0;
        }
        r = check_keys(l, jobs, &(KeySet){ .what = "jobs" });
        if (r < 0)
                return r;
        if (jobs->n / 2 > WORKFLOW_MAX_JOBS)
                error_at(l, jobs->items[2 * WORKFLOW_MAX_JOBS]->pos,
                        "the workflow has %zu jobs, more than the limit of %u", jobs->n / 2,
                        WORKFLOW_MAX_JOBS);

        w->jobs = calloc(MIN(jobs->n / 2, WORKFLOW_MAX_JOBS), sizeof(WorkflowJob));
        if (!w->jobs)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < jobs->n && w->n_jobs < WORKFLOW_MAX_JOBS; i += 2) {
                const YNode *k = jobs->items[i];
                WorkflowJob *j;

                if (k->type != Y_SCALAR || !visit(l, k))
                        continue;
                j = &w->jobs[w->n_jobs++];
                j->number = (unsigned) w->n_jobs;
                r = load_job(l, k, jobs->items[i + 1], &defaults, j);
                if (r < 0)
                        return r;
        }

        return check_needs(l, w);
}

static int compare_errors(const void *a, const void *b) {
        const WorkflowError *x = a, *y = b;

        if (x->pos.line != y->pos.line)
                return x->pos.line < y->pos.line ? -1 : 1;
        if (x->pos.column != y->pos.column)
                return x->pos.column < y->pos.column ? -1 : 1;
        return 0;
}

int workflow_load(const char *text, size_t len, Workflow **ret, WorkflowErrors *errors) {
        _cleanup_(workflow_freep) Workflow *w = NULL;
        Loader l = { .text = text, .len = len };
        int r;

        if (len > WORKFLOW_MAX_SIZE) {
                error_at(&l, (WorkflowPos){ 1, 1 }, "the file has %zu bytes, more than the limit of %u", len,
                        WORKFLOW_MAX_SIZE);
                r = -EINVAL;
                goto finish;
        }
        if (memchr(text, '\0', len)) {
                size_t at = (size_t) ((const char *) memchr(text, '\0', len) - text);
                unsigned line = 1, column = 1;

                for (size_t i = 0; i < at; i++, column++)
                        if (text[i] == '\n') {
                                line++;
                                column = 0;
                        }
                error_at(&l, (WorkflowPos){ line, column }, "the file contains a NUL byte");
                r = -EINVAL;
                goto finish;
        }

        r = build_tree(&l);
        if (r < 0)
                goto finish;

        w = calloc(1, sizeof(Workflow));
        if (!w) {
                r = -ENOMEM;
                goto finish;
        }
        r = load_workflow(&l, w);
        if (r >= 0 && l.oom)
                r = -ENOMEM;
        if (r >= 0 && l.errors.n > 0)
                r = -EINVAL;

finish:
        if (l.oom && r >= 0)
                r = -ENOMEM;
        /* keep the "too many errors" line last */
        if (l.errors.n > 1)
                qsort(l.errors.errors, l.errors.n - (l.errors.truncated ? 1 : 0), sizeof(WorkflowError),
                        compare_errors);
        if (errors) {
                *errors = l.errors;
                l.errors = (WorkflowErrors){};
        }
        loader_done(&l);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}
