/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The internal state of a run (run-state.h): written field by field from the structs of run.h, read back
 * as untrusted input. Reading checks each value (type, range, enum, length), then each job and step
 * against its definition and against the rules the state machine keeps (a step runs only in a job whose
 * phase is STEP, a timer is armed only where one can fire, ...), so that a state the machine could not
 * have produced never reaches it. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "concurrency.h"
#include "escape.h"
#include "json-util.h"
#include "macro.h"
#include "run-internal.h"
#include "run-state.h"

static const char *const phase_table[] = {
        [RUN_JOB_WAITING] = "waiting",
        [RUN_JOB_QUEUED] = "queued",
        [RUN_JOB_STEPPING] = "stepping",
        [RUN_JOB_STEP] = "step",
        [RUN_JOB_CLEANUP] = "cleanup",
        [RUN_JOB_DONE] = "done",
};

#define N_CANCEL_STAGES (RUN_CANCEL_FORCE + 1)

/* ---- writing ---- */

/* Adds v under key; v NULL means the allocation failed. */
static int add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_null(json_object *o, const char *key) {
        return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
}

static int add_uint(json_object *o, const char *key, uint64_t u) {
        return add(o, key, json_object_new_uint64(u));
}

static int add_int(json_object *o, const char *key, int i) {
        return add(o, key, json_object_new_int(i));
}

static int add_bool(json_object *o, const char *key, bool b) {
        return add(o, key, json_object_new_boolean(b));
}

static int add_string(json_object *o, const char *key, const char *s) {
        return s ? add(o, key, json_object_new_string(s)) : add_null(o, key);
}

static int add_conclusion(json_object *o, const char *key, RunConclusion c) {
        return add_string(o, key, run_conclusion_to_string(c));
}

static int expr_to_json(const ExprValue *v, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        switch (v->kind) {
        case EXPR_NULL:
                *ret = NULL;
                return 0;
        case EXPR_BOOLEAN:
                o = json_object_new_boolean(v->boolean);
                break;
        case EXPR_NUMBER:
                if (!isfinite(v->number))
                        return -EINVAL;
                o = json_object_new_double(v->number);
                break;
        case EXPR_STRING:
                if (v->string.len > INT32_MAX)
                        return -EINVAL;
                o = json_object_new_string_len(v->string.s, (int) v->string.len);
                break;
        case EXPR_ARRAY:
                o = json_object_new_array();
                for (size_t i = 0; o && i < v->array.n; i++) {
                        json_object *item;

                        r = expr_to_json(v->array.items[i], &item);
                        if (r < 0)
                                return r;
                        if (json_object_array_add(o, item) < 0) {
                                json_object_put(item);
                                return -ENOMEM;
                        }
                }
                break;
        case EXPR_OBJECT:
                o = json_object_new_object();
                for (size_t i = 0; o && i < v->object.n; i++) {
                        const ExprPair *p = &v->object.pairs[i];
                        json_object *item;

                        if (memchr(p->key, 0, p->key_len))
                                return -EINVAL;
                        r = expr_to_json(p->value, &item);
                        if (r < 0)
                                return r;
                        r = item ? add(o, p->key, item) : add_null(o, p->key);
                        if (r < 0)
                                return r;
                }
                break;
        default:
                return -EINVAL;
        }
        if (!o)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int add_expr(json_object *o, const char *key, const ExprValue *v) {
        json_object *j;
        int r;

        if (!v)
                return add_null(o, key);
        r = expr_to_json(v, &j);
        if (r < 0)
                return r;
        return j ? add(o, key, j) : add_null(o, key);
}

/* v with every string that contains a secret or a masked value masked: they never reach the disk
 * (README, "Secrets"). */
static int add_masked_expr(json_object *o, const char *key, const ExprValue *v, const Run *run, size_t job) {
        _cleanup_(expr_value_unrefp) ExprValue *masked = NULL;
        int r;

        r = run_mask_strings(run, job, v, &masked);
        if (r < 0)
                return r;
        return add_expr(o, key, masked);
}

/* The actions a job's steps loaded, each once: "actions" of the job, which its steps name by index. */
typedef struct LoadedActions {
        const RunLoadedAction **items;
        size_t n;
} LoadedActions;

static void loaded_actions_done(LoadedActions *l) {
        free(l->items);
}

static size_t loaded_index(const LoadedActions *l, const RunLoadedAction *a) {
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i] == a)
                        return i;
        return SIZE_MAX;
}

static const char *const role_table[] = {
        [RUN_STEP_MAIN] = "main",
        [RUN_STEP_PRE] = "pre",
        [RUN_STEP_POST] = "post",
};

/* What the steps of a job that actions added need read back (README, "Actions"): absent for a step of
 * the workflow without an action, so that an earlier agent's state reads. */
static int step_action_to_json(
        const Run *run, size_t job, const RunStep *s, const LoadedActions *loaded, json_object *o) {
        const RunJob *j = &run->jobs[job];
        int r;

        if ((r = add_uint(o, "number", s->number)) < 0)
                return r;
        if (s->role != RUN_STEP_MAIN &&
                ((r = add_string(o, "role", role_table[s->role])) < 0 ||
                        (r = add_uint(o, "main", s->main)) < 0))
                return r;
        if (s->parent != SIZE_MAX &&
                ((r = add_uint(o, "parent", s->parent)) < 0 ||
                        (r = add_uint(o, "inner",
                                 (uint64_t) (s->def - j->steps[s->parent].action->action->steps))) < 0))
                return r;
        if (s->action && s->role == RUN_STEP_MAIN &&
                (r = add_uint(o, "action", loaded_index(loaded, s->action))) < 0)
                return r;
        if (s->end != SIZE_MAX &&
                ((r = add_uint(o, "end", s->end)) < 0 ||
                        (r = add_conclusion(o, "local_status", s->local_status)) < 0))
                return r;
        if (s->state && (r = add_masked_expr(o, "state", s->state, run, job)) < 0)
                return r;
        return 0;
}

