/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <stdio.h>

#include "alloc-util.h"
#include "macro.h"
#include "matrix.h"
#include "workflow-loader.h"

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
const ExprParseOptions workflow_expr_step_if = {
        .contexts = ctx_step_if,
        .allow = EXPR_ALLOW_STATUS | EXPR_ALLOW_HASH_FILES,
};
const ExprParseOptions workflow_expr_step = { .contexts = ctx_step, .allow = EXPR_ALLOW_HASH_FILES };

static int read_defaults(Loader *l, const YNode *n, RunDefaults *d) {
        static const char *const defaults_keys[] = { "run", NULL };
        static const char *const run_keys[] = { "shell", "working-directory", NULL };
        const YNode *run, *v;
        int r;

        if (!loader_visit(l, n) || !loader_expect(l, n, Y_MAPPING, "defaults"))
                return 0;
        r = loader_check_keys(l, n, &(KeySet){ defaults_keys, NULL, "defaults" });
        if (r < 0)
                return r;
        run = ynode_map_get(n, "run");
        if (!run || !loader_visit(l, run) || !loader_expect(l, run, Y_MAPPING, "defaults.run"))
                return 0;
        r = loader_check_keys(l, run, &(KeySet){ run_keys, NULL, "defaults.run" });
        if (r < 0)
                return r;

        v = ynode_map_get(run, "shell");
        if (v && loader_visit(l, v) && loader_expect(l, v, Y_SCALAR, "shell")) {
                const char *name, *cmd = loader_resolve_shell(l, v, &name);
                if (cmd) {
                        d->shell = cmd;
                        d->shell_name = name;
                }
        }
        v = ynode_map_get(run, "working-directory");
        if (v && loader_visit(l, v) && loader_expect(l, v, Y_SCALAR, "working-directory")) {
                _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
                ExprError e = {};

                /* checked here once, not for every step that inherits it */
                r = expr_template_parse(v->value, v->len, &workflow_expr_step, &t, &e);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        loader_error_at(l, loader_scalar_pos(l, v, e.offset),
                                "invalid expression in working-directory: %s", e.message);
                else {
                        d->working_directory = v->value;
                        d->working_directory_node = v;
                }
        }
        return 0;
}

