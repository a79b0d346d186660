/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <strings.h>

#include "action.h"
#include "alloc-util.h"
#include "expr-value.h"
#include "macro.h"
#include "workflow-loader.h"

/* Where expressions may appear in an action's metadata and what they may use (GitHub's "context
 * availability"): a composite action's steps see its inputs and the job's contexts, never secrets. */
static const char *const ctx_input_default[] = {
        "github",
        "strategy",
        "matrix",
        "job",
        "runner",
        "env",
        "vars",
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
        "steps",
        "inputs",
        NULL,
};
/* pre-if runs before any step, post-if after the job's steps: neither sees steps */
static const char *const ctx_hook_if[] = { "github", "needs", "strategy", "matrix", "job", "runner", "env",
        "vars", "inputs", NULL };

const ExprParseOptions action_expr_input_default = {
        .contexts = ctx_input_default,
        .allow = EXPR_ALLOW_HASH_FILES,
};
const ExprParseOptions action_expr_output = { .contexts = ctx_step, .allow = EXPR_ALLOW_HASH_FILES };
const ExprParseOptions action_expr_step = { .contexts = ctx_step, .allow = EXPR_ALLOW_HASH_FILES };
const ExprParseOptions action_expr_hook_if = { .contexts = ctx_hook_if, .allow = EXPR_ALLOW_STATUS };
const ExprParseOptions action_expr_step_if = {
        .contexts = ctx_step,
        .allow = EXPR_ALLOW_STATUS | EXPR_ALLOW_HASH_FILES,
};

static const char *const using_names[] = {
        [ACTION_USING_NODE16] = "node16",
        [ACTION_USING_NODE20] = "node20",
        [ACTION_USING_NODE24] = "node24",
        [ACTION_USING_COMPOSITE] = "composite",
};

const char *action_using_to_string(ActionUsing u) {
        return (size_t) u < ELEMENTSOF(using_names) ? using_names[u] : NULL;
}

/* A scalar copied as written; NULL in *ret after reporting anything else. */
static int load_text(Loader *l, const YNode *n, const char *what, char **ret) {
        if (!loader_visit(l, n) || !loader_expect(l, n, Y_SCALAR, what))
                return 0;
        *ret = strdup(n->value);
        return *ret ? 0 : -ENOMEM;
}

/* inputs: and outputs: are named like ids, and GitHub compares their names ignoring case. */
static bool check_name(Loader *l, const YNode *k, const char *what, const YNode *map, size_t index) {
        if (!loader_valid_id(k->value)) {
                loader_id_error(l, k, what);
                return false;
        }
        for (size_t i = 0; i < index; i += 2)
                if (map->items[i]->type == Y_SCALAR && !streq(map->items[i]->value, k->value) &&
                        strcasecmp(map->items[i]->value, k->value) == 0) {
                        loader_error_at(l, k->pos,
                                "duplicate %s '%s': names compare ignoring case (first at line %u)", what,
                                k->value, map->items[i]->pos.line);
                        return false;
                }
        return true;
}