static int step_to_json(
        const Run *run, size_t job, const RunStep *s, const LoadedActions *loaded, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *annotations;
        int r;

        if (!o)
                return -ENOMEM;
        if (run->jobs[job].n_steps != run->jobs[job].def->n_steps || s->action || s->state) {
                r = step_action_to_json(run, job, s, loaded, o);
                if (r < 0)
                        return r;
        }
        if ((r = add_string(o, "id", s->def->id)) < 0 ||
                (r = add_string(o, "status", run_status_to_string(s->status))) < 0 ||
                (r = add_conclusion(o, "outcome", s->outcome)) < 0 ||
                (r = add_conclusion(o, "conclusion", s->conclusion)) < 0 ||
                (r = add_string(o, "name", s->name)) < 0 || (r = add_string(o, "unit", s->unit)) < 0 ||
                (r = add_string(o, "message", s->message)) < 0 ||
                (r = add_int(o, "exit_code", s->exit_code)) < 0 ||
                (r = add_int(o, "exit_signal", s->exit_signal)) < 0 ||
                (r = add_uint(o, "started_at", s->started_at)) < 0 ||
                (r = add_uint(o, "completed_at", s->completed_at)) < 0 ||
                (r = add_masked_expr(o, "outputs", s->outputs, run, job)) < 0 ||
                (r = add_bool(o, "entry_running", s->entry_running)) < 0 ||
                (r = add_string(o, "cancel_stage", run_cancel_stage_to_string(s->cancel_stage))) < 0 ||
                (r = add_bool(o, "timed_out", s->timed_out)) < 0 ||
                (r = add_bool(o, "exited", s->exited)) < 0 || (r = add_bool(o, "emptied", s->emptied)) < 0 ||
                (r = add_uint(o, "cancel_began", s->cancel_began)) < 0 ||
                (r = add_uint(o, "timer", s->timer)) < 0 ||
                (r = add(o, "annotations", annotations = json_object_new_array())) < 0)
                return r;
        for (size_t i = 0; i < s->n_annotations; i++)
                if (json_object_array_add(annotations, annotation_to_json(&s->annotations[i])) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* "concurrency": the evaluated group, and whether it is held or waited for (README, "Concurrency
 * groups"); absent without one, so that an earlier agent's state reads. */
static int add_group(json_object *o, const RunGroup *g) {
        json_object *c;
        int r;

        if (!g->name || g->state == RUN_GROUP_NONE)
                return 0;
        if ((r = add(o, "concurrency", c = json_object_new_object())) < 0 ||
                (r = add_string(c, "group", g->name)) < 0 ||
                (r = add_bool(c, "cancel_in_progress", g->cancel_in_progress)) < 0 ||
                (r = add_string(c, "state", g->state == RUN_GROUP_PENDING ? "pending" : "held")) < 0)
                return r;
        return 0;
}

static int job_to_json(const Run *run, size_t job, json_object **ret) {
        const RunJob *j = &run->jobs[job];
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_(loaded_actions_done) LoadedActions loaded = {};
        size_t loaded_allocated = 0;
        json_object *path, *steps;
        int r;

        if (!o)
                return -ENOMEM;
        if ((r = add_string(o, "id", j->def->id)) < 0 || (r = add_uint(o, "instance", j->instance)) < 0 ||
                (r = add_uint(o, "number", j->number)) < 0 ||
                /* loading an action is between steps: a restarted agent loads it again */
                (r = add_string(o, "phase",
                         phase_table[j->phase == RUN_JOB_LOADING ? RUN_JOB_STEPPING : j->phase])) < 0 ||
                (r = add_string(o, "status", run_status_to_string(j->status))) < 0 ||
                (r = add_conclusion(o, "outcome", j->outcome)) < 0 ||
                (r = add_conclusion(o, "conclusion", j->conclusion)) < 0 ||
                (r = add_conclusion(o, "local_status", j->local_status)) < 0 ||
                (r = add_string(o, "name", j->name)) < 0 || (r = add_string(o, "message", j->message)) < 0 ||
                (r = add_uint(o, "next_step", j->next_step)) < 0 ||
                (r = add_masked_expr(o, "env", j->env, run, job)) < 0 ||
                (r = add(o, "path", path = json_object_new_array())) < 0)
                return r;
        for (size_t i = 0; i < j->n_path; i++)
                if (json_object_array_add(path, json_object_new_string(j->path[i])) < 0)
                        return -ENOMEM;
        if ((r = add_expr(o, "outputs", j->outputs)) < 0 ||
                (r = add_uint(o, "started_at", j->started_at)) < 0 ||
                (r = add_uint(o, "completed_at", j->completed_at)) < 0 ||
                (r = add_uint(o, "timer", j->timer)) < 0 ||
                (r = add(o, "steps", steps = json_object_new_array())) < 0)
                return r;
        /* a matrix job's instance: its combination (checked against the workflow's expansion when read
         * back) and whether fail-fast cancelled it */
        if (j->matrix &&
                ((r = add_expr(o, "matrix", j->matrix)) < 0 ||
                        (r = add_bool(o, "fail_fast", j->fail_fast)) < 0))
                return r;
        /* why it was cancelled, when it was: optional, so that an earlier agent's state reads */
        if (j->cancel_reason != RUN_CANCEL_REASON_NONE &&
                ((r = add_string(o, "cancel_reason", run_cancel_reason_to_string(j->cancel_reason))) < 0 ||
                        (r = add_string(o, "cancel_cause", j->cancel_cause)) < 0))
                return r;
        r = add_group(o, &j->group);
        if (r < 0)
                return r;
        for (size_t i = 0; i < j->n_steps; i++)
                if (j->steps[i].action && j->steps[i].role == RUN_STEP_MAIN &&
                        loaded_index(&loaded, j->steps[i].action) == SIZE_MAX) {
                        if (array_grow((void **) &loaded.items, &loaded_allocated, loaded.n + 1,
                                    sizeof(*loaded.items)) < 0)
                                return -ENOMEM;
                        loaded.items[loaded.n++] = j->steps[i].action;
                }
        if (loaded.n > 0 || j->n_steps != j->def->n_steps) {
                json_object *actions;

                if ((r = add_uint(o, "post_at", j->post_at)) < 0 ||
                        (r = add_uint(o, "next_number", j->next_number)) < 0 ||
                        (r = add(o, "actions", actions = json_object_new_array())) < 0)
                        return r;
                for (size_t i = 0; i < loaded.n; i++) {
                        json_object *a = json_object_new_object();

                        if (!a || json_object_array_add(actions, a) < 0) {
                                json_object_put(a);
                                return -ENOMEM;
                        }
                        if ((r = add_string(a, "dir", loaded.items[i]->dir)) < 0 ||
                                (r = add_string(a, "repository", loaded.items[i]->repository)) < 0 ||
                                (r = add_string(a, "ref", loaded.items[i]->ref)) < 0 ||
                                (r = add_string(a, "text", loaded.items[i]->text)) < 0)
                                return r;
                }
        }
        for (size_t i = 0; i < j->n_steps; i++) {
                json_object *s;

                r = step_to_json(run, job, &j->steps[i], &loaded, &s);
                if (r < 0)
                        return r;
                if (json_object_array_add(steps, s) < 0) {
                        json_object_put(s);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int run_state_to_json(const Run *run, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *cancel, *jobs;
        int r;

        if (!o)
                return -ENOMEM;
        if ((r = add_int(o, "version", RUN_STATE_VERSION)) < 0 || (r = add_uint(o, "id", run->id)) < 0 ||
                (r = add_string(o, "source", run->source)) < 0 ||
                (r = add_string(o, "workspace_root", run->workspace_root)) < 0 ||
                (r = add_expr(o, "github", run->github)) < 0 ||
                (r = add_expr(o, "runner", run->runner)) < 0 ||
                (run->inputs && (r = add_expr(o, "inputs", run->inputs)) < 0) ||
                (run->vars && (r = add_expr(o, "vars", run->vars)) < 0) ||
                (r = add_string(o, "source_format", run->source_format)) < 0 ||
                (r = add_string(o, "status", run_status_to_string(run->status))) < 0 ||
                (r = add_conclusion(o, "conclusion", run->conclusion)) < 0 ||
                (r = add(o, "cancel", cancel = json_object_new_object())) < 0 ||
                (r = add_uint(cancel, "interrupt_usec", run->cancel.interrupt_usec)) < 0 ||
                (r = add_uint(cancel, "terminate_usec", run->cancel.terminate_usec)) < 0 ||
                (r = add_uint(cancel, "force_usec", run->cancel.force_usec)) < 0 ||
                (r = add_bool(o, "cancel_requested", run->cancel_requested)) < 0 ||
                (r = add_string(o, "cancelled_by", run->cancelled_by)) < 0 ||
                (r = add_string(o, "cancel_reason", run_cancel_reason_to_string(run->cancel_reason))) < 0 ||
                (r = add_string(o, "force_reason", run_cancel_reason_to_string(run->force_reason))) < 0 ||
                (r = add_uint(o, "cancel_requested_at", run->cancel_requested_at)) < 0 ||
                (r = add_bool(o, "force_terminated", run->force_terminated)) < 0 ||
                (r = add_uint(o, "timer", run->timer)) < 0 ||
                (r = add_uint(o, "created_at", run->created_at)) < 0 ||
                (r = add_uint(o, "started_at", run->started_at)) < 0 ||
                (r = add_uint(o, "completed_at", run->completed_at)) < 0 ||
                (run->cancel_cause && (r = add_string(o, "cancel_cause", run->cancel_cause)) < 0) ||
                (r = add_group(o, &run->group)) < 0 ||
                (r = add(o, "jobs", jobs = json_object_new_array())) < 0)
                return r;
        for (size_t i = 0; i < run->n_jobs; i++) {
                json_object *j;

                r = job_to_json(run, i, &j);
                if (r < 0)
                        return r;
                if (json_object_array_add(jobs, j) < 0) {
                        json_object_put(j);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- the values run_state_to_json() writes masked, kept elsewhere ---- */

static ExprValue **unmasked_slot(const Run *run, size_t job, size_t step) {
        RunJob *j;

        if (job >= run->n_jobs)
                return NULL;
        j = &run->jobs[job];
        if (step == RUN_STATE_JOB_ENV)
                return &j->env;
        if (step & RUN_STATE_STEP_STATE) {
                step &= ~RUN_STATE_STEP_STATE;
                return step < j->n_steps ? &j->steps[step].state : NULL;
        }
        return step < j->n_steps ? &j->steps[step].outputs : NULL;
}

int run_state_unmasked_text(const Run *run, size_t job, size_t step, char **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *masked = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        ExprValue **slot = unmasked_slot(run, job, step);
        const char *text;
        int r;

        *ret = NULL;
        if (!slot)
                return -EINVAL;
        r = run_mask_strings(run, job, *slot, &masked);
        if (r < 0)
                return r;
        if (masked == *slot)
                return 0; /* written as it is */
        r = expr_to_json(*slot, &o);
        if (r < 0)
                return r;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        *ret = strdup(text);
        return *ret ? 0 : -ENOMEM;
}

/* ---- reading: values ---- */

/* Where in the state a value is ("jobs[1].steps[0]."), and the first reason for refusing it. */
typedef struct Parser {
        int version;
        char where[64];
        char *error;
        bool oom;
} Parser;

static int fail(Parser *p, const char *key, const char *fmt, ...) _printf_(3, 4);
static int fail(Parser *p, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *reason = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&reason, fmt, ap);
        va_end(ap);
        if (r < 0 || asprintf(&p->error, "%s%s: %s", p->where, key, reason) < 0) {
                p->error = NULL;
                p->oom = true;
                return -ENOMEM;
        }
        return -EBADMSG;
}

/* A value from the state, shortened and escaped for the one-line reason. */
static int fail_value(Parser *p, const char *key, const char *what, const char *value) {
        _cleanup_free_ char *e = escape_for_terminal_length(value, strnlen(value, 40));

        if (!e) {
                p->oom = true;
                return -ENOMEM;
        }
        return fail(p, key, "%s '%s%s'", what, e, strlen(value) > 40 ? "…" : "");
}

static const char *type_name(json_type t) {
        switch (t) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "a boolean";
        case json_type_double:
                return "a number";
        case json_type_int:
                return "an integer";
        case json_type_string:
                return "a string";
        case json_type_array:
                return "an array";
        case json_type_object:
                return "an object";
        }
        return "?";
}

/* The member key of o, of type type (or null, when nullable: *ret NULL). */
static int get(
        Parser *p, json_object *o, const char *key, json_type type, bool nullable, json_object **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return fail(p, key, "missing");
        if (!v && nullable) {
                *ret = NULL;
                return 0;
        }
        if (json_object_get_type(v) != type)
                return fail(p, key, "expected %s%s, not %s", type_name(type), nullable ? " or null" : "",
                        type_name(json_object_get_type(v)));
        *ret = v;
        return 0;
}

/* Refuses the keys of o that are not in keys: a nested object holds exactly what this version writes. */
static int check_keys(Parser *p, json_object *o, const char *const *keys) {
        json_object_object_foreach(o, key, v) {
                bool known = false;

                (void) v;
                for (const char *const *k = keys; *k && !known; k++)
                        known = streq(*k, key);
                if (!known) {
                        /* The key goes into the one-line reason: escaped and shortened. */
                        _cleanup_free_ char *e = escape_for_terminal_length(key, strnlen(key, 40));

                        if (!e) {
                                p->oom = true;
                                return -ENOMEM;
                        }
                        return fail(p, e, "unknown key");
                }
        }
        return 0;
}

static int get_uint64(Parser *p, json_object *o, const char *key, uint64_t *ret) {
        json_object *v;
        int r;

        r = get(p, o, key, json_type_int, false, &v);
        if (r < 0)
                return r;
        if (json_object_get_int64(v) < 0)
                return fail(p, key, "negative");
        *ret = json_object_get_uint64(v);
        return 0;
}

static int get_int(Parser *p, json_object *o, const char *key, int min, int max, int *ret) {
        json_object *v;
        int64_t i;
        int r;

        r = get(p, o, key, json_type_int, false, &v);
        if (r < 0)
                return r;
        i = json_object_get_int64(v);
        if (i < min || i > max)
                return fail(p, key, "%" PRIi64 " is out of range [%d, %d]", i, min, max);
        *ret = (int) i;
        return 0;
}

static int get_bool(Parser *p, json_object *o, const char *key, bool *ret) {
        json_object *v;
        int r;

        r = get(p, o, key, json_type_boolean, false, &v);
        if (r < 0)
                return r;
        *ret = json_object_get_boolean(v);
        return 0;
}

/* A string of text: at most RUN_STATE_MAX_STRING bytes, no NUL. */
static int get_string(Parser *p, json_object *o, const char *key, bool nullable, char **ret) {
        json_object *v;
        size_t len;
        char *s;
        int r;

        r = get(p, o, key, json_type_string, nullable, &v);
        if (r < 0)
                return r;
        if (!v) {
                *ret = NULL;
                return 0;
        }
        len = (size_t) json_object_get_string_len(v);
        if (len > RUN_STATE_MAX_STRING)
                return fail(p, key, "longer than %u bytes", RUN_STATE_MAX_STRING);
        if (memchr(json_object_get_string(v), 0, len))
                return fail(p, key, "contains a NUL byte");
        s = strdup(json_object_get_string(v));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* One of the n strings of table (NULL entries never match); null is value null_value if nullable. */
static int get_enum(Parser *p, json_object *o, const char *key, const char *const *table, int n,
        bool nullable, int null_value, int *ret) {
        json_object *v;
        const char *s;
        int r;

        r = get(p, o, key, json_type_string, nullable, &v);
        if (r < 0)
                return r;
        if (!v) {
                *ret = null_value;
                return 0;
        }
        s = json_object_get_string(v);
        for (int i = 0; i < n; i++)
                if (table[i] && streq(table[i], s)) {
                        *ret = i;
                        return 0;
                }
        return fail_value(p, key, "unknown value", s);
}

static int get_status(Parser *p, json_object *o, const char *key, RunStatus *ret) {
        const char *table[_RUN_STATUS_MAX];
        int r, v = 0;

        for (int i = 0; i < _RUN_STATUS_MAX; i++)
                table[i] = run_status_to_string(i);
        r = get_enum(p, o, key, table, _RUN_STATUS_MAX, false, 0, &v);
        if (r >= 0)
                *ret = v;
        return r;
}

/* null is RUN_CONCLUSION_NONE; without none, it is refused. */
static int get_conclusion(Parser *p, json_object *o, const char *key, bool none, RunConclusion *ret) {
        const char *table[_RUN_CONCLUSION_MAX];
        int r, v = 0;

        for (int i = 0; i < _RUN_CONCLUSION_MAX; i++)
                table[i] = run_conclusion_to_string(i);
        r = get_enum(p, o, key, table, _RUN_CONCLUSION_MAX, none, RUN_CONCLUSION_NONE, &v);
        if (r >= 0)
                *ret = v;
        return r;
}

static int json_to_expr(
        Parser *p, const char *key, json_object *o, unsigned depth, unsigned *members, ExprValue **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        int r;

        if (depth > EXPR_VALUE_MAX_DEPTH)
                return fail(p, key, "nested deeper than %d", EXPR_VALUE_MAX_DEPTH);

        switch (json_object_get_type(o)) {
        case json_type_null:
                v = expr_value_new_null();
                break;
        case json_type_boolean:
                v = expr_value_new_boolean(json_object_get_boolean(o));
                break;
        case json_type_int:
                /* As expr_value_from_json() reads them: int64, or the unsigned reading above. */
                v = expr_value_new_number(json_object_get_int64(o) == INT64_MAX
                                ? (double) json_object_get_uint64(o)
                                : (double) json_object_get_int64(o));
                break;
        case json_type_double:
                if (!isfinite(json_object_get_double(o)))
                        return fail(p, key, "a number that is not finite");
                v = expr_value_new_number(json_object_get_double(o));
                break;
        case json_type_string:
                if ((size_t) json_object_get_string_len(o) > RUN_STATE_MAX_STRING)
                        return fail(p, key, "a string longer than %u bytes", RUN_STATE_MAX_STRING);
                v = expr_value_new_string(json_object_get_string(o), (size_t) json_object_get_string_len(o));
                break;
        case json_type_array:
                v = expr_value_new_array();
                for (size_t i = 0; v && i < json_object_array_length(o); i++) {
                        _cleanup_(expr_value_unrefp) ExprValue *item = NULL;

                        if (++*members > RUN_STATE_MAX_MEMBERS)
                                return fail(p, key, "more than %u members", RUN_STATE_MAX_MEMBERS);
                        r = json_to_expr(p, key, json_object_array_get_idx(o, i), depth + 1, members, &item);
                        if (r < 0)
                                return r;
                        if (expr_array_append(v, item) < 0)
                                return -ENOMEM;
                }
                break;
        case json_type_object: {
                v = expr_value_new_object();
                if (!v)
                        return -ENOMEM;
                json_object_object_foreach(o, k, val) {
                        _cleanup_(expr_value_unrefp) ExprValue *item = NULL;

                        if (++*members > RUN_STATE_MAX_MEMBERS)
                                return fail(p, key, "more than %u members", RUN_STATE_MAX_MEMBERS);
                        r = json_to_expr(p, key, val, depth + 1, members, &item);
                        if (r < 0)
                                return r;
                        /* Keys compare case-insensitively: two that differ only in case cannot both be. */
                        r = expr_object_add(v, k, strlen(k), item);
                        if (r == -EEXIST)
                                return fail_value(p, key, "duplicate key", k);
                        if (r < 0)
                                return r;
                }
                break;
        }
        }
        if (!v)
                return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

typedef enum ObjectKind {
        OBJECT_ANY,     /* a context: any values */
        OBJECT_STRINGS, /* outputs: strings */
        OBJECT_ENV,     /* an environment: strings without NUL */
} ObjectKind;

/* An object as an ExprValue (null: *ret NULL, if nullable). */
static int get_object(
        Parser *p, json_object *o, const char *key, ObjectKind kind, bool nullable, ExprValue **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        json_object *j;
        unsigned members = 0;
        int r;

        r = get(p, o, key, json_type_object, nullable, &j);
        if (r < 0)
                return r;
        if (!j) {
                *ret = NULL;
                return 0;
        }
        r = json_to_expr(p, key, j, 0, &members, &v);
        if (r < 0)
                return r;
        for (size_t i = 0; kind != OBJECT_ANY && i < v->object.n; i++) {
                const ExprValue *item = v->object.pairs[i].value;

                if (item->kind != EXPR_STRING)
                        return fail_value(p, key, "not a string:", v->object.pairs[i].key);
                if (kind == OBJECT_ENV && memchr(item->string.s, 0, item->string.len))
                        return fail_value(p, key, "contains a NUL byte:", v->object.pairs[i].key);
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* Keys that states written before they existed lack: absent is none. */
static int get_optional_object(Parser *p, json_object *o, const char *key, ExprValue **ret) {
        if (!json_object_object_get_ex(o, key, NULL)) {
                *ret = NULL;
                return 0;
        }
        return get_object(p, o, key, OBJECT_STRINGS, false, ret);
}

static int get_optional_source_format(Parser *p, json_object *o, char **ret) {
        int r;

        if (!json_object_object_get_ex(o, "source_format", NULL)) {
                *ret = NULL;
                return 0;
        }
        r = get_string(p, o, "source_format", true, ret);
        if (r < 0)
                return r;
        if (*ret && !streq(*ret, "git-bundle") && !streq(*ret, "tar"))
                return fail(p, "source_format", "not git-bundle, tar or null");
        return 0;
}

/* ---- reading: a step, a job, the run ---- */

static RunConclusion expected_conclusion(RunConclusion outcome, bool continue_on_error) {
        return outcome == RUN_CONCLUSION_FAILURE && continue_on_error ? RUN_CONCLUSION_SUCCESS : outcome;
}

static int check_id(Parser *p, json_object *o, const char *what, const char *id) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = get_string(p, o, "id", false, &s);
        if (r < 0)
                return r;
        if (!streq(s, id))
                return fail_value(p, "id", what, s);
        return 0;
}

/* Version 2: the instance and number a job has by its place among the jobs (run_jobs_init()). */
static int check_instance(Parser *p, json_object *o, const RunJob *j) {
        uint64_t instance, number;
        int r;

        if (p->version < 2)
                return 0;
        if ((r = get_uint64(p, o, "instance", &instance)) < 0 ||
                (r = get_uint64(p, o, "number", &number)) < 0)
                return r;
        if (instance != j->instance)
                return fail(p, "instance", "%" PRIu64 ", but this is instance %u of job %s", instance,
                        j->instance, j->def->id);
        if (number != j->number)
                return fail(p, "number", "%" PRIu64 ", but this is job %u of the run", number, j->number);
        return 0;
}

/* A step's annotations: absent in the state of an older agent. */
static int get_annotations(Parser *p, json_object *o, RunStep *s) {
        json_object *a;
        size_t n;
        int r;

        if (!json_object_object_get_ex(o, "annotations", &a))
                return 0;
        r = get(p, o, "annotations", json_type_array, false, &a);
        if (r < 0)
                return r;
        n = json_object_array_length(a);
        if (n > ANNOTATIONS_PER_LEVEL * _ANNOTATION_LEVEL_MAX)
                return fail(p, "annotations", "more than %u", ANNOTATIONS_PER_LEVEL * _ANNOTATION_LEVEL_MAX);
        s->annotations = calloc(MAX(n, (size_t) 1), sizeof(Annotation));
        if (!s->annotations)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r = annotation_from_json(json_object_array_get_idx(a, i), &s->annotations[i]);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(p, "annotations", "entry %zu is not a valid annotation", i);
                s->n_annotations++;
        }
        return 0;
}

static int step_from_json(Parser *p, const Run *run, size_t job, size_t step, json_object *o) {
        static const char *const keys[] = { "id", "status", "outcome", "conclusion", "name", "unit",
                "message", "exit_code", "exit_signal", "started_at", "completed_at", "outputs",
                "entry_running", "cancel_stage", "timed_out", "exited", "emptied", "cancel_began", "timer",
                "annotations", "number", "role", "main", "parent", "inner", "action", "end", "local_status",
                "state", NULL };
        const char *stages[N_CANCEL_STAGES];
        RunStep *s = &run->jobs[job].steps[step];
        _cleanup_free_ char *unit = NULL;
        int r, stage = 0;

        for (int i = 0; i < N_CANCEL_STAGES; i++)
                stages[i] = run_cancel_stage_to_string(i);
        if ((r = check_keys(p, o, keys)) < 0 ||
                (r = check_id(p, o, "not this step of the workflow:", s->def->id)) < 0 ||
                (r = get_status(p, o, "status", &s->status)) < 0 ||
                (r = get_conclusion(p, o, "outcome", true, &s->outcome)) < 0 ||
                (r = get_conclusion(p, o, "conclusion", true, &s->conclusion)) < 0 ||
                (r = get_string(p, o, "name", true, &s->name)) < 0 ||
                (r = get_string(p, o, "unit", true, &s->unit)) < 0 ||
                (r = get_string(p, o, "message", true, &s->message)) < 0 ||
                (r = get_int(p, o, "exit_code", -1, 255, &s->exit_code)) < 0 ||
                (r = get_int(p, o, "exit_signal", 0, 64, &s->exit_signal)) < 0 ||
                (r = get_uint64(p, o, "started_at", &s->started_at)) < 0 ||
                (r = get_uint64(p, o, "completed_at", &s->completed_at)) < 0 ||
                (r = get_object(p, o, "outputs", OBJECT_STRINGS, true, &s->outputs)) < 0 ||
                (r = get_bool(p, o, "entry_running", &s->entry_running)) < 0 ||
                (r = get_enum(p, o, "cancel_stage", stages, N_CANCEL_STAGES, false, 0, &stage)) < 0 ||
                (r = get_bool(p, o, "timed_out", &s->timed_out)) < 0 ||
                (r = get_bool(p, o, "exited", &s->exited)) < 0 ||
                (r = get_bool(p, o, "emptied", &s->emptied)) < 0 ||
                (r = get_uint64(p, o, "cancel_began", &s->cancel_began)) < 0 ||
                (r = get_uint64(p, o, "timer", &s->timer)) < 0 || (r = get_annotations(p, o, s)) < 0)
                return r;
        s->cancel_stage = stage;

        /* What the state machine keeps true of a step (run.c, cancel.c). */
        if (s->status == RUN_STATUS_COMPLETED) {
                if (s->outcome == RUN_CONCLUSION_NONE)
                        return fail(p, "outcome", "null in a completed step");
                if (s->conclusion != expected_conclusion(s->outcome, s->def->continue_on_error))
                        return fail(p, "conclusion", "does not follow from the outcome");
                if (s->timer != 0)
                        return fail(p, "timer", "armed in a completed step");
        } else if (s->outcome != RUN_CONCLUSION_NONE || s->conclusion != RUN_CONCLUSION_NONE)
                return fail(p, "conclusion", "set in a step that has not completed");
        if (s->status == RUN_STATUS_QUEUED &&
                (s->unit || s->entry_running || s->cancel_stage != RUN_CANCEL_NONE))
                return fail(p, "status", "queued, but the step was started");
        /* a composite action's step runs in its steps */
        if (s->status == RUN_STATUS_IN_PROGRESS && !s->unit && s->end == SIZE_MAX)
                return fail(p, "unit", "null in a running step");
        if (s->end != SIZE_MAX && s->unit)
                return fail(p, "unit", "set in a composite action's step");
        if (s->unit) {
                /* The agent kills this unit: it must be the step's own. */
                r = run_step_unit_name(run, job, step, &unit);
                if (r < 0)
                        return r;
                if (!streq(unit, s->unit))
                        return fail_value(p, "unit", "not the step's unit:", s->unit);
        }
        if (s->exit_signal > 0 && s->exit_code != -1)
                return fail(p, "exit_code", "set beside exit_signal");
        if (s->cancel_stage == RUN_CANCEL_NONE && (s->timed_out || s->cancel_began != 0))
                return fail(p, "cancel_stage", "none in a step whose cancellation began");
        if (s->cancel_stage == RUN_CANCEL_PENDING
                        ? s->entry_running
                        : s->cancel_stage > RUN_CANCEL_PENDING && !s->entry_running)
                return fail(p, "entry_running", "contradicts cancel_stage");
        if ((s->exited || s->emptied) && s->cancel_stage != RUN_CANCEL_KILL)
                return fail(p, "cancel_stage", "not kill in a step that waits for its exit or populated 0");
        if (s->status == RUN_STATUS_IN_PROGRESS && s->exited && s->emptied)
                return fail(p, "emptied", "a step that exited and emptied is not running");
        if (s->timer != 0 &&
                (!s->entry_running ||
                        !IN_SET(s->cancel_stage, RUN_CANCEL_NONE, RUN_CANCEL_INTERRUPT,
                                RUN_CANCEL_TERMINATE)))
                return fail(p, "timer", "armed in a step that has none");
        return 0;
}

static int get_path(Parser *p, json_object *o, RunJob *j) {
        json_object *a;
        size_t n;
        int r;

        r = get(p, o, "path", json_type_array, false, &a);
        if (r < 0)
                return r;
        n = json_object_array_length(a);
        if (n > RUN_STATE_MAX_PATHS)
                return fail(p, "path", "more than %u entries", RUN_STATE_MAX_PATHS);
        j->path = calloc(MAX(n, 1U), sizeof(char *));
        if (!j->path)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                size_t len = (size_t) json_object_get_string_len(e);

                if (!json_object_is_type(e, json_type_string))
                        return fail(
                                p, "path", "expected strings, not %s", type_name(json_object_get_type(e)));
                if (len > RUN_STATE_MAX_STRING || memchr(json_object_get_string(e), 0, len))
                        return fail(p, "path", "an entry is longer than %u bytes or contains a NUL byte",
                                RUN_STATE_MAX_STRING);
                j->path[i] = strdup(json_object_get_string(e));
                if (!j->path[i])
                        return -ENOMEM;
                j->n_path = i + 1;
        }
        return 0;
}

/* An optional reason (absent in an earlier agent's state). */
static int get_cancel_reason(Parser *p, json_object *o, const char *key, RunCancelReason *ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        if (!json_object_object_get_ex(o, key, NULL))
                return 0;
        r = get_string(p, o, key, true, &s);
        if (r < 0 || !s)
                return r;
        *ret = run_cancel_reason_from_string(s);
        if (*ret == RUN_CANCEL_REASON_NONE)
                return fail(p, key, "unknown reason '%s'", s);
        return 0;
}

/* A matrix job's instance has the combination the workflow's expansion gives it (run_jobs_init()), and
 * the state says so; a job without a matrix has neither key. */
static bool def_templated(const WorkflowJob *d) {
        return d->strategy && d->strategy->matrix && d->strategy->matrix->has_templates;
}

static int check_matrix(Parser *p, json_object *o, RunJob *j) {
        _cleanup_(json_object_putp) json_object *expected = NULL;
        json_object *v;
        int r;

        /* a matrix with ${{ }}: its combination as it was expanded, once it was */
        if (def_templated(j->def)) {
                if (!json_object_object_get_ex(o, "matrix", NULL))
                        return json_object_object_get_ex(o, "fail_fast", NULL)
                                ? fail(p, "fail_fast", "without a matrix")
                                : 0;
                r = get_object(p, o, "matrix", OBJECT_ANY, false, &j->matrix);
                if (r < 0)
                        return r;
                if (j->matrix->kind != EXPR_OBJECT)
                        return fail(p, "matrix", "not an object");
                return get_bool(p, o, "fail_fast", &j->fail_fast);
        }
        if (!j->matrix) {
                if (json_object_object_get_ex(o, "matrix", NULL) ||
                        json_object_object_get_ex(o, "fail_fast", NULL))
                        return fail(p, "matrix", "job %s has no matrix", j->def->id);
                return 0;
        }
        r = expr_to_json(j->matrix, &expected);
        if (r < 0)
                return r;
        r = get(p, o, "matrix", json_type_object, false, &v);
        if (r < 0)
                return r;
        if (!json_object_equal(v, expected))
                return fail(p, "matrix", "not the combination %u of job %s", j->instance, j->def->id);
        return get_bool(p, o, "fail_fast", &j->fail_fast);
}

/* "concurrency", when present: only where the workflow has one. */
static int get_group(Parser *p, json_object *o, const WorkflowConcurrency *def, RunGroup *ret) {
        static const char *const keys[] = { "group", "cancel_in_progress", "state", NULL };
        static const char *const states[] = { [RUN_GROUP_PENDING] = "pending", [RUN_GROUP_HELD] = "held" };
        json_object *c;
        size_t len = strlen(p->where);
        int r, state = 0;

        if (!json_object_object_get_ex(o, "concurrency", NULL))
                return 0;
        r = get(p, o, "concurrency", json_type_object, false, &c);
        if (r < 0)
                return r;
        if (!def)
                return fail(p, "concurrency", "the workflow has none here");
        snprintf(p->where + len, sizeof(p->where) - len, "concurrency.");
        if ((r = check_keys(p, c, keys)) < 0 || (r = get_string(p, c, "group", false, &ret->name)) < 0 ||
                (r = get_bool(p, c, "cancel_in_progress", &ret->cancel_in_progress)) < 0 ||
                (r = get_enum(p, c, "state", states, ELEMENTSOF(states), false, 0, &state)) < 0)
                return r;
        if (concurrency_group_invalid(ret->name))
                return fail(p, "group", "%s", concurrency_group_invalid(ret->name));
        if (state == RUN_GROUP_NONE)
                return fail(p, "state", "expected pending or held");
        ret->state = (RunGroupState) state;
        p->where[len] = 0;
        return 0;
}

/* An optional index: absent is SIZE_MAX; present, below limit. */
static int get_optional_index(Parser *p, json_object *o, const char *key, size_t limit, size_t *ret) {
        uint64_t v;
        int r;

        if (!json_object_object_get_ex(o, key, NULL)) {
                *ret = SIZE_MAX;
                return 0;
        }
        r = get_uint64(p, o, key, &v);
        if (r < 0)
                return r;
        if (v >= limit)
                return fail(p, key, "%" PRIu64 " is out of range", v);
        *ret = (size_t) v;
        return 0;
}

static int loaded_action_from_json(Parser *p, json_object *o, RunLoadedAction **ret) {
        static const char *const keys[] = { "dir", "repository", "ref", "text", NULL };
        _cleanup_(run_loaded_action_unrefp) RunLoadedAction *a = calloc(1, sizeof(RunLoadedAction));
        int r;

        if (!a)
                return -ENOMEM;
        a->n_ref = 1;
        if ((r = check_keys(p, o, keys)) < 0 || (r = get_string(p, o, "dir", false, &a->dir)) < 0 ||
                (r = get_string(p, o, "repository", true, &a->repository)) < 0 ||
                (r = get_string(p, o, "ref", true, &a->ref)) < 0 ||
                (r = get_string(p, o, "text", false, &a->text)) < 0)
                return r;
        if (!a->dir || a->dir[0] != '/')
                return fail(p, "dir", "not an absolute path");
        r = action_load(a->text, strlen(a->text), &a->action, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(p, "text", "not a valid action");
        *ret = TAKE_PTR(a);
        return 0;
}

/* The steps that actions added to the job, and its actions (README, "Actions"): its steps as they were,
 * each with its definition: the workflow's, in order, for the job's own; their action's for the steps of
 * a composite action; their action's step's for pre and post steps. */
static int job_actions_from_json(Parser *p, Run *run, size_t job, json_object *o, json_object *steps) {
        RunJob *j = &run->jobs[job];
        size_t n = json_object_array_length(steps), n_loaded = 0, top = 0;
        _cleanup_free_ RunLoadedAction **loaded = NULL;
        _cleanup_free_ size_t *inner = NULL;
        _cleanup_free_ bool *numbers = NULL;
        uint64_t post_at, next_number;
        json_object *actions;
        RunStep *grown;
        int r;

        if (!json_object_object_get_ex(o, "actions", NULL))
                return n == j->n_steps
                        ? 0
                        : fail(p, "steps", "%zu steps, but the workflow's job has %zu", n, j->n_steps);
        if ((r = get_uint64(p, o, "post_at", &post_at)) < 0 ||
                (r = get_uint64(p, o, "next_number", &next_number)) < 0 ||
                (r = get(p, o, "actions", json_type_array, false, &actions)) < 0)
                return r;
        if (n < j->def->n_steps || n > RUN_MAX_JOB_STEPS)
                return fail(p, "steps", "%zu steps, for a job with %zu of its own", n, j->def->n_steps);
        if (post_at > n || next_number > RUN_MAX_JOB_STEPS || next_number < n)
                return fail(p, "next_number", "does not fit the steps");
        if (json_object_array_length(actions) > n)
                return fail(p, "actions", "more than the steps");

        loaded = calloc(MAX(json_object_array_length(actions), (size_t) 1), sizeof(RunLoadedAction *));
        inner = calloc(MAX(n, (size_t) 1), sizeof(size_t));
        numbers = calloc(next_number + 1, sizeof(bool));
        grown = reallocarray(j->steps, MAX(n, (size_t) 1), sizeof(RunStep));
        if (!loaded || !inner || !numbers || !grown)
                return -ENOMEM;
        j->steps = grown;
        for (size_t i = j->n_steps; i < n; i++)
                j->steps[i] = (RunStep){
                        .exit_code = -1, .parent = SIZE_MAX, .main = SIZE_MAX, .end = SIZE_MAX
                };
        j->n_steps = n;
        j->post_at = (size_t) post_at;
        j->next_number = (unsigned) next_number;

        r = 0;
        for (size_t i = 0; r >= 0 && i < json_object_array_length(actions); i++) {
                json_object *a = json_object_array_get_idx(actions, i);

                if (!json_object_is_type(a, json_type_object))
                        r = fail(p, "actions", "entry %zu is not an object", i);
                else
                        r = loaded_action_from_json(p, a, &loaded[n_loaded]);
                if (r >= 0)
                        run->action_text += strlen(loaded[n_loaded++]->text);
        }

        /* What each step is, and where it belongs. */
        for (size_t i = 0; r >= 0 && i < n; i++) {
                json_object *so = json_object_array_get_idx(steps, i);
                RunStep *s = &j->steps[i];
                size_t action = SIZE_MAX;
                uint64_t number;
                int role = RUN_STEP_MAIN;

                if (!json_object_is_type(so, json_type_object)) {
                        r = fail(p, "steps", "entry %zu is not an object", i);
                        break;
                }
                if ((r = get_uint64(p, so, "number", &number)) < 0 ||
                        (json_object_object_get_ex(so, "role", NULL) &&
                                (r = get_enum(p, so, "role", role_table, ELEMENTSOF(role_table), false, 0,
                                         &role)) < 0) ||
                        (r = get_optional_index(p, so, "main", n, &s->main)) < 0 ||
                        (r = get_optional_index(p, so, "parent", i, &s->parent)) < 0 ||
                        (r = get_optional_index(p, so, "inner", WORKFLOW_MAX_STEPS, &inner[i])) < 0 ||
                        (r = get_optional_index(p, so, "action", n_loaded, &action)) < 0 ||
                        (r = get_optional_index(p, so, "end", n, &s->end)) < 0)
                        break;
                if (number == 0 || number > next_number || numbers[number]) {
                        r = fail(p, "number", "%" PRIu64 " is not a step's own", number);
                        break;
                }
                numbers[number] = true;
                s->number = (unsigned) number;
                s->role = role;
                if ((role == RUN_STEP_MAIN) != (s->main == SIZE_MAX) ||
                        (s->parent == SIZE_MAX) != (inner[i] == SIZE_MAX) ||
                        (role != RUN_STEP_MAIN && (s->parent != SIZE_MAX || action != SIZE_MAX)) ||
                        (s->end != SIZE_MAX && s->end < i)) {
                        r = fail(p, "role", "does not fit the step's place");
                        break;
                }
                if (s->end != SIZE_MAX &&
                        ((r = get_conclusion(p, so, "local_status", false, &s->local_status)) < 0))
                        break;
                if (json_object_object_get_ex(so, "state", NULL) &&
                        (r = get_object(p, so, "state", OBJECT_ENV, false, &s->state)) < 0)
                        break;
                if (action != SIZE_MAX)
                        s->action = run_loaded_action_ref(loaded[action]);
        }

        /* The job's own steps, in the workflow's order; then those of composite actions; then pre and
         * post steps, which are their action's step again. */
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (j->steps[i].role == RUN_STEP_MAIN && j->steps[i].parent == SIZE_MAX) {
                        if (top >= j->def->n_steps) {
                                r = fail(p, "steps", "more of the job's own than the workflow has");
                                break;
                        }
                        j->steps[i].def = &j->def->steps[top++];
                }
        if (r >= 0 && top != j->def->n_steps)
                r = fail(p, "steps", "%zu of the job's own, but the workflow has %zu", top, j->def->n_steps);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                RunStep *s = &j->steps[i];
                const RunStep *c;

                if (s->parent == SIZE_MAX)
                        continue;
                c = &j->steps[s->parent];
                if (!c->action || c->action->action->using != ACTION_USING_COMPOSITE ||
                        inner[i] >= c->action->action->n_steps || c->end == SIZE_MAX || c->end < i)
                        r = fail(p, "parent", "step %zu is not a composite action's step", i);
                else
                        s->def = &c->action->action->steps[inner[i]];
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                RunStep *s = &j->steps[i];
                const RunStep *m;

                if (s->role == RUN_STEP_MAIN)
                        continue;
                m = &j->steps[s->main];
                if (m->role != RUN_STEP_MAIN || !m->action ||
                        m->action->action->using == ACTION_USING_COMPOSITE ||
                        !(s->role == RUN_STEP_PRE ? m->action->action->pre : m->action->action->post))
                        r = fail(p, "main", "step %zu is not a JavaScript action's with a %s step", s->main,
                                role_table[s->role]);
                else {
                        s->def = m->def;
                        s->action = run_loaded_action_ref(m->action);
                }
        }
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (j->steps[i].def && j->steps[i].action && j->steps[i].role == RUN_STEP_MAIN &&
                        j->steps[i].def->kind != WORKFLOW_STEP_ACTION)
                        r = fail(p, "action", "step %zu does not use an action", i);

        for (size_t i = 0; i < n_loaded; i++)
                run_loaded_action_unref(loaded[i]);
        return r;
}

static int job_from_json(Parser *p, Run *run, size_t job, json_object *o) {
        static const char *const keys[] = { "id", "instance", "number", "phase", "status", "outcome",
                "conclusion", "local_status", "name", "message", "next_step", "env", "path", "outputs",
                "started_at", "completed_at", "timer", "steps", "matrix", "fail_fast", "cancel_reason",
                "cancel_cause", "concurrency", "post_at", "next_number", "actions", NULL };
        static const char *const local[_RUN_CONCLUSION_MAX] = {
                [RUN_CONCLUSION_SUCCESS] = "success",
                [RUN_CONCLUSION_FAILURE] = "failure",
                [RUN_CONCLUSION_CANCELLED] = "cancelled",
        };
        RunJob *j = &run->jobs[job];
        json_object *steps;
        uint64_t next_step;
        int r, phase = 0, local_status = 0;
        bool started, running;
        RunStatus status;

        if ((r = check_keys(p, o, keys)) < 0 ||
                (r = check_id(p, o, "not this job of the workflow:", j->def->id)) < 0 ||
                (r = check_instance(p, o, j)) < 0 || (r = check_matrix(p, o, j)) < 0 ||
                (r = get_group(p, o, j->def->concurrency, &j->group)) < 0 ||
                (r = get_cancel_reason(p, o, "cancel_reason", &j->cancel_reason)) < 0 ||
                (json_object_object_get_ex(o, "cancel_cause", NULL) &&
                        (r = get_string(p, o, "cancel_cause", true, &j->cancel_cause)) < 0) ||
                (r = get_enum(p, o, "phase", phase_table, ELEMENTSOF(phase_table), false, 0, &phase)) < 0 ||
                (r = get_status(p, o, "status", &j->status)) < 0 ||
                (r = get_conclusion(p, o, "outcome", true, &j->outcome)) < 0 ||
                (r = get_conclusion(p, o, "conclusion", true, &j->conclusion)) < 0 ||
                (r = get_enum(p, o, "local_status", local, _RUN_CONCLUSION_MAX, false, 0, &local_status)) <
                        0 ||
                (r = get_string(p, o, "name", true, (j->name = mfree(j->name), &j->name))) < 0 ||
                (r = get_string(p, o, "message", true, &j->message)) < 0 ||
                (r = get_uint64(p, o, "next_step", &next_step)) < 0 ||
                (r = get_object(p, o, "env", OBJECT_ENV, true, &j->env)) < 0 ||
                (r = get_path(p, o, j)) < 0 ||
                (r = get_object(p, o, "outputs", OBJECT_STRINGS, true, &j->outputs)) < 0 ||
                (r = get_uint64(p, o, "started_at", &j->started_at)) < 0 ||
                (r = get_uint64(p, o, "completed_at", &j->completed_at)) < 0 ||
                (r = get_uint64(p, o, "timer", &j->timer)) < 0 ||
                (r = get(p, o, "steps", json_type_array, false, &steps)) < 0)
                return r;
        j->phase = phase;
        j->local_status = local_status;
        r = job_actions_from_json(p, run, job, o, steps);
        if (r < 0)
                return r;
        if (next_step > j->n_steps)
                return fail(
                        p, "next_step", "%" PRIu64 " is beyond the job's %zu steps", next_step, j->n_steps);
        j->next_step = next_step;

        /* What the state machine keeps true of a job (run.c, cancel.c). */
        started = j->phase > RUN_JOB_QUEUED;
        running = started && j->phase != RUN_JOB_DONE;
        status = !started ? RUN_STATUS_QUEUED : running ? RUN_STATUS_IN_PROGRESS : RUN_STATUS_COMPLETED;
        if (j->status != status)
                return fail(p, "status", "%s in phase %s", run_status_to_string(j->status),
                        phase_table[j->phase]);
        if (j->phase == RUN_JOB_DONE) {
                if (j->outcome == RUN_CONCLUSION_NONE)
                        return fail(p, "outcome", "null in a completed job");
                if (j->conclusion != expected_conclusion(j->outcome, j->def->continue_on_error))
                        return fail(p, "conclusion", "does not follow from the outcome");
        } else if (j->outcome != RUN_CONCLUSION_NONE || j->conclusion != RUN_CONCLUSION_NONE)
                return fail(p, "conclusion", "set in a job that has not completed");
        if (running && !j->env)
                return fail(p, "env", "null in a running job");
        if (!started && (j->env || j->next_step != 0))
                return fail(p, "phase", "%s, but the job was started", phase_table[j->phase]);
        if (j->timer != 0 && !running)
                return fail(p, "timer", "armed in a job that is not running");
        if (j->outputs && j->phase < RUN_JOB_CLEANUP)
                return fail(p, "outputs", "set before the job's steps are done");
        if (j->phase == RUN_JOB_STEP && j->next_step == 0)
                return fail(p, "next_step", "0 in phase step");
        if (j->phase == RUN_JOB_CLEANUP && j->next_step != j->n_steps)
                return fail(p, "next_step", "steps left in phase cleanup");

        for (size_t i = 0; i < j->n_steps; i++) {
                /* The one step handed to the agent runs; those before it are done, those after it wait. */
                RunStatus want = j->phase == RUN_JOB_STEP && i + 1 == j->next_step ? RUN_STATUS_IN_PROGRESS
                        : i < j->next_step                                         ? RUN_STATUS_COMPLETED
                                                                                   : RUN_STATUS_QUEUED;
                RunStep *s = &j->steps[i];

                /* A composite action's step runs while its steps do. */
                if (s->end != SIZE_MAX && i < j->next_step && j->next_step <= s->end + 1 &&
                        j->phase != RUN_JOB_DONE)
                        want = RUN_STATUS_IN_PROGRESS;
                size_t len = strlen(p->where);

                char key[32];

                snprintf(key, sizeof(key), "steps[%zu]", i);
                if (!json_object_is_type(json_object_array_get_idx(steps, i), json_type_object))
                        return fail(p, key, "expected an object");
                snprintf(p->where + len, sizeof(p->where) - len, "%s.", key);
                r = step_from_json(p, run, job, i, json_object_array_get_idx(steps, i));
                if (r >= 0 && s->status != want &&
                        !(j->phase == RUN_JOB_DONE && s->status == RUN_STATUS_COMPLETED))
                        r = fail(p, "status", "%s in a job in phase %s", run_status_to_string(s->status),
                                phase_table[j->phase]);
                if (r >= 0 && run->force_terminated && s->status == RUN_STATUS_IN_PROGRESS &&
                        !IN_SET(s->cancel_stage, RUN_CANCEL_PENDING, RUN_CANCEL_KILL, RUN_CANCEL_FORCE))
                        r = fail(p, "cancel_stage", "%s after the force deadline",
                                run_cancel_stage_to_string(s->cancel_stage));
                if (r < 0)
                        return r;
                p->where[len] = 0;
        }
        return 0;
}

static int run_fields_from_json(Parser *p, Run *run, json_object *o) {
        static const char *const cancel_keys[] = { "interrupt_usec", "terminate_usec", "force_usec", NULL };
        json_object *cancel, *jobs;
        bool any_running = false, all_done = true;
        int r;

        if ((r = get_uint64(p, o, "id", &run->id)) < 0 ||
                (r = get_string(p, o, "source", false, &run->source)) < 0 ||
                (r = get_string(p, o, "workspace_root", false, &run->workspace_root)) < 0 ||
                (r = get_object(p, o, "github", OBJECT_ANY, false, &run->github)) < 0 ||
                (r = get_object(p, o, "runner", OBJECT_ANY, false, &run->runner)) < 0 ||
                (r = get_optional_object(p, o, "inputs", &run->inputs)) < 0 ||
                (r = get_optional_object(p, o, "vars", &run->vars)) < 0 ||
                (r = get_optional_source_format(p, o, &run->source_format)) < 0 ||
                (r = get_status(p, o, "status", &run->status)) < 0 ||
                (r = get_conclusion(p, o, "conclusion", true, &run->conclusion)) < 0 ||
                (r = get(p, o, "cancel", json_type_object, false, &cancel)) < 0 ||
                (r = get_bool(p, o, "cancel_requested", &run->cancel_requested)) < 0 ||
                (r = get_string(p, o, "cancelled_by", true, &run->cancelled_by)) < 0 ||
                (r = get_cancel_reason(p, o, "cancel_reason", &run->cancel_reason)) < 0 ||
                (r = get_cancel_reason(p, o, "force_reason", &run->force_reason)) < 0 ||
                (r = get_uint64(p, o, "cancel_requested_at", &run->cancel_requested_at)) < 0 ||
                (r = get_bool(p, o, "force_terminated", &run->force_terminated)) < 0 ||
                (r = get_uint64(p, o, "timer", &run->timer)) < 0 ||
                (r = get_uint64(p, o, "created_at", &run->created_at)) < 0 ||
                (r = get_uint64(p, o, "started_at", &run->started_at)) < 0 ||
                (r = get_uint64(p, o, "completed_at", &run->completed_at)) < 0 ||
                (json_object_object_get_ex(o, "cancel_cause", NULL) &&
                        (r = get_string(p, o, "cancel_cause", true, &run->cancel_cause)) < 0) ||
                (r = get_group(p, o, run->workflow->concurrency, &run->group)) < 0 ||
                (r = get(p, o, "jobs", json_type_array, false, &jobs)) < 0)
                return r;

        strcpy(p->where, "cancel.");
        if ((r = check_keys(p, cancel, cancel_keys)) < 0 ||
                (r = get_uint64(p, cancel, "interrupt_usec", &run->cancel.interrupt_usec)) < 0 ||
                (r = get_uint64(p, cancel, "terminate_usec", &run->cancel.terminate_usec)) < 0 ||
                (r = get_uint64(p, cancel, "force_usec", &run->cancel.force_usec)) < 0)
                return r;
        p->where[0] = 0;

        if (json_object_array_length(jobs) != run->n_jobs)
                return fail(p, "jobs", "%zu jobs, but %zu were counted", json_object_array_length(jobs),
                        run->n_jobs);
        for (size_t i = 0; i < run->n_jobs; i++) {
                json_object *j = json_object_array_get_idx(jobs, i);

                char key[32];

                snprintf(key, sizeof(key), "jobs[%zu]", i);
                if (!json_object_is_type(j, json_type_object))
                        return fail(p, key, "expected an object");
                snprintf(p->where, sizeof(p->where), "%s.", key);
                r = job_from_json(p, run, i, j);
                if (r < 0)
                        return r;
                any_running = any_running ||
                        IN_SET(run->jobs[i].phase, RUN_JOB_STEPPING, RUN_JOB_STEP, RUN_JOB_CLEANUP);
                all_done = all_done && run->jobs[i].phase == RUN_JOB_DONE;
        }
        p->where[0] = 0;

        /* What the state machine keeps true of the run (run.c, cancel.c). */
        if ((run->status == RUN_STATUS_COMPLETED) != (run->conclusion != RUN_CONCLUSION_NONE))
                return fail(p, "conclusion", "contradicts the status %s", run_status_to_string(run->status));
        if (run->status == RUN_STATUS_COMPLETED && !all_done)
                return fail(p, "status", "completed with jobs not done");
        if (run->status == RUN_STATUS_QUEUED && any_running)
                return fail(p, "status", "queued with jobs running");
        if (run->cancel_requested != !!run->cancelled_by)
                return fail(p, "cancelled_by", "contradicts cancel_requested");
        if (!run->cancel_requested && (run->force_terminated || run->cancel_requested_at != 0))
                return fail(p, "cancel_requested", "false in a cancelled run");
        if (run->timer != 0 &&
                (!run->cancel_requested || run->force_terminated || run->status == RUN_STATUS_COMPLETED))
                return fail(p, "timer", "armed in a run that has no force deadline ahead");
        return 0;
}

/* How many instances of each definition the state holds: one each in version 1; in version 2 the jobs
 * are grouped by definition in workflow order, every definition has one at least. */
/* The instances of each definition in the jobs' base layout (workflow order); then, in *ret_extras, the
 * definition of each job appended after them by the expansion of a matrix with ${{ }} (README, "Matrix
 * jobs"), in order. */
static int count_instances(Parser *p, json_object *o, const Workflow *w, unsigned **ret, size_t **ret_extras,
        size_t *ret_n_extras) {
        _cleanup_free_ unsigned *instances = NULL;
        _cleanup_free_ size_t *extras = NULL;
        size_t n_extras = 0;
        json_object *jobs;
        size_t def = 0, n;
        int r;

        *ret = NULL;
        if (p->version < 2)
                return 0; /* run_jobs_init(): one each */
        r = get(p, o, "jobs", json_type_array, false, &jobs);
        if (r < 0)
                return r;
        n = json_object_array_length(jobs);
        if (n > RUN_STATE_MAX_JOBS)
                return fail(p, "jobs", "more than %u", RUN_STATE_MAX_JOBS);
        instances = calloc(MAX(w->n_jobs, 1U), sizeof(unsigned));
        if (!instances)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *j = json_object_array_get_idx(jobs, i), *id;
                char key[32];

                snprintf(key, sizeof(key), "jobs[%zu].id", i);
                if (!json_object_object_get_ex(j, "id", &id) || !json_object_is_type(id, json_type_string))
                        return fail(p, key, "missing, or not a string");
                if (!extras) {
                        size_t d = def;

                        while (d < w->n_jobs && !streq(w->jobs[d].id, json_object_get_string(id)))
                                d++;
                        /* a matrix with ${{ }} has one instance in the base layout, the others after */
                        if (d < w->n_jobs && !(def_templated(&w->jobs[d]) && instances[d] == 1)) {
                                def = d;
                                instances[def]++;
                                continue;
                        }
                        extras = calloc(n - i, sizeof(size_t));
                        if (!extras)
                                return -ENOMEM;
                }
                def = 0;
                while (def < w->n_jobs && !streq(w->jobs[def].id, json_object_get_string(id)))
                        def++;
                if (def == w->n_jobs || !def_templated(&w->jobs[def]) || instances[def] != 1)
                        return fail_value(p, key, "not a job of the workflow, or out of its order:",
                                json_object_get_string(id));
                extras[n_extras++] = def;
        }
        for (size_t d = 0; d < w->n_jobs; d++)
                if (instances[d] == 0)
                        return fail(p, "jobs", "no instance of job %s", w->jobs[d].id);
        *ret = TAKE_PTR(instances);
        *ret_extras = TAKE_PTR(extras);
        *ret_n_extras = n_extras;
        return 0;
}

int run_state_unmask(Run *run, size_t job, size_t step, const char *text) {
        _cleanup_(json_object_putp) json_object *wrap = NULL;
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        ExprValue **slot = unmasked_slot(run, job, step);
        json_object *parsed;
        Parser p = {};
        int r;

        if (job >= run->n_jobs)
                return 0; /* a job the state does not have yet (a matrix expanded from an expression) */
        if (!slot)
                return -EBADMSG;
        parsed = json_tokener_parse(text);
        if (!parsed)
                return -EBADMSG;
        wrap = json_object_new_object();
        if (!wrap || json_object_object_add(wrap, "value", parsed) < 0) {
                json_object_put(parsed);
                return -ENOMEM;
        }
        r = get_object(
                &p, wrap, "value", step & RUN_STATE_STEP_STATE ? OBJECT_ENV : OBJECT_STRINGS, false, &v);
        free(p.error);
        if (r < 0)
                return p.oom ? -ENOMEM : -EBADMSG;
        if (!*slot)
                return 0; /* saved before the state that has it: the state is behind, not the value */
        expr_value_unref(*slot);
        *slot = TAKE_PTR(v);
        return 1;
}

int run_state_from_json(json_object *o, Workflow *workflow, Run **ret, char **ret_error) {
        _cleanup_(run_freep) Run *run = NULL;
        _cleanup_free_ unsigned *instances = NULL;
        _cleanup_free_ size_t *extras = NULL;
        size_t n_extras = 0;
        Parser p = {};
        json_object *version;
        int r = 0;

        if (!workflow)
                return -EINVAL;
        run = calloc(1, sizeof(*run));
        if (!run) {
                workflow_free(workflow);
                return -ENOMEM;
        }
        /* From here on run_free() frees the workflow, and walks the steps of each of the n_jobs jobs. */
        run->workflow = workflow;

        if (!json_object_is_type(o, json_type_object))
                r = fail(&p, "state", "expected an object");
        else if ((r = get(&p, o, "version", json_type_int, false, &version)) >= 0 &&
                !IN_SET(json_object_get_int64(version), 1, RUN_STATE_VERSION))
                r = fail(&p, "version", "unsupported version %" PRIi64 " (this agent reads 1 to %d)",
                        json_object_get_int64(version), RUN_STATE_VERSION);
        if (r >= 0) {
                p.version = (int) json_object_get_int64(version);
                r = count_instances(&p, o, workflow, &instances, &extras, &n_extras);
        }
        if (r >= 0)
                r = run_jobs_init(run, instances);
        for (size_t i = 0; r >= 0 && i < n_extras; i++)
                r = run_jobs_append(run, extras[i], 1, NULL);
        if (r == -EINVAL || r == -EOPNOTSUPP)
                r = fail(&p, "jobs", "the instances do not fit the expansion of the workflow's matrices");
        if (r >= 0)
                r = run_fields_from_json(&p, run, o);
        if (r >= 0)
                r = run_restore_composites(run);
        if (r < 0) {
                if (r == -EBADMSG && ret_error)
                        *ret_error = TAKE_PTR(p.error);
                free(p.error);
                return p.oom ? -ENOMEM : r;
        }
        *ret = TAKE_PTR(run);
        return 0;
}
