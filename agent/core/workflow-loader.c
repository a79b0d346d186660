/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <yaml.h>

#include "alloc-util.h"
#include "macro.h"
#include "workflow-loader.h"

/* The loader's machinery that workflows and actions share (workflow-loader.h). */

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

_printf_(3, 4) void loader_error_at(Loader *l, WorkflowPos pos, const char *fmt, ...) {
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
        loader_error_at(l, mark_pos(ev->start_mark), "YAML tag '%s' is not supported", (const char *) tag);
        return false;
}

/* Builds the tree. Returns 0, -EINVAL after a YAML error (reported), or -ENOMEM. */
static int loader_build_tree(Loader *l) {
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
                        loader_error_at(l, mark_pos(parser.problem_mark), "YAML syntax error: %s%s%s",
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
                                loader_error_at(l, mark_pos(ev.start_mark),
                                        "%s holds one YAML document, found a second", l->document);
                                r = -EINVAL;
                        }
                        break;

                case YAML_ALIAS_EVENT:
                        n = anchor_find(l, ev.data.alias.anchor);
                        if (!n) {
                                loader_error_at(l, mark_pos(ev.start_mark), "unknown YAML alias '*%s'",
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
                                loader_error_at(l, mark_pos(ev.start_mark),
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
                                loader_error_at(l, mark_pos(ev.start_mark),
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
bool loader_visit(Loader *l, const YNode *n) {
        if (++l->visited == WORKFLOW_MAX_NODES + 1)
                loader_error_at(l, n->pos, "more than %u YAML nodes (counting each use of an alias)",
                        WORKFLOW_MAX_NODES);
        return l->visited <= WORKFLOW_MAX_NODES;
}

bool ynode_is_plain(const YNode *n) {
        return n->type == Y_SCALAR && n->style == YAML_PLAIN_SCALAR_STYLE && !n->tagged_string;
}

bool ynode_is_null(const YNode *n) {
        return ynode_is_plain(n) &&
                (n->len == 0 || streq(n->value, "~") || streq(n->value, "null") || streq(n->value, "Null") ||
                        streq(n->value, "NULL"));
}

bool ynode_as_boolean(const YNode *n, bool *ret) {
        if (!ynode_is_plain(n))
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
bool ynode_as_number(const YNode *n, double *ret) {
        const char *s = n->value;
        size_t i = 0, digits = 0;

        if (!ynode_is_plain(n) || n->len == 0 || n->len > 64)
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

const char *ynode_type_name(const YNode *n) {
        return n->type == Y_MAPPING ? "a mapping" : n->type == Y_SEQUENCE ? "a sequence" : "a scalar";
}

/* The source position of byte offset in a scalar's value: exact for one-line plain and quoted
 * scalars without escapes before it and for literal blocks; the scalar's start otherwise. */
WorkflowPos loader_scalar_pos(Loader *l, const YNode *n, size_t offset) {
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

bool loader_in_list(const char *const *list, const char *s) {
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

static int compare_keys(const void *a, const void *b) {
        const KeyRef *x = a, *y = b;
        int c = strcmp(x->key, y->key);

        if (c != 0)
                return c;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Reports keys that are not strings, duplicated, unsupported or unknown. Duplicates are found by
 * sorting, as a generated env: mapping may have many thousands of keys. */
int loader_check_keys(Loader *l, const YNode *map, const KeySet *set) {
        _cleanup_free_ KeyRef *refs = NULL;
        size_t n = 0;

        refs = calloc(map->n / 2 + 1, sizeof(KeyRef));
        if (!refs)
                return -ENOMEM;

        for (size_t i = 0; i + 1 < map->n; i += 2) {
                const YNode *k = map->items[i];

                if (k->type != Y_SCALAR) {
                        loader_error_at(l, k->pos, "keys in %s must be strings, not %s", set->what,
                                ynode_type_name(k));
                        continue;
                }
                refs[n++] = (KeyRef){ .key = k->value, .index = i };
                if (!set->allowed)
                        continue;
                if (loader_in_list(set->unsupported, k->value))
                        loader_error_at(l, k->pos, "'%s' is not supported by runner-agent (in %s)", k->value,
                                set->what);
                else if (!loader_in_list(set->allowed, k->value)) {
                        _cleanup_free_ char *keys = join_list(set->allowed);
                        loader_error_at(l, k->pos, "unknown key '%s' in %s (expected one of: %s)", k->value,
                                set->what, keys ?: "?");
                }
        }

        qsort(refs, n, sizeof(KeyRef), compare_keys);
        for (size_t i = 1, first = 0; i < n; i++) {
                if (!streq(refs[i].key, refs[first].key)) {
                        first = i;
                        continue;
                }
                loader_error_at(l, map->items[refs[i].index]->pos,
                        "duplicate key '%s' in %s (first at line %u)", refs[i].key, set->what,
                        map->items[refs[first].index]->pos.line);
        }
        return 0;
}

const YNode *ynode_map_get(const YNode *map, const char *key) {
        for (size_t i = 0; i + 1 < map->n; i += 2)
                if (map->items[i]->type == Y_SCALAR && streq(map->items[i]->value, key))
                        return map->items[i + 1];
        return NULL;
}

const YNode *ynode_map_key(const YNode *map, const char *key) {
        for (size_t i = 0; i + 1 < map->n; i += 2)
                if (map->items[i]->type == Y_SCALAR && streq(map->items[i]->value, key))
                        return map->items[i];
        return NULL;
}

bool loader_expect(Loader *l, const YNode *n, YType type, const char *what) {
        static const char *const names[] = { "a string", "a sequence", "a mapping" };

        if (n->type == type)
                return true;
        loader_error_at(l, n->pos, "%s must be %s, not %s", what, names[type], ynode_type_name(n));
        return false;
}

/* Model building */

int loader_set_string(
        Loader *l, const YNode *n, const ExprParseOptions *opts, const char *what, WorkflowString *ret) {
        ExprError e = {};
        int r;

        if (!loader_visit(l, n) || !loader_expect(l, n, Y_SCALAR, what))
                return 0;
        if (ynode_is_null(n) && n->len > 0) /* "~" and "null" mean empty, as in GitHub */
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
                loader_error_at(l, loader_scalar_pos(l, n, e.offset), "invalid expression in %s: %s", what,
                        e.message);
        return 0;
}

int loader_set_condition(Loader *l, const YNode *n, const ExprParseOptions *opts, WorkflowCondition *ret) {
        ExprError e = {};
        int r;

        if (!n)
                return expr_parse_condition("", 0, opts, &ret->node, NULL);
        if (!loader_visit(l, n) || !loader_expect(l, n, Y_SCALAR, "if"))
                return 0;
        ret->raw = strdup(ynode_is_null(n) ? "" : n->value);
        if (!ret->raw)
                return -ENOMEM;
        ret->pos = n->pos;
        r = expr_parse_condition(ret->raw, strlen(ret->raw), opts, &ret->node, &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                loader_error_at(
                        l, loader_scalar_pos(l, n, e.offset), "invalid expression in if: %s", e.message);
        return 0;
}

static bool valid_var_name(const char *s) {
        return *s && !strchr(s, '=');
}

int loader_set_vars(Loader *l, const YNode *n, const ExprParseOptions *opts, const char *what, bool outputs,
        WorkflowVars *ret) {
        int r;

        if (!loader_visit(l, n) || !loader_expect(l, n, Y_MAPPING, what))
                return 0;
        r = loader_check_keys(l, n, &(KeySet){ .what = what });
        if (r < 0)
                return r;

        ret->items = calloc(n->n / 2 + 1, sizeof(WorkflowVar));
        if (!ret->items)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < n->n; i += 2) {
                const YNode *k = n->items[i], *v = n->items[i + 1];
                WorkflowVar *var;

                if (k->type != Y_SCALAR || !loader_visit(l, k))
                        continue;
                if (outputs ? !valid_var_name(k->value) || strchr(k->value, ' ')
                            : !valid_var_name(k->value)) {
                        loader_error_at(l, k->pos, "invalid name '%s' in %s", k->value, what);
                        continue;
                }
                if (v->type != Y_SCALAR) {
                        loader_error_at(l, v->pos, "%s value of '%s' must be a string, not %s", what,
                                k->value, ynode_type_name(v));
                        continue;
                }
                var = &ret->items[ret->n++];
                var->name = strdup(k->value);
                if (!var->name)
                        return -ENOMEM;
                r = loader_set_string(l, v, opts, what, &var->value);
                if (r < 0)
                        return r;
        }
        return 0;
}

void loader_set_timeout(Loader *l, const YNode *n, uint64_t *ret) {
        double d;

        if (!loader_visit(l, n))
                return;
        if (n->type == Y_SCALAR && strstr(n->value, "${{")) {
                loader_error_at(
                        l, n->pos, "expressions in timeout-minutes are not supported by runner-agent");
                return;
        }
        if (!ynode_as_number(n, &d) || !(d > 0) || d > WORKFLOW_MAX_TIMEOUT_MINUTES) {
                loader_error_at(l, n->pos,
                        "timeout-minutes must be a number of minutes above 0 and at most %u",
                        WORKFLOW_MAX_TIMEOUT_MINUTES);
                return;
        }
        *ret = (uint64_t) llround(d * 60e6);
}

void loader_set_boolean(Loader *l, const YNode *n, const char *what, bool *ret) {
        if (!loader_visit(l, n))
                return;
        if (n->type == Y_SCALAR && strstr(n->value, "${{")) {
                loader_error_at(l, n->pos, "expressions in %s are not supported by runner-agent", what);
                return;
        }
        if (!ynode_as_boolean(n, ret))
                loader_error_at(l, n->pos, "%s must be true or false", what);
}

/* timeout-minutes and continue-on-error, which jobs and steps share */
void loader_set_limits(Loader *l, const YNode *map, uint64_t *ret_timeout, bool *ret_continue) {
        const YNode *v;

        v = ynode_map_get(map, "timeout-minutes");
        if (v)
                loader_set_timeout(l, v, ret_timeout);
        v = ynode_map_get(map, "continue-on-error");
        if (v)
                loader_set_boolean(l, v, "continue-on-error", ret_continue);
}

bool loader_valid_id(const char *s) {
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

void loader_id_error(Loader *l, const YNode *n, const char *what) {
        loader_error_at(l, n->pos,
                "invalid %s id '%s': ids start with a letter or '_', contain only letters, digits, '-' and "
                "'_', and are shorter than %u characters",
                what, n->value, WORKFLOW_MAX_ID);
}

/* Resolves a shell name or custom command line; NULL (after reporting) if invalid. */
const char *loader_resolve_shell(Loader *l, const YNode *n, const char **ret_name) {
        *ret_name = NULL;
        for (size_t i = 0; i < ELEMENTSOF(shells); i++)
                if (streq(n->value, shells[i].name)) {
                        *ret_name = shells[i].name;
                        return shells[i].command;
                }
        if (strstr(n->value, "{0}") && !strstr(n->value, "${{"))
                return n->value;
        if (streq(n->value, "cmd") || streq(n->value, "powershell"))
                loader_error_at(l, n->pos, "shell '%s' exists only on Windows runners", n->value);
        else if (strstr(n->value, "${{"))
                loader_error_at(l, n->pos, "expressions in shell are not supported");
        else
                loader_error_at(l, n->pos,
                        "unknown shell '%s': use bash, sh, python, pwsh or a command line containing {0} for "
                        "the script file",
                        n->value);
        return NULL;
}

static bool is_checkout(const char *uses) {
        const char *at = strchr(uses, '@');

        return at && at[1] && (size_t) (at - uses) == STRLEN("actions/checkout") &&
                strncasecmp(uses, "actions/checkout", STRLEN("actions/checkout")) == 0;
}

/* with: of actions/checkout: what runs offline from the run's source; what needs GitHub's API is an
 * error that says so, and inputs that change nothing here are accepted. */
static int load_checkout_with(Loader *l, const YNode *n, const ExprParseOptions *opts, WorkflowCheckout *c) {
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

        if (!loader_visit(l, n) || !loader_expect(l, n, Y_MAPPING, "with"))
                return 0;
        r = loader_check_keys(l, n, &(KeySet){ keys, NULL, "the inputs of actions/checkout" });
        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < n->n; i += 2) {
                const YNode *k = n->items[i], *v = n->items[i + 1];

                if (k->type != Y_SCALAR)
                        continue;
                if (!loader_visit(l, v) || !loader_expect(l, v, Y_SCALAR, k->value))
                        continue;
                if (loader_in_list(api, k->value))
                        loader_error_at(l, k->pos,
                                "actions/checkout input '%s' is not supported: runner-agent checks out the run's own source (a workflow file in a git work tree, or runnerctl run --source DIR), without GitHub's API",
                                k->value);
                else if ((streq(k->value, "lfs") || streq(k->value, "submodules")) &&
                        !streq(v->value, "false"))
                        loader_error_at(l, v->pos,
                                "actions/checkout input '%s' is not supported: it needs GitHub's API; leave it false",
                                k->value);
                else if (streq(k->value, "path")) {
                        r = loader_set_string(l, v, opts, "path", &c->path);
                        if (r < 0)
                                return r;
                } else if (streq(k->value, "clean")) {
                        if (!strstr(v->value, "${{") && !streq(v->value, "true") &&
                                !streq(v->value, "false"))
                                loader_error_at(l, v->pos, "'clean' must be true or false");
                        r = loader_set_string(l, v, opts, "clean", &c->clean);
                        if (r < 0)
                                return r;
                } else if (streq(k->value, "fetch-depth")) {
                        if (!strstr(v->value, "${{") &&
                                (v->len == 0 || v->len > 9 || strspn(v->value, "0123456789") != v->len))
                                loader_error_at(
                                        l, v->pos, "'fetch-depth' must be a number of commits (0: all)");
                        r = loader_set_string(l, v, opts, "fetch-depth", &c->fetch_depth);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static bool span_is(const char *s, size_t n, const char *word) {
        return strlen(word) == n && memcmp(s, word, n) == 0;
}

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* GitHub's owner names: letters, digits and '-', not starting with '-', at most 39 characters. */
static bool valid_owner(const char *s, size_t n) {
        if (n == 0 || n > 39 || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(s[i]) && s[i] != '-')
                        return false;
        return true;
}

/* GitHub's repository names: letters, digits, '.', '-' and '_', at most 100 characters; "." and
 * ".." name no repository. */
static bool valid_repo(const char *s, size_t n) {
        if (n == 0 || n > 100 || span_is(s, n, ".") || span_is(s, n, ".."))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(s[i]) && !strchr(".-_", s[i]))
                        return false;
        return true;
}

/* A directory below an action's repository or the run's source: no component may climb out ("..").
 * A repository's path has no empty or "." components either; a local one may end in '/'. */
static bool valid_action_path(const char *s, size_t n, bool local) {
        size_t start = 0;

        for (size_t i = 0; i <= n; i++) {
                size_t len;

                if (i < n && s[i] != '/')
                        continue;
                len = i - start;
                if (span_is(s + start, len, ".."))
                        return false;
                if (!local && (len == 0 || span_is(s + start, len, ".")))
                        return false;
                if (local && len == 0 && i < n)
                        return false; /* ".//a", "./a//b"; a final '/' is fine */
                start = i + 1;
        }
        return true;
}

/* A tag, branch or commit: what git accepts in a ref name, and nothing that reads as a range. */
static bool valid_ref(const char *s) {
        return *s && !strstr(s, "..") && !strstr(s, "@{") && !strpbrk(s, "~^:?*[\\") && s[0] != '-' &&
                s[0] != '/';
}

/* uses: ./PATH, an action in the run's source, or OWNER/REPO[/PATH]@REF (README, "Actions"). The
 * caller has ruled out whitespace and control characters. */
static int parse_action_ref(Loader *l, const YNode *n, WorkflowActionRef *ret) {
        const char *u = n->value, *at, *slash, *repo, *path = NULL;
        size_t owner_len, repo_len;

        if (startswith(u, "./")) {
                if (!valid_action_path(u + 2, strlen(u + 2), true)) {
                        loader_error_at(l, n->pos,
                                "uses: %s: the path of an action in the run's source must not contain '..' or empty components",
                                u);
                        return 0;
                }
                ret->path = strdup(u);
                return ret->path ? 0 : -ENOMEM;
        }
        if (u[0] == '/' || u[0] == '.') {
                loader_error_at(l, n->pos,
                        "uses: %s: the path of an action in the run's source starts with './' (relative to the source's root)",
                        u);
                return 0;
        }
        at = strchr(u, '@');
        if (!at) {
                loader_error_at(l, n->pos,
                        "uses: %s: expected ./PATH (an action in the run's source), OWNER/REPO@REF or OWNER/REPO/PATH@REF",
                        u);
                return 0;
        }
        if (!valid_ref(at + 1)) {
                loader_error_at(l, n->pos,
                        at[1] ? "uses: %s: invalid ref after '@': a tag, branch or commit without '..', '@{', a leading '-' or '/', or any of ~^:?*[\\"
                              : "uses: %s: the ref after '@' is empty",
                        u);
                return 0;
        }
        slash = memchr(u, '/', (size_t) (at - u));
        if (!slash) {
                loader_error_at(l, n->pos, "uses: %s: expected OWNER/REPO@REF or OWNER/REPO/PATH@REF", u);
                return 0;
        }
        owner_len = (size_t) (slash - u);
        if (!valid_owner(u, owner_len)) {
                loader_error_at(l, n->pos,
                        "uses: %s: invalid owner '%.*s': letters, digits and '-', not starting with '-', at most 39 characters",
                        u, (int) owner_len, u);
                return 0;
        }
        repo = slash + 1;
        slash = memchr(repo, '/', (size_t) (at - repo));
        repo_len = (size_t) ((slash ?: at) - repo);
        if (!valid_repo(repo, repo_len)) {
                loader_error_at(l, n->pos,
                        "uses: %s: invalid repository name '%.*s': letters, digits, '.', '-' and '_', at most 100 characters",
                        u, (int) repo_len, repo);
                return 0;
        }
        if (slash) {
                path = slash + 1;
                if (!valid_action_path(path, (size_t) (at - path), false)) {
                        loader_error_at(l, n->pos,
                                "uses: %s: invalid path '%.*s' in the repository: no empty, '.' or '..' components",
                                u, (int) (at - path), path);
                        return 0;
                }
        }

        ret->owner = strndup(u, owner_len);
        ret->repo = strndup(repo, repo_len);
        ret->ref = strdup(at + 1);
        if (!ret->owner || !ret->repo || !ret->ref)
                return -ENOMEM;
        if (path) {
                ret->path = strndup(path, (size_t) (at - path));
                if (!ret->path)
                        return -ENOMEM;
        }
        return 0;
}

/* uses: actions/checkout (built in), another action (run by the engine), or a container, refused. */
static int load_uses(
        Loader *l, const YNode *n, const YNode *with, const ExprParseOptions *opts, WorkflowStep *s) {
        int r;

        if (!loader_visit(l, n) || !loader_expect(l, n, Y_SCALAR, "uses"))
                return 0;
        s->uses_pos = n->pos;
        if (is_checkout(n->value)) {
                s->kind = WORKFLOW_STEP_CHECKOUT;
                s->uses = strdup(n->value);
                if (!s->uses)
                        return -ENOMEM;
                return with ? load_checkout_with(l, with, opts, &s->checkout) : 0;
        }

        for (size_t i = 0; i < n->len; i++)
                if ((unsigned char) n->value[i] <= ' ' || n->value[i] == 0x7f) {
                        loader_error_at(l, loader_scalar_pos(l, n, i),
                                "uses must not contain whitespace or control characters");
                        return 0;
                }
        if (startswith(n->value, "docker://")) {
                loader_error_at(l, n->pos, "uses: %s: container actions are not supported yet", n->value);
                return 0;
        }
        s->kind = WORKFLOW_STEP_ACTION;
        s->uses = strdup(n->value);
        if (!s->uses)
                return -ENOMEM;
        r = parse_action_ref(l, n, &s->action);
        if (r < 0 || !with)
                return r;
        return loader_set_vars(l, with, opts, "with", false, &s->with);
}

int loader_load_step(Loader *l, const YNode *n, const StepPlace *place, WorkflowStep *s) {
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
        static const RunDefaults no_defaults = {};
        const RunDefaults *defaults = place->defaults ?: &no_defaults;
        const ExprParseOptions *opts = place->expr;
        const YNode *v;
        int r;

        s->pos = n->pos;
        if (!loader_expect(l, n, Y_MAPPING, "a step"))
                return 0;
        r = loader_check_keys(l, n, &(KeySet){ keys, NULL, "a step" });
        if (r < 0)
                return r;

        v = ynode_map_get(n, "uses");
        if (v && ynode_map_get(n, "run"))
                loader_error_at(
                        l, ynode_map_key(n, "uses")->pos, "a step has either 'run' or 'uses', not both");
        else if (v) {
                r = load_uses(l, v, ynode_map_get(n, "with"), opts, s);
                if (r < 0)
                        return r;
                for (const char *const *k = (const char *const[]){ "shell", "working-directory", NULL }; *k;
                        k++)
                        if (ynode_map_get(n, *k))
                                loader_error_at(l, ynode_map_key(n, *k)->pos,
                                        "'%s' applies to run steps, not to uses", *k);
        } else if (ynode_map_get(n, "with"))
                loader_error_at(l, ynode_map_key(n, "with")->pos, "'with' goes with 'uses'");

        v = ynode_map_get(n, "id");
        if (v && loader_visit(l, v) && loader_expect(l, v, Y_SCALAR, "id")) {
                if (!loader_valid_id(v->value))
                        loader_id_error(l, v, "step");
                s->id = strdup(v->value);
                if (!s->id)
                        return -ENOMEM;
        }

        v = ynode_map_get(n, "name");
        if (v && !ynode_is_null(v)) {
                r = loader_set_string(l, v, opts, "name", &s->name);
                if (r < 0)
                        return r;
        }

        r = loader_set_condition(l, ynode_map_get(n, "if"), place->expr_if, &s->condition);
        if (r < 0)
                return r;

        v = ynode_map_get(n, "run");
        if (!v) {
                if (!ynode_map_get(n, "uses"))
                        loader_error_at(l, n->pos, "a step needs 'run'");
        } else if (ynode_map_get(n, "uses"))
                ; /* reported above */
        else if (ynode_is_null(v) || (v->type == Y_SCALAR && v->len == 0))
                loader_error_at(l, v->pos, "'run' must not be empty");
        else {
                r = loader_set_string(l, v, opts, "run", &s->run);
                if (r < 0)
                        return r;
        }
        if (place->composite && v && !ynode_map_get(n, "uses") && !ynode_map_get(n, "shell"))
                loader_error_at(l, ynode_map_key(n, "run")->pos,
                        "a run step of a composite action needs 'shell': there is no default shell there");

        const char *shell = defaults->shell ?: DEFAULT_SHELL, *shell_name = defaults->shell_name;
        v = ynode_map_get(n, "shell");
        if (v && loader_visit(l, v) && loader_expect(l, v, Y_SCALAR, "shell")) {
                const char *name, *cmd = loader_resolve_shell(l, v, &name);
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

        v = ynode_map_get(n, "env");
        if (v) {
                r = loader_set_vars(l, v, opts, "env", false, &s->env);
                if (r < 0)
                        return r;
        }

        v = ynode_map_get(n, "working-directory") ?: defaults->working_directory_node;
        if (v) {
                r = loader_set_string(l, v, opts, "working-directory", &s->working_directory);
                if (r < 0)
                        return r;
        }

        v = ynode_map_get(n, "timeout-minutes");
        if (v && place->composite)
                loader_error_at(l, ynode_map_key(n, "timeout-minutes")->pos,
                        "'timeout-minutes' is not supported in the steps of a composite action");
        else if (v)
                loader_set_timeout(l, v, &s->timeout_usec);
        v = ynode_map_get(n, "continue-on-error");
        if (v)
                loader_set_boolean(l, v, "continue-on-error", &s->continue_on_error);

        if (s->name.raw)
                s->display_name = strdup(s->name.raw);
        else if (s->uses)
                return asprintf(&s->display_name, "Run %s", s->uses) < 0 ? -ENOMEM : 0;
        else if (s->run.raw)
                return workflow_script_display_name(s->run.raw, &s->display_name);
        else
                return 0; /* reported: the file does not load */
        return s->display_name ? 0 : -ENOMEM;
}

/* The id GitHub generates for an action step without one: "__" and OWNER/REPO, each character other
 * than a letter, digit, '-' or '_' made '_' ("__actions_setup-node"), or "__self" for an action in the
 * run's source; then "_2", "_3", … until it is unique, all shorter than WORKFLOW_MAX_ID. */
static int action_step_id(const WorkflowStep *steps, size_t n, const WorkflowStep *s, char **ret) {
        _cleanup_free_ char *base = NULL;

        if (!s->action.owner)
                base = strdup("__self");
        else if (asprintf(&base, "__%s/%s", s->action.owner, s->action.repo) < 0)
                base = NULL;
        if (!base)
                return -ENOMEM;
        for (char *p = base; *p; p++)
                if (!is_alnum(*p) && *p != '-' && *p != '_')
                        *p = '_';

        for (unsigned attempt = 1;; attempt++) {
                char suffix[16] = "";
                _cleanup_free_ char *id = NULL;
                bool taken = false;
                size_t keep;

                if (attempt > 1)
                        snprintf(suffix, sizeof(suffix), "_%u", attempt);
                keep = MIN(strlen(base), WORKFLOW_MAX_ID - 1 - strlen(suffix));
                if (asprintf(&id, "%.*s%s", (int) keep, base, suffix) < 0)
                        return -ENOMEM;
                for (size_t k = 0; k < n && !taken; k++)
                        taken = steps[k].id && strcasecmp(steps[k].id, id) == 0;
                if (!taken) {
                        *ret = TAKE_PTR(id);
                        return 0;
                }
        }
}

int loader_step_ids(Loader *l, const YNode *steps_node, WorkflowStep *steps, size_t n, const char *what) {
        unsigned generated = 0;
        int r;

        for (size_t i = 0; i < n; i++) {
                if (!steps[i].id)
                        continue;
                for (size_t k = 0; k < i; k++)
                        if (steps[k].id && strcasecmp(steps[k].id, steps[i].id) == 0) {
                                const YNode *id = ynode_map_get(steps_node->items[i], "id");
                                loader_error_at(l, id ? id->pos : steps[i].pos,
                                        "duplicate step id '%s' in %s (first at line %u)", steps[i].id, what,
                                        steps[k].pos.line);
                                break;
                        }
        }
        /* GitHub's generated ids: __run, __run_2, … for the others (counted as they always were
         * here, over run: steps and actions/checkout, so that a run's recorded state keeps matching),
         * and the action's own name for other actions */
        for (size_t i = 0; i < n; i++) {
                bool taken;
                char *id;

                if (steps[i].id)
                        continue;
                if (steps[i].kind == WORKFLOW_STEP_ACTION) {
                        r = action_step_id(steps, n, &steps[i], &steps[i].id);
                        if (r < 0)
                                return r;
                        steps[i].id_generated = true;
                        continue;
                }
                do {
                        generated++;
                        if (generated == 1)
                                id = strdup("__run");
                        else if (asprintf(&id, "__run_%u", generated) < 0)
                                id = NULL;
                        if (!id)
                                return -ENOMEM;
                        taken = false;
                        for (size_t k = 0; k < n; k++)
                                taken = taken || (steps[k].id && strcasecmp(steps[k].id, id) == 0);
                        if (taken)
                                free(id);
                } while (taken);
                steps[i].id = id;
                steps[i].id_generated = true;
        }
        return 0;
}

void workflow_vars_done(WorkflowVars *v) {
        for (size_t i = 0; i < v->n; i++) {
                free(v->items[i].name);
                free(v->items[i].value.raw);
                expr_template_free(v->items[i].value.template);
        }
        free(v->items);
}

void workflow_string_done(WorkflowString *s) {
        free(s->raw);
        expr_template_free(s->template);
}

void workflow_condition_done(WorkflowCondition *c) {
        free(c->raw);
        expr_node_free(c->node);
}

void workflow_step_done(WorkflowStep *s) {
        free(s->id);
        workflow_string_done(&s->name);
        free(s->display_name);
        workflow_condition_done(&s->condition);
        workflow_string_done(&s->run);
        workflow_string_done(&s->checkout.path);
        workflow_string_done(&s->checkout.clean);
        workflow_string_done(&s->checkout.fetch_depth);
        free(s->action.owner);
        free(s->action.repo);
        free(s->action.path);
        free(s->action.ref);
        workflow_vars_done(&s->with);
        free(s->uses);
        free(s->shell);
        free(s->shell_name);
        workflow_vars_done(&s->env);
        workflow_string_done(&s->working_directory);
}

int loader_compare_errors(const void *a, const void *b) {
        const WorkflowError *x = a, *y = b;

        if (x->pos.line != y->pos.line)
                return x->pos.line < y->pos.line ? -1 : 1;
        if (x->pos.column != y->pos.column)
                return x->pos.column < y->pos.column ? -1 : 1;
        return 0;
}

int loader_begin(Loader *l, const char *text, size_t len) {
        l->text = text;
        l->len = len;
        if (len > WORKFLOW_MAX_SIZE) {
                loader_error_at(l, (WorkflowPos){ 1, 1 },
                        "the file has %zu bytes, more than the limit of %u", len, WORKFLOW_MAX_SIZE);
                return -EINVAL;
        }
        if (memchr(text, '\0', len)) {
                size_t at = (size_t) ((const char *) memchr(text, '\0', len) - text);
                unsigned line = 1, column = 1;

                for (size_t i = 0; i < at; i++, column++)
                        if (text[i] == '\n') {
                                line++;
                                column = 0;
                        }
                loader_error_at(l, (WorkflowPos){ line, column }, "the file contains a NUL byte");
                return -EINVAL;
        }
        return loader_build_tree(l);
}

int loader_finish(Loader *l, int r, WorkflowErrors *errors) {
        if (l->oom && r >= 0)
                r = -ENOMEM;
        if (r >= 0 && l->errors.n > 0)
                r = -EINVAL;
        /* keep the "too many errors" line last */
        if (l->errors.n > 1)
                qsort(l->errors.errors, l->errors.n - (l->errors.truncated ? 1 : 0), sizeof(WorkflowError),
                        loader_compare_errors);
        if (errors) {
                *errors = l->errors;
                l->errors = (WorkflowErrors){};
        }
        loader_done(l);
        return r;
}