static int load_input(Loader *l, const YNode *k, const YNode *n, ActionInput *in) {
        static const char *const keys[] = { "description", "required", "default", "deprecationMessage",
                NULL };
        const YNode *v;
        int r;

        in->pos = k->pos;
        in->name = strdup(k->value);
        if (!in->name)
                return -ENOMEM;
        if (!loader_visit(l, n) || ynode_is_null(n))
                return 0;
        if (!loader_expect(l, n, Y_MAPPING, "an input"))
                return 0;
        r = loader_check_keys(l, n, &(KeySet){ keys, NULL, "an input" });
        if (r < 0)
                return r;

        v = ynode_map_get(n, "description");
        if (v && loader_visit(l, v))
                (void) loader_expect(l, v, Y_SCALAR, "description");
        v = ynode_map_get(n, "required");
        if (v)
                loader_set_boolean(l, v, "required", &in->required);
        v = ynode_map_get(n, "default");
        if (v) {
                r = loader_set_string(l, v, &action_expr_input_default, "default", &in->default_value);
                if (r < 0)
                        return r;
        }
        v = ynode_map_get(n, "deprecationMessage");
        if (v) {
                r = load_text(l, v, "deprecationMessage", &in->deprecation_message);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_output(Loader *l, const YNode *k, const YNode *n, bool composite, ActionOutput *out) {
        static const char *const keys_composite[] = { "description", "value", NULL };
        static const char *const keys_javascript[] = { "description", NULL };
        const YNode *v;
        int r;

        out->pos = k->pos;
        out->name = strdup(k->value);
        if (!out->name)
                return -ENOMEM;
        if (!loader_visit(l, n))
                return 0;
        if (!composite && ynode_is_null(n))
                return 0;
        if (!loader_expect(l, n, Y_MAPPING, "an output"))
                return 0;
        if (!composite && ynode_map_get(n, "value"))
                /* a JavaScript action sets its outputs as it runs ($GITHUB_OUTPUT) */
                loader_error_at(l, ynode_map_key(n, "value")->pos,
                        "'value' of an output is for composite actions; a JavaScript action sets its outputs as it runs");
        else {
                r = loader_check_keys(
                        l, n, &(KeySet){ composite ? keys_composite : keys_javascript, NULL, "an output" });
                if (r < 0)
                        return r;
        }

        v = ynode_map_get(n, "description");
        if (v && loader_visit(l, v))
                (void) loader_expect(l, v, Y_SCALAR, "description");
        if (!composite)
                return 0;
        v = ynode_map_get(n, "value");
        if (!v) {
                loader_error_at(l, k->pos, "output '%s' of a composite action needs 'value'", k->value);
                return 0;
        }
        return loader_set_string(l, v, &action_expr_output, "value", &out->value);
}

/* inputs: or outputs:, a mapping of names */
static int load_named(Loader *l, const YNode *key, const YNode *n, bool outputs, bool composite, Action *a) {
        const char *what = outputs ? "outputs" : "inputs";
        unsigned max = outputs ? ACTION_MAX_OUTPUTS : ACTION_MAX_INPUTS;
        int r;

        if (!loader_visit(l, n) || ynode_is_null(n) || !loader_expect(l, n, Y_MAPPING, what))
                return 0;
        r = loader_check_keys(l, n, &(KeySet){ .what = what });
        if (r < 0)
                return r;
        if (n->n / 2 > max) {
                loader_error_at(l, key->pos, "the action has %zu %s, more than the limit of %u", n->n / 2,
                        what, max);
                return 0;
        }
        if (outputs)
                a->outputs = calloc(n->n / 2 + 1, sizeof(ActionOutput));
        else
                a->inputs = calloc(n->n / 2 + 1, sizeof(ActionInput));
        if (outputs ? !a->outputs : !a->inputs)
                return -ENOMEM;

        for (size_t i = 0; i + 1 < n->n; i += 2) {
                const YNode *k = n->items[i];

                if (k->type != Y_SCALAR || !loader_visit(l, k) ||
                        !check_name(l, k, outputs ? "output" : "input", n, i))
                        continue;
                if (outputs)
                        r = load_output(l, k, n->items[i + 1], composite, &a->outputs[a->n_outputs++]);
                else
                        r = load_input(l, k, n->items[i + 1], &a->inputs[a->n_inputs++]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* main, pre, post: a file of the action, relative to its directory and never outside it */
static int load_file(Loader *l, const YNode *n, const char *what, char **ret) {
        const char *s;
        bool bad = false;

        if (!loader_visit(l, n) || !loader_expect(l, n, Y_SCALAR, what))
                return 0;
        s = n->value;
        for (size_t i = 0; i < n->len; i++)
                bad = bad || (unsigned char) s[i] < ' ' || s[i] == 0x7f;
        for (const char *c = s; !bad && c; c = strchr(c, '/')) {
                if (*c == '/')
                        c++;
                bad = startswith(c, "..") && (c[2] == '/' || c[2] == '\0');
        }
        if (n->len == 0 || s[0] == '/' || bad || strstr(s, "${{")) {
                loader_error_at(l, n->pos,
                        "runs.%s must be a file relative to the action's directory, without '..' components, control characters or expressions",
                        what);
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* pre-if, post-if: always() when absent, as on GitHub */
static int load_hook_condition(Loader *l, const YNode *n, WorkflowCondition *c) {
        if (n)
                return loader_set_condition(l, n, &action_expr_hook_if, c);
        return expr_parse_condition("always()", STRLEN("always()"), &action_expr_hook_if, &c->node, NULL);
}

static int load_javascript(Loader *l, const YNode *runs, Action *a) {
        static const char *const keys[] = { "using", "main", "pre", "post", "pre-if", "post-if", NULL };
        const YNode *v;
        int r;

        r = loader_check_keys(l, runs, &(KeySet){ keys, NULL, "runs of a JavaScript action" });
        if (r < 0)
                return r;
        v = ynode_map_get(runs, "main");
        if (!v)
                loader_error_at(l, runs->pos, "a JavaScript action needs runs.main");
        else if ((r = load_file(l, v, "main", &a->main)) < 0)
                return r;
        v = ynode_map_get(runs, "pre");
        if (v && (r = load_file(l, v, "pre", &a->pre)) < 0)
                return r;
        v = ynode_map_get(runs, "post");
        if (v && (r = load_file(l, v, "post", &a->post)) < 0)
                return r;
        if (ynode_map_get(runs, "pre-if") && !ynode_map_get(runs, "pre"))
                loader_error_at(l, ynode_map_key(runs, "pre-if")->pos, "runs.pre-if goes with runs.pre");
        if (ynode_map_get(runs, "post-if") && !ynode_map_get(runs, "post"))
                loader_error_at(l, ynode_map_key(runs, "post-if")->pos, "runs.post-if goes with runs.post");
        r = load_hook_condition(l, ynode_map_get(runs, "pre-if"), &a->pre_if);
        if (r < 0)
                return r;
        return load_hook_condition(l, ynode_map_get(runs, "post-if"), &a->post_if);
}

static int load_composite(Loader *l, const YNode *runs, Action *a) {
        static const char *const keys[] = { "using", "steps", NULL };
        const YNode *steps;
        int r;

        r = loader_check_keys(l, runs, &(KeySet){ keys, NULL, "runs of a composite action" });
        if (r < 0)
                return r;
        steps = ynode_map_get(runs, "steps");
        if (!steps) {
                loader_error_at(l, runs->pos, "a composite action needs runs.steps");
                return 0;
        }
        if (!loader_visit(l, steps) || !loader_expect(l, steps, Y_SEQUENCE, "runs.steps"))
                return 0;
        if (steps->n == 0) {
                loader_error_at(l, steps->pos, "a composite action needs at least one step");
                return 0;
        }
        if (steps->n > WORKFLOW_MAX_STEPS)
                loader_error_at(l, steps->items[WORKFLOW_MAX_STEPS]->pos,
                        "the action has %zu steps, more than the limit of %u", steps->n, WORKFLOW_MAX_STEPS);

        a->steps = calloc(MIN(steps->n, WORKFLOW_MAX_STEPS), sizeof(WorkflowStep));
        if (!a->steps)
                return -ENOMEM;
        for (size_t i = 0; i < steps->n && i < WORKFLOW_MAX_STEPS; i++) {
                WorkflowStep *s = &a->steps[a->n_steps++];

                s->number = (unsigned) a->n_steps;
                if (!loader_visit(l, steps->items[i]))
                        break;
                r = loader_load_step(l, steps->items[i],
                        &(StepPlace){
                                .composite = true,
                                .expr = &action_expr_step,
                                .expr_if = &action_expr_step_if,
                        },
                        s);
                if (r < 0)
                        return r;
        }
        return loader_step_ids(l, steps, a->steps, a->n_steps, "the action");
}

/* runs.using: GitHub's names compare ignoring case. Returns false after reporting. */
static bool parse_using(Loader *l, const YNode *n, ActionUsing *ret) {
        if (!loader_visit(l, n) || !loader_expect(l, n, Y_SCALAR, "runs.using"))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(using_names); i++)
                if (strcasecmp(n->value, using_names[i]) == 0) {
                        *ret = (ActionUsing) i;
                        return true;
                }
        if (strcasecmp(n->value, "docker") == 0)
                loader_error_at(l, n->pos, "runs.using: docker: container actions are not supported yet");
        else if (strcasecmp(n->value, "node12") == 0)
                loader_error_at(l, n->pos,
                        "runs.using: node12 is no longer run (GitHub retired it): use node20 or node24");
        else
                loader_error_at(
                        l, n->pos, "unknown runs.using '%s': node16, node20, node24 or composite", n->value);
        return false;
}

static int load_action(Loader *l, Action *a) {
        static const char *const keys[] = { "name", "author", "description", "inputs", "outputs", "runs",
                "branding", NULL };
        const YNode *root = l->root, *v, *runs, *using;
        bool known = false;
        int r;

        if (!root || (root->type == Y_SCALAR && ynode_is_null(root))) {
                loader_error_at(l, (WorkflowPos){ 1, 1 }, "the action file is empty");
                return 0;
        }
        if (!loader_visit(l, root))
                return 0;
        if (root->type != Y_MAPPING) {
                loader_error_at(l, root->pos, "an action must be a mapping, not %s", ynode_type_name(root));
                return 0;
        }
        r = loader_check_keys(l, root, &(KeySet){ keys, NULL, "the action" });
        if (r < 0)
                return r;

        v = ynode_map_get(root, "name");
        if (!v)
                loader_error_at(l, root->pos, "the action has no name");
        else if ((r = load_text(l, v, "name", &a->name)) < 0)
                return r;
        else if (a->name && !*a->name)
                loader_error_at(l, v->pos, "the action's name must not be empty");
        v = ynode_map_get(root, "description");
        if (v && (r = load_text(l, v, "description", &a->description)) < 0)
                return r;
        v = ynode_map_get(root, "author");
        if (v && loader_visit(l, v))
                (void) loader_expect(l, v, Y_SCALAR, "author");
        v = ynode_map_get(root, "branding");
        if (v && loader_visit(l, v))
                (void) loader_expect(l, v, Y_MAPPING, "branding"); /* icon and color: only shown on GitHub */

        runs = ynode_map_get(root, "runs");
        if (!runs)
                loader_error_at(l, root->pos, "the action has no runs");
        else if (loader_visit(l, runs) && loader_expect(l, runs, Y_MAPPING, "runs")) {
                using = ynode_map_get(runs, "using");
                if (!using)
                        loader_error_at(
                                l, runs->pos, "runs needs 'using': node16, node20, node24 or composite");
                else
                        known = parse_using(l, using, &a->using);
        }

        /* inputs first and outputs then, whose shape depends on what the action is */
        v = ynode_map_get(root, "inputs");
        if (v && (r = load_named(l, ynode_map_key(root, "inputs"), v, false, false, a)) < 0)
                return r;
        if (!known)
                return 0;
        v = ynode_map_get(root, "outputs");
        if (v &&
                (r = load_named(l, ynode_map_key(root, "outputs"), v, true,
                         a->using == ACTION_USING_COMPOSITE, a)) < 0)
                return r;
        return a->using == ACTION_USING_COMPOSITE ? load_composite(l, runs, a) : load_javascript(l, runs, a);
}

int action_load(const char *text, size_t len, Action **ret, WorkflowErrors *errors) {
        _cleanup_(action_freep) Action *a = NULL;
        Loader l = { .document = "an action file" };
        int r;

        r = loader_begin(&l, text, len);
        if (r >= 0) {
                a = calloc(1, sizeof(Action));
                r = a ? load_action(&l, a) : -ENOMEM;
        }
        r = loader_finish(&l, r, errors);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}

Action *action_free(Action *a) {
        if (!a)
                return NULL;
        free(a->name);
        free(a->description);
        for (size_t i = 0; i < a->n_inputs; i++) {
                free(a->inputs[i].name);
                workflow_string_done(&a->inputs[i].default_value);
                free(a->inputs[i].deprecation_message);
        }
        free(a->inputs);
        for (size_t i = 0; i < a->n_outputs; i++) {
                free(a->outputs[i].name);
                workflow_string_done(&a->outputs[i].value);
        }
        free(a->outputs);
        free(a->main);
        free(a->pre);
        free(a->post);
        workflow_condition_done(&a->pre_if);
        workflow_condition_done(&a->post_if);
        for (size_t i = 0; i < a->n_steps; i++)
                workflow_step_done(&a->steps[i]);
        free(a->steps);
        free(a);
        return NULL;
}