/* owner/repo@ref of actions/checkout: GitHub compares owner and repository names ignoring case. */
static int load_needs(Loader *l, const YNode *n, WorkflowJob *j) {
        const YNode *const *items = &n;
        size_t count = 1;

        if (!loader_visit(l, n))
                return 0;
        if (n->type == Y_SEQUENCE) {
                items = (const YNode *const *) n->items;
                count = n->n;
        } else if (n->type != Y_SCALAR) {
                loader_error_at(l, n->pos, "needs must be a job id or a sequence of job ids, not %s",
                        ynode_type_name(n));
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

                if (!loader_visit(l, item) || !loader_expect(l, item, Y_SCALAR, "a needs entry"))
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
 * one. loader_check_keys() has reported keys that are exactly equal already. */
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
                        loader_error_at(l, map->items[refs[i].index]->pos,
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
                        loader_error_at(l, loader_scalar_pos(l, n, e.offset),
                                "invalid expression in matrix: %s", e.message);
                return 0;
        }
        if (ynode_is_null(n))
                v->literal = expr_value_new_null();
        else if (ynode_as_boolean(n, &b))
                v->literal = expr_value_new_boolean(b);
        else if (ynode_as_number(n, &d))
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
        if (!loader_visit(l, n))
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
                r = loader_check_keys(l, n, &(KeySet){ .what = "the matrix" });
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

                if (k && (k->type != Y_SCALAR || !loader_visit(l, k)))
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
                list = ynode_map_get(matrix, e->where == MATRIX_ERROR_INCLUDE ? "include" : "exclude");
                if (!list)
                        break;
                if (list->type != Y_SEQUENCE || e->index >= list->n)
                        return list->pos;
                item = list->items[e->index];
                k = e->key && item->type == Y_MAPPING ? ynode_map_key(item, e->key) : NULL;
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
                        loader_error_at(l, v->pos,
                                list ? "%s must be a sequence" : "matrix vector '%s' must be a sequence",
                                k->value);
                else if (!list && v->n == 0)
                        loader_error_at(
                                l, v->pos, "matrix vector '%s' does not contain any values", k->value);
                for (size_t j = 0; list && v->type == Y_SEQUENCE && j < v->n; j++) {
                        const YNode *item = v->items[j];
                        if (item->type == Y_SEQUENCE ||
                                (item->type == Y_SCALAR && !strstr(item->value, "${{")))
                                loader_error_at(l, item->pos, "%s item %zu must be a mapping, not %s",
                                        k->value, j + 1, ynode_type_name(item));
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
                loader_error_at(l, matrix_error_pos(key, n, &error), "%s", error.message);
        else
                s->n_combinations = m.n;
        return 0;
}

static int load_matrix(Loader *l, const YNode *key, const YNode *n, WorkflowStrategy *s) {
        size_t errors = l->errors.n;
        int r;

        if (!loader_visit(l, n))
                return 0;
        if (n->type == Y_SEQUENCE || (n->type == Y_SCALAR && !strstr(n->value, "${{"))) {
                loader_error_at(l, n->pos, "matrix must be a mapping or a ${{ }} expression, not %s",
                        ynode_type_name(n));
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

        if (!loader_visit(l, n))
                return;
        if (n->type == Y_SCALAR && strstr(n->value, "${{")) {
                loader_error_at(l, n->pos, "expressions in max-parallel are not supported by runner-agent");
                return;
        }
        if (!ynode_as_number(n, &d) || !(d >= 1) || d > INT32_MAX || d != floor(d)) {
                loader_error_at(l, n->pos, "max-parallel must be a whole number above 0");
                return;
        }
        *ret = (unsigned) d;
}

static int load_strategy(Loader *l, const YNode *key, const YNode *n, WorkflowJob *j) {
        static const char *const keys[] = { "matrix", "fail-fast", "max-parallel", NULL };
        const YNode *v;
        int r;

        if (!loader_visit(l, n) || !loader_expect(l, n, Y_MAPPING, "strategy"))
                return 0;
        r = loader_check_keys(l, n, &(KeySet){ keys, NULL, "strategy" });
        if (r < 0)
                return r;

        j->strategy = calloc(1, sizeof(WorkflowStrategy));
        if (!j->strategy)
                return -ENOMEM;
        j->strategy->pos = key->pos;
        j->strategy->fail_fast = true;
        v = ynode_map_get(n, "fail-fast");
        if (v)
                loader_set_boolean(l, v, "fail-fast", &j->strategy->fail_fast);
        v = ynode_map_get(n, "max-parallel");
        if (v)
                set_max_parallel(l, v, &j->strategy->max_parallel);
        v = ynode_map_get(n, "matrix");
        if (v)
                return load_matrix(l, ynode_map_key(n, "matrix"), v, j->strategy);
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

        if (!loader_visit(l, n))
                return 0;
        if (n->type == Y_SEQUENCE) {
                loader_error_at(l, n->pos,
                        "concurrency must be a group or a mapping of group and cancel-in-progress, "
                        "not a sequence");
                return 0;
        }
        if (n->type == Y_MAPPING) {
                r = loader_check_keys(l, n, &(KeySet){ keys, NULL, "concurrency" });
                if (r < 0)
                        return r;
                group = ynode_map_get(n, "group");
                cancel = ynode_map_get(n, "cancel-in-progress");
                if (!group) {
                        loader_error_at(l, n->pos, "concurrency needs a group");
                        return 0;
                }
                if (!loader_visit(l, group))
                        return 0;
        }
        if (!loader_expect(l, group, Y_SCALAR, n == group ? "concurrency" : "group"))
                return 0;

        *ret = c = calloc(1, sizeof(WorkflowConcurrency));
        if (!c)
                return -ENOMEM;
        c->pos = key->pos;
        r = loader_set_string(l, group, opts, "concurrency group", &c->group);
        if (r < 0)
                return r;
        if (c->group.raw && !strstr(c->group.raw, "${{")) {
                size_t chars = 0;

                for (const char *p = c->group.raw; *p; p++)
                        chars += ((unsigned char) *p & 0xC0) != 0x80;
                if (chars == 0)
                        loader_error_at(l, group->pos, "the concurrency group must not be empty");
                else if (chars >= WORKFLOW_MAX_CONCURRENCY_GROUP)
                        loader_error_at(l, group->pos,
                                "the concurrency group must be shorter than %u characters",
                                WORKFLOW_MAX_CONCURRENCY_GROUP);
        }
        if (!cancel || !loader_visit(l, cancel))
                return 0;
        if (cancel->type == Y_SCALAR && !strstr(cancel->value, "${{") && !ynode_as_boolean(cancel, &b)) {
                loader_error_at(
                        l, cancel->pos, "cancel-in-progress must be true, false or a ${{ }} expression");
                return 0;
        }
        return loader_set_string(l, cancel, opts, "cancel-in-progress", &c->cancel_in_progress);
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
        _cleanup_free_ char *what = NULL;
        const YNode *v, *steps;
        int r;

        j->pos = key->pos;
        j->id = strdup(key->value);
        if (!j->id)
                return -ENOMEM;
        if (!loader_valid_id(key->value))
                loader_id_error(l, key, "job");
        j->timeout_usec = (uint64_t) WORKFLOW_DEFAULT_JOB_TIMEOUT_MINUTES * 60 * 1000000;

        if (!loader_visit(l, n))
                return 0;
        if (n->type != Y_MAPPING) {
                loader_error_at(
                        l, n->pos, "job '%s' must be a mapping, not %s", key->value, ynode_type_name(n));
                return 0;
        }
        r = loader_check_keys(l, n, &(KeySet){ keys, unsupported, "a job" });
        if (r < 0)
                return r;

        v = ynode_map_get(n, "name");
        if (v && !ynode_is_null(v)) {
                r = loader_set_string(l, v, &opts_job_name, "name", &j->name);
                if (r < 0)
                        return r;
        }
        v = ynode_map_get(n, "needs");
        if (v) {
                r = load_needs(l, v, j);
                if (r < 0)
                        return r;
        }
        r = loader_set_condition(l, ynode_map_get(n, "if"), &workflow_expr_job_if, &j->condition);
        if (r < 0)
                return r;
        v = ynode_map_get(n, "env");
        if (v) {
                r = loader_set_vars(l, v, &opts_job_env, "env", false, &j->env);
                if (r < 0)
                        return r;
        }
        v = ynode_map_get(n, "outputs");
        if (v) {
                r = loader_set_vars(l, v, &opts_job_outputs, "outputs", true, &j->outputs);
                if (r < 0)
                        return r;
        }
        loader_set_limits(l, n, &j->timeout_usec, &j->continue_on_error);
        v = ynode_map_get(n, "runs-on");
        if (v && loader_visit(l, v)) {
                j->runs_on = runs_on_string(v);
                if (!j->runs_on)
                        return -ENOMEM;
        }
        v = ynode_map_get(n, "defaults");
        if (v) {
                r = read_defaults(l, v, &defaults);
                if (r < 0)
                        return r;
        }
        v = ynode_map_get(n, "strategy");
        if (v) {
                r = load_strategy(l, ynode_map_key(n, "strategy"), v, j);
                if (r < 0)
                        return r;
        }
        v = ynode_map_get(n, "concurrency");
        if (v) {
                r = load_concurrency(
                        l, ynode_map_key(n, "concurrency"), v, &opts_job_concurrency, &j->concurrency);
                if (r < 0)
                        return r;
        }

        steps = ynode_map_get(n, "steps");
        if (!steps) {
                if (!ynode_map_get(n, "uses"))
                        loader_error_at(l, key->pos, "job '%s' has no steps", key->value);
                return 0;
        }
        if (!loader_visit(l, steps) || !loader_expect(l, steps, Y_SEQUENCE, "steps"))
                return 0;
        if (steps->n == 0) {
                loader_error_at(l, steps->pos, "job '%s' has no steps", key->value);
                return 0;
        }
        if (steps->n > WORKFLOW_MAX_STEPS)
                loader_error_at(l, steps->items[WORKFLOW_MAX_STEPS]->pos,
                        "job '%s' has %zu steps, more than the limit of %u", key->value, steps->n,
                        WORKFLOW_MAX_STEPS);

        j->steps = calloc(MIN(steps->n, WORKFLOW_MAX_STEPS), sizeof(WorkflowStep));
        if (!j->steps)
                return -ENOMEM;
        for (size_t i = 0; i < steps->n && i < WORKFLOW_MAX_STEPS; i++) {
                WorkflowStep *s = &j->steps[j->n_steps++];

                s->number = (unsigned) j->n_steps;
                if (!loader_visit(l, steps->items[i]))
                        break;
                r = loader_load_step(l, steps->items[i],
                        &(StepPlace){
                                .defaults = &defaults,
                                .expr = &workflow_expr_step,
                                .expr_if = &workflow_expr_step_if,
                        },
                        s);
                if (r < 0)
                        return r;
        }

        if (asprintf(&what, "job '%s'", j->id) < 0)
                return -ENOMEM;
        return loader_step_ids(l, steps, j->steps, j->n_steps, what);
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
                                loader_error_at(l, j->needs_pos[k], "job '%s' needs unknown job '%s'", j->id,
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
                loader_error_at(
                        l, w->jobs[path[start]].pos, "jobs depend on each other in a cycle: %s", chain);
                /* mark the whole component done so each cycle is reported once */
                for (size_t s = 0; s < w->n_jobs; s++)
                        if (state[s] == 1)
                                state[s] = 2;
        }
        return 0;
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
                        loader_error_at(
                                &l, s->pos, "the matrix of job '%s' has no combinations", w->jobs[i].id);
                else
                        continue;
                r = -EOPNOTSUPP;
        }
        if (l.oom) {
                workflow_errors_done(&l.errors);
                return -ENOMEM;
        }
        if (l.errors.n > 1) /* the workflow's concurrency may come after the jobs */
                qsort(l.errors.errors, l.errors.n, sizeof(WorkflowError), loader_compare_errors);
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
        workflow_string_done(&c->group);
        workflow_string_done(&c->cancel_in_progress);
        free(c);
}

Workflow *workflow_free(Workflow *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_jobs; i++) {
                WorkflowJob *j = &w->jobs[i];

                for (size_t k = 0; k < j->n_steps; k++)
                        workflow_step_done(&j->steps[k]);
                free(j->steps);
                free(j->id);
                workflow_string_done(&j->name);
                for (size_t k = 0; k < j->n_needs; k++)
                        free(j->needs[k]);
                free(j->needs);
                free(j->needs_index);
                free(j->needs_pos);
                workflow_condition_done(&j->condition);
                workflow_vars_done(&j->env);
                workflow_vars_done(&j->outputs);
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
        workflow_vars_done(&w->env);
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

        if (!loader_visit(l, n))
                return 0;
        w->on = calloc(count + 1, sizeof(char *));
        if (!w->on)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                const YNode *e = n->type == Y_SCALAR ? n
                        : n->type == Y_SEQUENCE      ? n->items[i]
                                                     : n->items[2 * i];

                if (e->type != Y_SCALAR) {
                        loader_error_at(
                                l, e->pos, "on: event names must be strings, not %s", ynode_type_name(e));
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

        if (!root || (root->type == Y_SCALAR && ynode_is_null(root))) {
                loader_error_at(l, (WorkflowPos){ 1, 1 }, "the workflow is empty");
                return 0;
        }
        if (!loader_visit(l, root))
                return 0;
        if (root->type != Y_MAPPING) {
                loader_error_at(l, root->pos, "a workflow must be a mapping, not %s", ynode_type_name(root));
                return 0;
        }
        r = loader_check_keys(l, root, &(KeySet){ keys, unsupported, "the workflow" });
        if (r < 0)
                return r;

        v = ynode_map_get(root, "concurrency");
        if (v) {
                r = load_concurrency(l, ynode_map_key(root, "concurrency"), v, &opts_workflow_concurrency,
                        &w->concurrency);
                if (r < 0)
                        return r;
        }
        v = ynode_map_get(root, "name");
        if (v && loader_visit(l, v) && loader_expect(l, v, Y_SCALAR, "name")) {
                w->name = strdup(v->value);
                if (!w->name)
                        return -ENOMEM;
        }
        v = ynode_map_get(root, "on");
        if (v) {
                r = load_on(l, v, w);
                if (r < 0)
                        return r;
        }
        v = ynode_map_get(root, "env");
        if (v) {
                r = loader_set_vars(l, v, &opts_workflow_env, "env", false, &w->env);
                if (r < 0)
                        return r;
        }
        v = ynode_map_get(root, "defaults");
        if (v) {
                r = read_defaults(l, v, &defaults);
                if (r < 0)
                        return r;
        }

        jobs = ynode_map_get(root, "jobs");
        if (!jobs) {
                loader_error_at(l, root->pos, "the workflow has no jobs");
                return 0;
        }
        if (!loader_visit(l, jobs) || !loader_expect(l, jobs, Y_MAPPING, "jobs"))
                return 0;
        if (jobs->n == 0) {
                loader_error_at(l, ynode_map_key(root, "jobs")->pos, "the workflow has no jobs");
                return 0;
        }
        r = loader_check_keys(l, jobs, &(KeySet){ .what = "jobs" });
        if (r < 0)
                return r;
        if (jobs->n / 2 > WORKFLOW_MAX_JOBS)
                loader_error_at(l, jobs->items[2 * WORKFLOW_MAX_JOBS]->pos,
                        "the workflow has %zu jobs, more than the limit of %u", jobs->n / 2,
                        WORKFLOW_MAX_JOBS);

        w->jobs = calloc(MIN(jobs->n / 2, WORKFLOW_MAX_JOBS), sizeof(WorkflowJob));
        if (!w->jobs)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < jobs->n && w->n_jobs < WORKFLOW_MAX_JOBS; i += 2) {
                const YNode *k = jobs->items[i];
                WorkflowJob *j;

                if (k->type != Y_SCALAR || !loader_visit(l, k))
                        continue;
                j = &w->jobs[w->n_jobs++];
                j->number = (unsigned) w->n_jobs;
                r = load_job(l, k, jobs->items[i + 1], &defaults, j);
                if (r < 0)
                        return r;
        }

        return check_needs(l, w);
}

int workflow_load(const char *text, size_t len, Workflow **ret, WorkflowErrors *errors) {
        _cleanup_(workflow_freep) Workflow *w = NULL;
        Loader l = { .document = "a workflow file" };
        int r;

        r = loader_begin(&l, text, len);
        if (r >= 0) {
                w = calloc(1, sizeof(Workflow));
                r = w ? load_workflow(&l, w) : -ENOMEM;
        }
        r = loader_finish(&l, r, errors);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}
