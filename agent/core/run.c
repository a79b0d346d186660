/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc-util.h"
#include "concurrency.h"
#include "file-command.h"
#include "json-util.h"
#include "macro.h"
#include "matrix.h"
#include "run-checkout.h"
#include "run-internal.h"
#include "strbuf.h"

static const char *const run_status_table[_RUN_STATUS_MAX] = {
        [RUN_STATUS_QUEUED] = "queued",
        [RUN_STATUS_IN_PROGRESS] = "in_progress",
        [RUN_STATUS_COMPLETED] = "completed",
};

static const char *const run_conclusion_table[_RUN_CONCLUSION_MAX] = {
        [RUN_CONCLUSION_NONE] = NULL,
        [RUN_CONCLUSION_SUCCESS] = "success",
        [RUN_CONCLUSION_FAILURE] = "failure",
        [RUN_CONCLUSION_CANCELLED] = "cancelled",
        [RUN_CONCLUSION_SKIPPED] = "skipped",
};

const char *run_status_to_string(RunStatus s) {
        return s >= 0 && s < _RUN_STATUS_MAX ? run_status_table[s] : NULL;
}

const char *run_conclusion_to_string(RunConclusion c) {
        return c >= 0 && c < _RUN_CONCLUSION_MAX ? run_conclusion_table[c] : NULL;
}

RunStepSpec *run_step_spec_free(RunStepSpec *s) {
        if (!s)
                return NULL;
        free(s->script);
        free(s->shell);
        free(s->working_directory);
        strv_free(s->env);
        strv_free(s->path);
        free(s);
        return NULL;
}

void run_actions_done(RunActions *a) {
        for (size_t i = 0; i < a->n; i++) {
                run_step_spec_free(a->actions[i].spec);
                free(a->actions[i].text);
        }
        free(a->actions);
        *a = (RunActions){};
}

/* Takes the spec and the text of action, also on failure. */
int run_action_push(RunActions *a, const RunAction *action) {
        if (!a || array_grow((void **) &a->actions, &a->allocated, a->n + 1, sizeof(RunAction)) < 0) {
                run_step_spec_free(action->spec);
                free(action->text);
                return a ? -ENOMEM : 0;
        }
        a->actions[a->n++] = *action;
        return 0;
}

static int action_push(RunActions *a, RunActionType type, size_t job, size_t step, RunStepSpec *spec) {
        return run_action_push(a, &(RunAction){ .type = type, .job = job, .step = step, .spec = spec });
}

int run_changed(RunActions *a, size_t job, size_t step) {
        return action_push(a, RUN_ACTION_CHANGED, job, step, NULL);
}
#define changed run_changed

void run_timer_start(uint64_t *timer, uint64_t now, uint64_t usec) {
        /* infinity, or a deadline beyond the clock's range: never. A timer armed before is replaced by
         * that, so it goes. */
        *timer = usec >= UINT64_MAX - now ? 0 : MAX(now + usec, 1U);
}

RunLoadedAction *run_loaded_action_ref(RunLoadedAction *a) {
        if (a)
                a->n_ref++;
        return a;
}

RunLoadedAction *run_loaded_action_unref(RunLoadedAction *a) {
        if (!a || --a->n_ref > 0)
                return NULL;
        action_free(a->action);
        free(a->dir);
        free(a->repository);
        free(a->ref);
        free(a->text);
        free(a);
        return NULL;
}

static void run_step_done(RunStep *s) {
        run_loaded_action_unref(s->action);
        expr_value_unref(s->inputs);
        expr_value_unref(s->env);
        expr_value_unref(s->state);
        free(s->name);
        free(s->unit);
        free(s->message);
        expr_value_unref(s->outputs);
        annotations_free(s->annotations, s->n_annotations);
}

static void run_job_done(RunJob *j, size_t n_steps) {
        for (size_t i = 0; i < n_steps; i++)
                run_step_done(&j->steps[i]);
        free(j->steps);
        free(j->load_error);
        free(j->name);
        free(j->message);
        expr_value_unref(j->env);
        for (size_t i = 0; i < j->n_path; i++)
                free(j->path[i]);
        free(j->path);
        expr_value_unref(j->outputs);
        mask_list_done(&j->added_masks);
        expr_value_unref(j->matrix);
        free(j->matrix_suffix);
        free(j->cancel_cause);
        free(j->group.name);
}

/* A job's steps as the workflow has them; steps of actions are added as they run (README, "Actions"). */
static void job_init_steps(RunJob *j) {
        j->n_steps = j->post_at = j->def->n_steps;
        j->next_number = (unsigned) j->n_steps;
        for (size_t i = 0; i < j->n_steps; i++)
                j->steps[i] = (RunStep){ .def = &j->def->steps[i],
                        .number = j->def->steps[i].number,
                        .exit_code = -1,
                        .parent = SIZE_MAX,
                        .main = SIZE_MAX,
                        .end = SIZE_MAX };
}

/* Makes room for n steps before steps[at], blank but for their numbers; every index into the steps
 * moves with them. post: they are post steps, put in front of the others (post_at stays). */
static int job_insert_steps(Run *run, size_t job, size_t at, size_t n, bool post, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        RunStep *steps;

        if (n == 0)
                return 0;
        if (j->n_steps + n > RUN_MAX_JOB_STEPS || j->next_number + n > RUN_MAX_JOB_STEPS)
                return -E2BIG;
        /* ... and a run at most RUN_MAX_ADDED_STEPS in all its jobs: each costs the agent memory */
        for (size_t i = 0, added = n; i < run->n_jobs; i++) {
                added += run->jobs[i].n_steps - run->jobs[i].def->n_steps;
                if (added > RUN_MAX_ADDED_STEPS)
                        return -E2BIG;
        }
        steps = reallocarray(j->steps, j->n_steps + n, sizeof(RunStep));
        if (!steps)
                return -ENOMEM;
        j->steps = steps;
        memmove(steps + at + n, steps + at, (j->n_steps - at) * sizeof(RunStep));
        j->n_steps += n;
        for (size_t i = 0; i < n; i++)
                steps[at + i] = (RunStep){ .number = ++j->next_number,
                        .exit_code = -1,
                        .parent = SIZE_MAX,
                        .main = SIZE_MAX,
                        .end = SIZE_MAX };
        for (size_t i = 0; i < j->n_steps; i++) {
                RunStep *s = &steps[i];

                if (i >= at && i < at + n)
                        continue;
                if (s->parent != SIZE_MAX && s->parent >= at)
                        s->parent += n;
                if (s->main != SIZE_MAX && s->main >= at)
                        s->main += n;
                if (s->end != SIZE_MAX && s->end >= at)
                        s->end += n;
        }
        if (j->next_step > at)
                j->next_step += n;
        if (!post && j->post_at >= at)
                j->post_at += n;
        return run_action_push(actions,
                &(RunAction){ .type = RUN_ACTION_STEPS_INSERTED, .job = job, .step = at, .usec = n });
}

/* The combinations of a matrix job, as each of its instances gets one (README, "Matrix jobs"). A matrix
 * with ${{ }} has none yet: its one instance expands it when it is ready (job_expand()). */
static int def_expand(const WorkflowJob *def, MatrixExpansion *ret) {
        _cleanup_(expr_value_unrefp) ExprValue *definition = NULL;
        int r;

        if (!def->strategy || !def->strategy->matrix) {
                *ret = (MatrixExpansion){};
                return 0;
        }
        if (def->strategy->matrix->has_templates) {
                *ret = (MatrixExpansion){};
                return 0;
        }
        r = workflow_value_evaluate(def->strategy->matrix, NULL, &definition, NULL, NULL);
        if (r < 0)
                return r;
        r = matrix_expand(definition, ret, NULL);
        if (r < 0)
                return r;
        return ret->n > 0 ? 0 : -EOPNOTSUPP;
}

/* A matrix job's instance: its combination and its name, the job's name as written (or its id) with the
 * combination's values; a name with ${{ }} replaces that when the job starts. */
static int job_set_combination(RunJob *j, MatrixCombination *c) {
        const char *base = j->def->name.raw && !j->def->name.template->node ? j->def->name.raw : j->def->id;

        j->matrix = expr_value_ref(c->matrix);
        j->matrix_suffix = strdup(c->suffix);
        if (!j->matrix_suffix)
                return -ENOMEM;
        return matrix_display_name(base, c->suffix, &j->name);
}

int run_jobs_init(Run *run, const unsigned *instances) {
        const Workflow *w = run->workflow;
        _cleanup_free_ MatrixExpansion *expansions = NULL;
        size_t n = 0;
        int r = 0;

        expansions = calloc(MAX(w->n_jobs, 1U), sizeof(MatrixExpansion));
        if (!expansions)
                return -ENOMEM;
        for (size_t d = 0; d < w->n_jobs && r >= 0; d++) {
                unsigned want;

                r = def_expand(&w->jobs[d], &expansions[d]);
                want = expansions[d].n > 0 ? (unsigned) expansions[d].n : 1;
                if (r >= 0 && instances && instances[d] != want)
                        r = -EINVAL; /* a state that does not fit the workflow's expansion */
                n += want;
        }
        if (r >= 0)
                run->jobs = calloc(MAX(n, 1U), sizeof(RunJob));
        for (size_t d = 0; d < w->n_jobs && r >= 0 && run->jobs; d++)
                for (unsigned k = 1; k <= MAX(expansions[d].n, 1U) && r >= 0; k++) {
                        RunJob *j = &run->jobs[run->n_jobs];

                        *j = (RunJob){ .def = &w->jobs[d],
                                .def_index = d,
                                .instance = k,
                                .number = (unsigned) run->n_jobs + 1 };
                        j->steps = calloc(MAX(j->def->n_steps, 1U), sizeof(RunStep));
                        if (!j->steps) {
                                r = -ENOMEM;
                                break;
                        }
                        run->n_jobs++;
                        job_init_steps(j);
                        if (expansions[d].n > 0)
                                r = job_set_combination(j, &expansions[d].items[k - 1]);
                }
        if (r >= 0 && !run->jobs)
                r = -ENOMEM;
        for (size_t d = 0; d < w->n_jobs; d++)
                matrix_expansion_done(&expansions[d]);
        return r;
}

int run_jobs_append(Run *run, size_t def, size_t n, RunActions *actions) {
        size_t first, have, at = run->n_jobs;
        RunJob *jobs;

        if (n == 0)
                return 0;
        if (run->n_jobs + n > RUN_MAX_JOBS)
                return -E2BIG;
        run_def_instances(run, def, &first, &have);
        jobs = reallocarray(run->jobs, run->n_jobs + n, sizeof(RunJob));
        if (!jobs)
                return -ENOMEM;
        run->jobs = jobs;
        for (size_t k = 0; k < n; k++) {
                RunJob *j = &run->jobs[run->n_jobs];

                *j = (RunJob){ .def = &run->workflow->jobs[def],
                        .def_index = def,
                        .instance = (unsigned) (have + k + 1),
                        .number = (unsigned) run->n_jobs + 1,
                        .local_status = RUN_CONCLUSION_SUCCESS }; /* as run_new() starts each */
                j->steps = calloc(MAX(j->def->n_steps, 1U), sizeof(RunStep));
                if (!j->steps)
                        return -ENOMEM;
                run->n_jobs++;
                job_init_steps(j);
        }
        return actions ? action_push(actions, RUN_ACTION_JOBS_ADDED, at, SIZE_MAX, NULL) : 0;
}

void run_def_instances(const Run *run, size_t def, size_t *ret_first, size_t *ret_n) {
        size_t first = 0, n = 0;

        while (first < run->n_jobs && run->jobs[first].def_index != def)
                first++;
        for (size_t i = first; i < run->n_jobs; i++)
                n += run->jobs[i].def_index == def;
        *ret_first = first;
        *ret_n = n;
}

Run *run_free(Run *run) {
        if (!run)
                return NULL;
        for (size_t i = 0; i < run->n_jobs; i++)
                run_job_done(&run->jobs[i], run->jobs[i].n_steps);
        free(run->jobs);
        free(run->source);
        free(run->workspace_root);
        free(run->cancelled_by);
        free(run->cancel_cause);
        free(run->group.name);
        expr_value_unref(run->github);
        expr_value_unref(run->runner);
        expr_value_unref(run->secrets);
        expr_value_unref(run->inputs);
        expr_value_unref(run->vars);
        free(run->source_format);
        mask_list_done(&run->masks);
        workflow_free(run->workflow);
        free(run);
        return NULL;
}

int run_new(uint64_t id, const char *source, Workflow *workflow, const char *workspace_root,
        ExprValue *github, ExprValue *runner, RunTime now, Run **ret) {
        _cleanup_(run_freep) Run *run = NULL;
        int r;

        if (!source || !workflow || !workspace_root || !ret)
                return -EINVAL;

        run = calloc(1, sizeof(*run));
        if (!run)
                return -ENOMEM;
        run->id = id;
        run->created_at = now.realtime;
        run->cancel = (RunCancelSettings){
                .interrupt_usec = 7500 * USEC_PER_MSEC,
                .terminate_usec = 2500 * USEC_PER_MSEC,
                .force_usec = 300 * USEC_PER_SEC,
        };
        run->source = strdup(source);
        run->workspace_root = strdup(workspace_root);
        run->github = github ? expr_value_ref(github) : expr_value_new_object();
        run->runner = runner ? expr_value_ref(runner) : expr_value_new_object();
        if (!run->source || !run->workspace_root || !run->github || !run->runner)
                return -ENOMEM;
        run->workflow = workflow;
        r = run_jobs_init(run, NULL);
        if (r < 0) {
                run->workflow = NULL; /* still the caller's */
                return r;
        }
        for (size_t i = 0; i < run->n_jobs; i++)
                run->jobs[i].local_status = RUN_CONCLUSION_SUCCESS;

        *ret = TAKE_PTR(run);
        return 0;
}

int run_slice_name(uint64_t id, char **ret) {
        return asprintf(ret, "runner-r%" PRIu64 ".slice", id) < 0 ? -ENOMEM : 0;
}

int run_slice_cgroup_path(uint64_t id, unsigned job_number, char **ret) {
        int r;

        if (job_number > 0)
                r = asprintf(ret, "/runner.slice/runner-r%" PRIu64 ".slice/runner-r%" PRIu64 "-j%u.slice",
                        id, id, job_number);
        else
                r = asprintf(ret, "/runner.slice/runner-r%" PRIu64 ".slice", id);
        return r < 0 ? -ENOMEM : 0;
}

int run_job_slice_name(const Run *run, size_t job, char **ret) {
        return asprintf(ret, "runner-r%" PRIu64 "-j%u.slice", run->id, run->jobs[job].number) < 0 ? -ENOMEM
                                                                                                  : 0;
}

int run_job_workspace(const Run *run, size_t job, char **ret) {
        const RunJob *j = &run->jobs[job];
        int r;

        /* a job id has no '.', so a matrix instance's name cannot be another job's */
        if (j->matrix)
                r = asprintf(ret, "%s/%s.%u", run->workspace_root, j->def->id, j->instance);
        else
                r = asprintf(ret, "%s/%s", run->workspace_root, j->def->id);
        return r < 0 ? -ENOMEM : 0;
}

int run_step_unit_name(const Run *run, size_t job, size_t step, char **ret) {
        return asprintf(ret, "runner-r%" PRIu64 "-j%u-s%u.scope", run->id, run->jobs[job].number,
                       run->jobs[job].steps[step].number) < 0
                ? -ENOMEM
                : 0;
}

/* ---- expression contexts ---- */

typedef struct EvalScope {
        const Run *run;
        const RunJob *job;
        bool step_level;
        const RunStep *composite; /* a composite action's step: its steps' success() and failure() */
} EvalScope;

/* The definitions reachable from definition def through needs. */
static void collect_ancestors(const Run *run, size_t def, bool *seen) {
        const WorkflowJob *d = &run->workflow->jobs[def];

        for (size_t i = 0; i < d->n_needs; i++) {
                size_t a = d->needs_index[i];
                if (seen[a])
                        continue;
                seen[a] = true;
                collect_ancestors(run, a, seen);
        }
}

static int job_status_function(const Run *run, const RunJob *job, ExprStatus which) {
        _cleanup_free_ bool *seen = NULL;
        bool any_failure = false, all_success = true;

        if (which == EXPR_STATUS_ALWAYS)
                return 1;
        /* a matrix job cancelled by fail-fast is cancelled as if its run was (README, "Matrix jobs") */
        if (which == EXPR_STATUS_CANCELLED)
                return run->cancel_requested || job->fail_fast ||
                        job->cancel_reason == RUN_CANCEL_REASON_CONCURRENCY;

        seen = calloc(MAX(run->workflow->n_jobs, 1U), sizeof(bool));
        if (!seen)
                return -ENOMEM;
        collect_ancestors(run, job->def_index, seen);
        /* Every instance of every definition it needs, directly or through others. */
        for (size_t i = 0; i < run->n_jobs; i++) {
                if (!seen[run->jobs[i].def_index])
                        continue;
                if (run->jobs[i].conclusion == RUN_CONCLUSION_FAILURE)
                        any_failure = true;
                if (run->jobs[i].conclusion != RUN_CONCLUSION_SUCCESS)
                        all_success = false;
        }
        if (which == EXPR_STATUS_FAILURE)
                return any_failure;
        return !run->cancel_requested && !job->fail_fast &&
                job->cancel_reason != RUN_CANCEL_REASON_CONCURRENCY && all_success;
}

static int step_status_function(const Run *run, const RunJob *job, ExprStatus which) {
        switch (which) {
        case EXPR_STATUS_ALWAYS:
                return 1;
        case EXPR_STATUS_CANCELLED:
                return job->local_status == RUN_CONCLUSION_CANCELLED || run->cancel_requested ||
                        job->fail_fast || job->cancel_reason == RUN_CANCEL_REASON_CONCURRENCY;
        case EXPR_STATUS_FAILURE:
                return job->local_status == RUN_CONCLUSION_FAILURE;
        case EXPR_STATUS_SUCCESS:
                return job->local_status == RUN_CONCLUSION_SUCCESS;
        default:
                return -EINVAL;
        }
}

static int eval_status(ExprStatus which, void *userdata) {
        const EvalScope *scope = userdata;

        /* The steps of a composite action: success() and failure() are of their action's steps so far
         * (README, "Actions"); cancelled() is the job's. */
        if (scope->step_level && scope->composite && which == EXPR_STATUS_SUCCESS)
                return scope->composite->local_status == RUN_CONCLUSION_SUCCESS &&
                        step_status_function(scope->run, scope->job, EXPR_STATUS_CANCELLED) == 0;
        if (scope->step_level && scope->composite && which == EXPR_STATUS_FAILURE)
                return scope->composite->local_status == RUN_CONCLUSION_FAILURE;
        return scope->step_level ? step_status_function(scope->run, scope->job, which)
                                 : job_status_function(scope->run, scope->job, which);
}

static int object_set_string(ExprValue *o, const char *key, const char *value) {
        _cleanup_(expr_value_unrefp) ExprValue *v = expr_value_new_stringz(value ?: "");
        if (!v)
                return -ENOMEM;
        return expr_object_set(o, key, strlen(key), v);
}

static int object_set_value(ExprValue *o, const char *key, ExprValue *v) {
        if (!v)
                return -ENOMEM;
        return expr_object_set(o, key, strlen(key), v);
}

static int object_copy(const ExprValue *from, ExprValue **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *o = expr_value_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; from && i < from->object.n; i++) {
                r = expr_object_set(o, from->object.pairs[i].key, from->object.pairs[i].key_len,
                        from->object.pairs[i].value);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

static int job_workspace(const Run *run, const RunJob *job, char **ret) {
        return run_job_workspace(run, (size_t) (job - run->jobs), ret);
}

/* needs.<id> of a definition, from its instances, as GitHub has it for a matrix: the outputs of each in
 * turn, a later one's non-empty value of a name winning, and one result: failure if any failed, else
 * cancelled if any was, else skipped if all were, else success. One instance: its own. Returns the result.
 */
static int needs_entry(const Run *run, size_t def, ExprValue **ret_outputs) {
        _cleanup_(expr_value_unrefp) ExprValue *outputs = expr_value_new_object();
        bool failure = false, cancelled = false, skipped = true;
        size_t first, n;

        if (!outputs)
                return -ENOMEM;
        run_def_instances(run, def, &first, &n);
        for (size_t i = first; i < run->n_jobs; i++) {
                const RunJob *j = &run->jobs[i];

                if (j->def_index != def)
                        continue;
                for (size_t k = 0; j->outputs && k < j->outputs->object.n; k++) {
                        const ExprPair *pair = &j->outputs->object.pairs[k];

                        if (n > 1 && pair->value->kind == EXPR_STRING && pair->value->string.len == 0 &&
                                expr_object_get(outputs, pair->key, pair->key_len))
                                continue; /* an instance that did not set it keeps another's */
                        if (expr_object_set(outputs, pair->key, pair->key_len, pair->value) < 0)
                                return -ENOMEM;
                }
                failure = failure || j->conclusion == RUN_CONCLUSION_FAILURE;
                cancelled = cancelled || j->conclusion == RUN_CONCLUSION_CANCELLED;
                skipped = skipped && j->conclusion == RUN_CONCLUSION_SKIPPED;
        }
        *ret_outputs = TAKE_PTR(outputs);
        if (n == 1)
                return (int) run->jobs[first].conclusion;
        return failure      ? RUN_CONCLUSION_FAILURE
                : cancelled ? RUN_CONCLUSION_CANCELLED
                : skipped   ? RUN_CONCLUSION_SKIPPED
                            : RUN_CONCLUSION_SUCCESS;
}

/* Sets key to a new value v, which it takes (NULL: out of memory). */
static int object_take(ExprValue *o, const char *key, ExprValue *v) {
        int r = object_set_value(o, key, v);

        expr_value_unref(v);
        return r;
}

/* strategy: as GitHub has it, also for a job without a matrix (one job of one). */
static int strategy_context(const Run *run, const RunJob *job, ExprValue **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *o = expr_value_new_object();
        const WorkflowStrategy *s = job->def->strategy;
        size_t first, n;

        if (!o)
                return -ENOMEM;
        run_def_instances(run, job->def_index, &first, &n);
        if (object_take(o, "fail-fast", expr_value_new_boolean(!s || s->fail_fast)) < 0 ||
                object_take(o, "job-index", expr_value_new_number(job->instance - 1)) < 0 ||
                object_take(o, "job-total", expr_value_new_number((double) n)) < 0 ||
                object_take(o, "max-parallel",
                        expr_value_new_number(s && s->max_parallel > 0 ? MIN(s->max_parallel, n) : n)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* The contexts for an expression in job (step_level: inside one of its steps, with env as given). */
static int build_contexts_in(const Run *run, const RunJob *job, bool step_level, size_t composite,
        const ExprValue *env, ExprValue **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *c = NULL, *github = NULL, *needs = NULL, *steps = NULL,
                                               *jobctx = NULL, *envctx = NULL, *strategy = NULL;
        _cleanup_free_ char *workspace = NULL, *run_id = NULL;
        int r;

        c = expr_value_new_object();
        needs = expr_value_new_object();
        steps = expr_value_new_object();
        jobctx = expr_value_new_object();
        if (!c || !needs || !steps || !jobctx)
                return -ENOMEM;

        r = object_copy(run->github, &github);
        if (r < 0)
                return r;
        r = job_workspace(run, job, &workspace);
        if (r < 0)
                return r;
        if (asprintf(&run_id, "%" PRIu64, run->id) < 0)
                return -ENOMEM;
        if (object_set_string(github, "job", job->def->id) < 0 ||
                object_set_string(github, "workspace", workspace) < 0 ||
                object_set_string(github, "run_id", run_id) < 0 ||
                object_set_string(github, "workflow", run->workflow->name ?: run->source) < 0)
                return -ENOMEM;

        for (size_t i = 0; i < job->def->n_needs; i++) {
                const WorkflowJob *d = &run->workflow->jobs[job->def->needs_index[i]];
                _cleanup_(expr_value_unrefp) ExprValue *o = expr_value_new_object();
                _cleanup_(expr_value_unrefp) ExprValue *outputs = NULL;

                if (!o)
                        return -ENOMEM;
                r = needs_entry(run, job->def->needs_index[i], &outputs);
                if (r < 0)
                        return r;
                if (object_set_value(o, "outputs", outputs) < 0 ||
                        object_set_string(o, "result", run_conclusion_to_string((RunConclusion) r)) < 0 ||
                        expr_object_set(needs, d->id, strlen(d->id), o) < 0)
                        return -ENOMEM;
        }

        for (size_t i = 0; step_level && i < job->n_steps; i++) {
                const RunStep *s = &job->steps[i];
                _cleanup_(expr_value_unrefp) ExprValue *o = NULL, *outputs = NULL;

                /* As on GitHub: steps with an id of their own, once they have a result; in a composite
                 * action, its own steps only. */
                if (s->def->id_generated || s->status != RUN_STATUS_COMPLETED || s->role != RUN_STEP_MAIN ||
                        s->parent != composite)
                        continue;
                o = expr_value_new_object();
                if (!o)
                        return -ENOMEM;
                r = object_copy(s->outputs, &outputs);
                if (r < 0)
                        return r;
                if (object_set_value(o, "outputs", outputs) < 0 ||
                        object_set_string(o, "outcome", run_conclusion_to_string(s->outcome)) < 0 ||
                        object_set_string(o, "conclusion", run_conclusion_to_string(s->conclusion)) < 0 ||
                        expr_object_set(steps, s->def->id, strlen(s->def->id), o) < 0)
                        return -ENOMEM;
        }

        if (object_set_string(jobctx, "status", run_conclusion_to_string(job->local_status)) < 0)
                return -ENOMEM;

        r = strategy_context(run, job, &strategy);
        if (r < 0)
                return r;
        if (expr_object_set(c, "strategy", 8, strategy) < 0 ||
                (job->matrix && expr_object_set(c, "matrix", 6, job->matrix) < 0))
                return -ENOMEM;

        r = object_copy(env, &envctx);
        if (r < 0)
                return r;

        /* A composite action's steps see its inputs, and where it is. */
        if (composite != SIZE_MAX) {
                const RunLoadedAction *a = job->steps[composite].action;

                if (object_set_string(github, "action_path", a->dir) < 0 ||
                        object_set_string(github, "action_repository", a->repository) < 0 ||
                        object_set_string(github, "action_ref", a->ref) < 0)
                        return -ENOMEM;
        }
        const ExprValue *run_inputs = composite != SIZE_MAX ? job->steps[composite].inputs : run->inputs;
        _cleanup_(expr_value_unrefp)
                ExprValue *inputs = run_inputs ? expr_value_ref((ExprValue *) run_inputs)
                                               : expr_value_new_object(),
                          *vars = run->vars ? expr_value_ref(run->vars) : expr_value_new_object(),
                          *secrets = run->secrets ? expr_value_ref(run->secrets) : expr_value_new_object();
        if (!inputs || !vars || !secrets)
                return -ENOMEM;
        if (expr_object_set(c, "github", 6, github) < 0 || expr_object_set(c, "env", 3, envctx) < 0 ||
                expr_object_set(c, "job", 3, jobctx) < 0 || expr_object_set(c, "needs", 5, needs) < 0 ||
                expr_object_set(c, "steps", 5, steps) < 0 ||
                expr_object_set(c, "runner", 6, run->runner) < 0 ||
                expr_object_set(c, "inputs", 6, inputs) < 0 || expr_object_set(c, "vars", 4, vars) < 0 ||
                expr_object_set(c, "secrets", 7, secrets) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

static int build_contexts(
        const Run *run, const RunJob *job, bool step_level, const ExprValue *env, ExprValue **ret) {
        return build_contexts_in(run, job, step_level, SIZE_MAX, env, ret);
}

/* The contexts of a job-level expression, read before the job has an environment of its own (its
 * if:, its concurrency, a matrix from an expression): env is empty there. */
static int job_level_contexts(Run *run, RunJob *j, ExprValue **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *env = expr_value_new_object();

        if (!env)
                return -ENOMEM;
        return build_contexts(run, j, false, env, ret);
}

static int set_message_va(char **where, const char *fmt, va_list ap) _printf_(2, 0);
static int set_message_va(char **where, const char *fmt, va_list ap) {
        char *m;

        if (vasprintf(&m, fmt, ap) < 0)
                return -ENOMEM;
        free(*where);
        *where = m;
        return 0;
}

static int set_message(char **where, const char *fmt, ...) _printf_(2, 3);
static int set_message(char **where, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = set_message_va(where, fmt, ap);
        va_end(ap);
        return r;
}

/* *s with what the job masks masked (README, "Secrets"): the run's secrets and what job j added with
 * ::add-mask::. */
static int mask_in_job(const Run *run, const RunJob *j, char **s) {
        char *m = NULL, *m2 = NULL;
        size_t len;
        int r;

        if (!*s)
                return 0;
        r = mask_string(&run->masks, *s, strlen(*s), &m, &len);
        if (r < 0)
                return r;
        if (j) {
                r = mask_string(&j->added_masks, m, len, &m2, NULL);
                free(m);
                if (r < 0)
                        return r;
                m = m2;
        }
        free(*s);
        *s = m;
        return 0;
}

/* A message, masked in job j: a message may quote a value (a format string, a line of a file command),
 * and messages go to the state files, the journal and runnerctl status. A quote is cut after some
 * bytes, with "…": what is left before it of a value is masked too. */
static int mask_message(const Run *run, const RunJob *j, char **s) {
        static const char cut[] = "…";
        char *p;
        int r;

        r = mask_in_job(run, j, s);
        if (r < 0 || !*s)
                return r;
        for (p = strstr(*s, cut); p; p = strstr(p + sizeof(cut) - 1, cut)) {
                size_t at = (size_t) (p - *s), k = mask_list_cut_value(&run->masks, *s, at);
                char *m;

                if (j)
                        k = MAX(k, mask_list_cut_value(&j->added_masks, *s, at));
                if (k == 0)
                        continue;
                if (asprintf(&m, "%.*s%s%s", (int) (at - k), *s, MASK_REPLACEMENT, p) < 0)
                        return -ENOMEM;
                p = m + (at - k) + STRLEN(MASK_REPLACEMENT);
                free(*s);
                *s = m;
        }
        return 0;
}

/* An evaluation failed: *message says why, masked. Returns -EINVAL, or -ENOMEM. */
static int eval_failed(const EvalScope *scope, char **message, const char *fmt, ...) _printf_(3, 4);
static int eval_failed(const EvalScope *scope, char **message, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = set_message_va(message, fmt, ap);
        va_end(ap);
        if (r < 0 || mask_message(scope->run, scope->job, message) < 0)
                return -ENOMEM;
        return -EINVAL;
}

/* Evaluates a template to a string. Returns 0, -EINVAL with *message set, or -ENOMEM. */
static int eval_string(const WorkflowString *s, const ExprValue *contexts, EvalScope *scope,
        const char *what, char **ret, char **message) {
        ExprEvalContext ctx = { .contexts = contexts, .status = eval_status, .userdata = scope };
        ExprError err = {};
        size_t len;
        int r;

        if (!s->template) {
                *ret = strdup(s->raw ?: "");
                return *ret ? 0 : -ENOMEM;
        }
        r = expr_template_evaluate_string(s->template, &ctx, ret, &len, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return eval_failed(scope, message, "%u:%u: %s: %s", s->pos.line, s->pos.column, what,
                        err.message[0] ? err.message : "evaluation failed");
        if (memchr(*ret, 0, len)) {
                *ret = mfree(*ret);
                return eval_failed(
                        scope, message, "%u:%u: %s contains a NUL byte", s->pos.line, s->pos.column, what);
        }
        return 0;
}

static int eval_condition(
        const WorkflowCondition *c, const ExprValue *contexts, EvalScope *scope, bool *ret, char **message) {
        ExprEvalContext ctx = { .contexts = contexts, .status = eval_status, .userdata = scope };
        ExprError err = {};
        int r;

        r = expr_evaluate_condition(c->node, &ctx, ret, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return eval_failed(scope, message, "%u:%u: if: %s", c->pos.line, c->pos.column,
                        err.message[0] ? err.message : "evaluation failed");
        return 0;
}

/* Adds vars to env (an object), each evaluated with contexts whose env is env as it grows; composite:
 * in the steps of that composite action's step (SIZE_MAX: the job's). */
static int eval_vars_in(const Run *run, const RunJob *job, bool step_level, size_t composite,
        const WorkflowVars *vars, ExprValue *env, char **message) {
        EvalScope scope = { .run = run,
                .job = job,
                .step_level = step_level,
                .composite = composite != SIZE_MAX ? &job->steps[composite] : NULL };
        int r;

        for (size_t i = 0; i < vars->n; i++) {
                _cleanup_(expr_value_unrefp) ExprValue *contexts = NULL;
                _cleanup_free_ char *value = NULL, *what = NULL;

                r = build_contexts_in(run, job, step_level, composite, env, &contexts);
                if (r < 0)
                        return r;
                if (asprintf(&what, "env.%s", vars->items[i].name) < 0)
                        return -ENOMEM;
                r = eval_string(&vars->items[i].value, contexts, &scope, what, &value, message);
                if (r < 0)
                        return r;
                r = object_set_string(env, vars->items[i].name, value);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int eval_vars(const Run *run, const RunJob *job, bool step_level, const WorkflowVars *vars,
        ExprValue *env, char **message) {
        return eval_vars_in(run, job, step_level, SIZE_MAX, vars, env, message);
}

/* ---- conditions under a cancellation ---- */

int run_event_push(RunActions *a, RunEvent event, size_t job, size_t step, const char *condition,
        bool result, const char *text) {
        char *t = NULL;

        if (text) {
                t = strdup(text);
                if (!t)
                        return -ENOMEM;
        }
        return run_action_push(a,
                &(RunAction){ .type = RUN_ACTION_EVENT,
                        .job = job,
                        .step = step,
                        .event = event,
                        .condition = condition,
                        .result = result,
                        .text = t });
}

const char *run_condition_text(const WorkflowCondition *c) {
        return c->raw ?: "success()";
}

static int job_condition(Run *run, size_t job, bool *ret, char **message) {
        RunJob *j = &run->jobs[job];
        EvalScope scope = { .run = run, .job = j };
        _cleanup_(expr_value_unrefp) ExprValue *contexts = NULL;
        int r;

        r = job_level_contexts(run, j, &contexts);
        if (r < 0)
                return r;
        return eval_condition(&j->def->condition, contexts, &scope, ret, message);
}

const WorkflowCondition *run_step_condition_def(const RunJob *j, const RunStep *s) {
        switch (s->role) {
        case RUN_STEP_PRE:
                return &j->steps[s->main].action->action->pre_if;
        case RUN_STEP_POST:
                return &j->steps[s->main].action->action->post_if;
        default:
                return &s->def->condition;
        }
}

const char *run_step_condition_text(const RunJob *j, const RunStep *s) {
        const WorkflowCondition *c = run_step_condition_def(j, s);

        /* pre-if: and post-if: default to always() (README, "Running actions") */
        return c->raw ?: s->role != RUN_STEP_MAIN ? "always()" : "success()";
}

/* The env a step's own adds to: the job's, or that of the composite action it is a step of. */
static const ExprValue *step_env_base(const RunJob *j, const RunStep *s) {
        return s->parent != SIZE_MAX ? j->steps[s->parent].env : j->env;
}

static int step_condition(Run *run, size_t job, size_t step, bool *ret, char **message) {
        RunJob *j = &run->jobs[job];
        const RunStep *s = &j->steps[step];
        EvalScope scope = { .run = run,
                .job = j,
                .step_level = true,
                .composite = s->parent != SIZE_MAX ? &j->steps[s->parent] : NULL };
        _cleanup_(expr_value_unrefp) ExprValue *contexts = NULL;
        int r;

        r = build_contexts_in(run, j, true, s->parent, step_env_base(j, s), &contexts);
        if (r < 0)
                return r;
        return eval_condition(run_step_condition_def(j, s), contexts, &scope, ret, message);
}

int run_eval_job_condition(Run *run, size_t job, bool *ret, char **ret_error) {
        int r;

        *ret_error = NULL;
        r = job_condition(run, job, ret, ret_error);
        if (r == -EINVAL)
                *ret = false;
        return r == -EINVAL ? 0 : r;
}

int run_eval_step_condition(Run *run, size_t job, size_t step, bool *ret, char **ret_error) {
        int r;

        *ret_error = NULL;
        r = step_condition(run, job, step, ret, ret_error);
        if (r == -EINVAL)
                *ret = false;
        return r == -EINVAL ? 0 : r;
}

/* An evaluation the cancellation made a decision of: into the journal. */
static bool under_cancellation(const Run *run, const RunJob *j) {
        return run->cancel_requested || j->fail_fast || j->local_status == RUN_CONCLUSION_CANCELLED ||
                j->cancel_reason == RUN_CANCEL_REASON_CONCURRENCY;
}

/* ---- conclusions ---- */

static void step_conclude(RunStep *s, RunConclusion outcome, RunTime now) {
        s->status = RUN_STATUS_COMPLETED;
        s->outcome = outcome;
        s->conclusion = outcome == RUN_CONCLUSION_FAILURE && s->def->continue_on_error
                ? RUN_CONCLUSION_SUCCESS
                : outcome;
        if (outcome != RUN_CONCLUSION_SKIPPED && !s->started_at)
                s->started_at = now.realtime;
        s->completed_at = now.realtime;
}

/* A step's failure is its job's, or, for a step of a composite action, its action's (README, "Actions"). */
static void job_note_step(RunJob *j, const RunStep *s) {
        RunConclusion *status = s->parent != SIZE_MAX ? &j->steps[s->parent].local_status : &j->local_status;

        if (s->conclusion == RUN_CONCLUSION_FAILURE && *status == RUN_CONCLUSION_SUCCESS)
                *status = RUN_CONCLUSION_FAILURE;
}

int run_job_conclude(Run *run, size_t job, RunConclusion outcome, RunTime now, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        int r;

        j->timer = 0;
        j->status = RUN_STATUS_COMPLETED;
        j->phase = RUN_JOB_DONE;
        j->outcome = outcome;
        j->conclusion = outcome == RUN_CONCLUSION_FAILURE && j->def->continue_on_error
                ? RUN_CONCLUSION_SUCCESS
                : outcome;
        j->completed_at = now.realtime;
        if (outcome == RUN_CONCLUSION_SKIPPED || (outcome != RUN_CONCLUSION_SUCCESS && !j->started_at)) {
                /* Steps of a job that never ran are skipped. */
                for (size_t i = 0; i < j->n_steps; i++)
                        if (j->steps[i].status != RUN_STATUS_COMPLETED) {
                                step_conclude(&j->steps[i], RUN_CONCLUSION_SKIPPED, now);
                                r = changed(actions, job, i);
                                if (r < 0)
                                        return r;
                        }
        }
        r = changed(actions, job, SIZE_MAX);
        if (r < 0)
                return r;
        if (j->conclusion == RUN_CONCLUSION_FAILURE && j->matrix && j->def->strategy->fail_fast)
                return run_fail_fast(run, job, now, actions);
        return 0;
}

static int mask_job_string(const Run *run, size_t job, char **s) {
        return mask_in_job(run, &run->jobs[job], s);
}

/* The job's steps are all done: evaluate its outputs, then clean up. */
static int job_finish_steps(Run *run, size_t job, RunTime now, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        EvalScope scope = { .run = run, .job = j, .step_level = true };
        _cleanup_(expr_value_unrefp) ExprValue *contexts = NULL;
        bool any_started = false;
        int r;

        j->outputs = expr_value_new_object();
        if (!j->outputs)
                return -ENOMEM;
        r = build_contexts(run, j, true, j->env, &contexts);
        if (r < 0)
                return r;
        for (size_t i = 0; i < j->def->outputs.n; i++) {
                _cleanup_free_ char *value = NULL, *what = NULL;

                if (asprintf(&what, "outputs.%s", j->def->outputs.items[i].name) < 0)
                        return -ENOMEM;
                r = eval_string(
                        &j->def->outputs.items[i].value, contexts, &scope, what, &value, &j->message);
                if (r == -EINVAL) {
                        j->local_status = j->local_status == RUN_CONCLUSION_CANCELLED
                                ? j->local_status
                                : RUN_CONCLUSION_FAILURE;
                        continue;
                }
                if (r < 0)
                        return r;
                /* As GitHub does: an output that would carry a secret out of the job is dropped. */
                if (mask_list_matches(&run->masks, value, strlen(value)) ||
                        mask_list_matches(&j->added_masks, value, strlen(value))) {
                        r = run_action_push(actions,
                                &(RunAction){ .type = RUN_ACTION_EVENT,
                                        .event = RUN_EVENT_OUTPUT_DROPPED,
                                        .job = job,
                                        .step = SIZE_MAX,
                                        .text = strdup(j->def->outputs.items[i].name) });
                        if (r < 0)
                                return r;
                        continue;
                }
                r = object_set_string(j->outputs, j->def->outputs.items[i].name, value);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < j->n_steps; i++)
                if (j->steps[i].unit)
                        any_started = true;

        if (!any_started)
                return run_job_cleaned(run, job, now, actions);

        j->phase = RUN_JOB_CLEANUP;
        return action_push(actions, RUN_ACTION_CLEAN_JOB, job, SIZE_MAX, NULL);
}

/* ---- concurrency groups (README, "Concurrency groups") ---- */

/* concurrency: evaluated with contexts: its group and whether it cancels the one in progress. The name
 * must be valid as concurrency.h says. Returns 0, -EINVAL with *message set, or -ENOMEM. */
static int eval_group(const WorkflowConcurrency *c, const ExprValue *contexts, EvalScope *scope,
        RunGroup *ret, char **message) {
        _cleanup_free_ char *name = NULL, *cancel = NULL;
        const char *invalid;
        int r;

        r = eval_string(&c->group, contexts, scope, "concurrency.group", &name, message);
        if (r < 0)
                return r;
        invalid = concurrency_group_invalid(name);
        if (invalid)
                return eval_failed(
                        scope, message, "%u:%u: %s", c->group.pos.line, c->group.pos.column, invalid);
        if (c->cancel_in_progress.raw) {
                r = eval_string(&c->cancel_in_progress, contexts, scope, "concurrency.cancel-in-progress",
                        &cancel, message);
                if (r < 0)
                        return r;
        }
        *ret = (RunGroup){ .name = TAKE_PTR(name),
                .cancel_in_progress = cancel && streq(cancel, "true"),
                .state = RUN_GROUP_PENDING };
        return 0;
}

/* The workflow's concurrency, before any job of the run starts: contexts github, inputs and vars. An
 * invalid group fails the run: each job says why. */
static int run_group_begin(Run *run, RunTime now, RunActions *actions) {
        _cleanup_(expr_value_unrefp) ExprValue *c = NULL, *github = NULL, *inputs = NULL, *vars = NULL;
        _cleanup_free_ char *run_id = NULL, *message = NULL;
        EvalScope scope = { .run = run };
        int r;

        c = expr_value_new_object();
        inputs = expr_value_new_object();
        vars = expr_value_new_object();
        if (!c || !inputs || !vars || asprintf(&run_id, "%" PRIu64, run->id) < 0)
                return -ENOMEM;
        r = object_copy(run->github, &github);
        if (r < 0)
                return r;
        if (object_set_string(github, "run_id", run_id) < 0 ||
                object_set_string(github, "workflow", run->workflow->name ?: run->source) < 0 ||
                expr_object_set(c, "github", 6, github) < 0 || expr_object_set(c, "inputs", 6, inputs) < 0 ||
                expr_object_set(c, "vars", 4, vars) < 0)
                return -ENOMEM;

        r = eval_group(run->workflow->concurrency, c, &scope, &run->group, &message);
        if (r == -EINVAL) {
                for (size_t i = 0; i < run->n_jobs; i++) {
                        free(run->jobs[i].message);
                        run->jobs[i].message = strdup(message);
                        if (!run->jobs[i].message)
                                return -ENOMEM;
                        r = run_job_conclude(run, i, RUN_CONCLUSION_FAILURE, now, actions);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (r < 0)
                return r;
        r = action_push(actions, RUN_ACTION_ACQUIRE_GROUP, SIZE_MAX, SIZE_MAX, NULL);
        return r < 0 ? r : changed(actions, SIZE_MAX, SIZE_MAX);
}

/* A job's concurrency, once it is ready to start: contexts github, needs, strategy, matrix, inputs,
 * vars. An invalid group fails the job. */
static int job_group_begin(Run *run, size_t job, RunTime now, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        EvalScope scope = { .run = run, .job = j };
        _cleanup_(expr_value_unrefp) ExprValue *contexts = NULL;
        int r;

        r = job_level_contexts(run, j, &contexts);
        if (r < 0)
                return r;
        r = eval_group(j->def->concurrency, contexts, &scope, &j->group, &j->message);
        /* The run holds its own group until it concludes: the job would wait for it for ever, and
         * every later run of the group behind it. Refused, as on GitHub. */
        if (r >= 0 && run->group.name && strcasecmp(run->group.name, j->group.name) == 0) {
                r = eval_failed(&scope, &j->message,
                        "%u:%u: a deadlock for concurrency group '%s' between the workflow and job '%s': a job cannot be in its workflow's group",
                        j->def->concurrency->group.pos.line, j->def->concurrency->group.pos.column,
                        j->group.name, j->def->id);
                j->group.name = mfree(j->group.name);
                j->group = (RunGroup){};
        }
        if (r == -EINVAL)
                return run_job_conclude(run, job, RUN_CONCLUSION_FAILURE, now, actions);
        if (r < 0)
                return r;
        r = action_push(actions, RUN_ACTION_ACQUIRE_GROUP, job, SIZE_MAX, NULL);
        return r < 0 ? r : changed(actions, job, SIZE_MAX);
}

int run_group_acquired(Run *run, size_t job, RunTime now, RunActions *actions) {
        RunGroup *g = job == SIZE_MAX ? &run->group : job < run->n_jobs ? &run->jobs[job].group : NULL;

        if (!g || !g->name)
                return -ESTALE;
        if (g->state == RUN_GROUP_HELD)
                return 0;
        g->state = RUN_GROUP_HELD;
        return changed(actions, job, SIZE_MAX);
}

/* ---- starting jobs and steps ---- */

/* Every instance of every definition it needs is done. */
static bool job_needs_done(const Run *run, const RunJob *j) {
        for (size_t i = 0; i < j->def->n_needs; i++) {
                size_t first, n;

                run_def_instances(run, j->def->needs_index[i], &first, &n);
                for (size_t k = first; k < run->n_jobs; k++)
                        if (run->jobs[k].def_index == j->def->needs_index[i] &&
                                run->jobs[k].phase != RUN_JOB_DONE)
                                return false;
        }
        return true;
}

/* A matrix with ${{ }} (strategy.matrix as a whole, or a vector), evaluated once the job's needs are done
 * (contexts github, needs, vars, inputs) and expanded as a written one is: the job becomes the first of
 * its instances, the others are appended to the run's jobs. An evaluation or expansion error fails the
 * job, saying why. */
static int job_expand(Run *run, size_t job, RunTime now, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        const WorkflowStrategy *st = j->def->strategy;
        EvalScope scope = { .run = run, .job = j };
        _cleanup_(expr_value_unrefp) ExprValue *contexts = NULL, *definition = NULL;
        _cleanup_(matrix_expansion_done) MatrixExpansion m = {};
        ExprEvalContext ctx = { .status = eval_status, .userdata = &scope };
        ExprError err = {};
        MatrixError merr = {};
        WorkflowPos at = st->pos;
        size_t def = j->def_index;
        int r;

        r = job_level_contexts(run, j, &contexts);
        if (r < 0)
                return r;
        ctx.contexts = contexts;
        r = workflow_value_evaluate(st->matrix, &ctx, &definition, &err, &at);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                r = eval_failed(&scope, &j->message, "%u:%u: strategy.matrix: %s", at.line, at.column,
                        r == -EEXIST             ? "keys that differ only in case"
                                : err.message[0] ? err.message
                                                 : "evaluation failed");
        else if (definition->kind != EXPR_OBJECT)
                r = eval_failed(&scope, &j->message, "%u:%u: strategy.matrix: not an object", st->pos.line,
                        st->pos.column);
        else {
                r = matrix_expand(definition, &m, &merr);
                if (r == -EINVAL)
                        r = eval_failed(&scope, &j->message, "%u:%u: strategy.matrix: %s", st->pos.line,
                                st->pos.column, merr.message);
                else if (r >= 0 && m.n == 0)
                        r = eval_failed(&scope, &j->message,
                                "%u:%u: strategy.matrix: every combination was excluded", st->pos.line,
                                st->pos.column);
        }
        if (r == -EINVAL)
                return run_job_conclude(run, job, RUN_CONCLUSION_FAILURE, now, actions);
        if (r < 0)
                return r;

        r = run_jobs_append(run, def, m.n - 1, actions);
        if (r == -E2BIG) {
                r = set_message(&run->jobs[job].message, "strategy.matrix: more than %u jobs in the run",
                        RUN_MAX_JOBS);
                return r < 0 ? r : run_job_conclude(run, job, RUN_CONCLUSION_FAILURE, now, actions);
        }
        if (r < 0)
                return r;
        /* run->jobs may have moved */
        for (size_t k = 0, i = job; k < m.n; k++) {
                r = job_set_combination(&run->jobs[i], &m.items[k]);
                if (r < 0)
                        return r;
                i = k == 0 ? run->n_jobs - (m.n - 1) : i + 1;
        }
        return changed(actions, job, SIZE_MAX);
}

/* The job's needs have completed: its if: is evaluated now, as on GitHub. False skips it, also under a
 * cancellation (README, Cancellation, step 3); true queues it for room under MaxParallelJobs. After the
 * force deadline a job that passes cannot start any more: it is cancelled. */
static int job_evaluate(Run *run, size_t job, RunTime now, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        bool pass = false;
        int r;

        if (!job_needs_done(run, j))
                return 0;
        if (j->def->strategy && j->def->strategy->matrix && j->def->strategy->matrix->has_templates &&
                !j->matrix) {
                r = job_expand(run, job, now, actions);
                if (r < 0)
                        return r;
                j = &run->jobs[job];
                if (j->phase == RUN_JOB_DONE)
                        return 0;
        }

        r = job_condition(run, job, &pass, &j->message);
        if (r < 0 && r != -EINVAL)
                return r;
        if (under_cancellation(run, j)) {
                int k = run_event_push(actions, RUN_EVENT_JOB_CONDITION, job, SIZE_MAX,
                        run_condition_text(&j->def->condition), r >= 0 && pass, r < 0 ? j->message : NULL);
                if (k < 0)
                        return k;
        }
        if (r == -EINVAL)
                return run_job_conclude(run, job, RUN_CONCLUSION_FAILURE, now, actions);
        if (!pass) /* a sibling cancelled by fail-fast before it began is cancelled, not skipped */
                return run_job_conclude(run, job,
                        j->fail_fast ? RUN_CONCLUSION_CANCELLED : RUN_CONCLUSION_SKIPPED, now, actions);
        if (run->force_terminated)
                return run_job_conclude(run, job, RUN_CONCLUSION_CANCELLED, now, actions);
        j->phase = RUN_JOB_QUEUED;
        return 0;
}

/* strategy.max-parallel: how many instances of a matrix job may be in progress at once. */
static bool room_under_max_parallel(const Run *run, const RunJob *j) {
        size_t first, n, running = 0;

        if (!j->def->strategy || j->def->strategy->max_parallel == 0)
                return true;
        run_def_instances(run, j->def_index, &first, &n);
        for (size_t i = first; i < run->n_jobs; i++)
                if (run->jobs[i].def_index == j->def_index &&
                        IN_SET(run->jobs[i].phase, RUN_JOB_STEPPING, RUN_JOB_STEP, RUN_JOB_LOADING,
                                RUN_JOB_CLEANUP))
                        running++;
        return running < j->def->strategy->max_parallel;
}

/* A queued job starts when there is room: its env and name are evaluated, its steps begin. */
static int job_start(Run *run, size_t job, RunTime now, unsigned *budget, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        EvalScope scope = { .run = run, .job = j };
        _cleanup_(expr_value_unrefp) ExprValue *contexts = NULL, *env = NULL;
        int r;

        /* Nothing starts after the force deadline. */
        if (run->force_terminated)
                return run_job_conclude(run, job, RUN_CONCLUSION_CANCELLED, now, actions);
        /* A job in a concurrency group starts once it holds it; until then it is pending, not started. */
        if (j->def->concurrency && j->group.state == RUN_GROUP_NONE)
                return job_group_begin(run, job, now, actions);
        if (j->group.state == RUN_GROUP_PENDING)
                return 0;
        if (*budget == 0 || !room_under_max_parallel(run, j))
                return 0;

        env = expr_value_new_object();
        if (!env)
                return -ENOMEM;
        r = eval_vars(run, j, false, &run->workflow->env, env, &j->message);
        if (r >= 0)
                r = eval_vars(run, j, false, &j->def->env, env, &j->message);
        if (r == -EINVAL)
                return run_job_conclude(run, job, RUN_CONCLUSION_FAILURE, now, actions);
        if (r < 0)
                return r;

        r = build_contexts(run, j, false, env, &contexts);
        if (r < 0)
                return r;
        /* a matrix job's name without ${{ }} has its combination's values already */
        if (j->def->name.raw && (!j->matrix || j->def->name.template->node)) {
                j->name = mfree(j->name);
                r = eval_string(&j->def->name, contexts, &scope, "name", &j->name, &j->message);
                if (r == -EINVAL)
                        return run_job_conclude(run, job, RUN_CONCLUSION_FAILURE, now, actions);
                if (r < 0)
                        return r;
        }

        if (*budget != UINT_MAX)
                (*budget)--;
        j->env = TAKE_PTR(env);
        j->status = RUN_STATUS_IN_PROGRESS;
        j->phase = RUN_JOB_STEPPING;
        j->started_at = now.realtime;
        if (j->def->timeout_usec > 0)
                run_timer_start(&j->timer, now.monotonic, j->def->timeout_usec);
        if (run->status == RUN_STATUS_QUEUED) {
                run->status = RUN_STATUS_IN_PROGRESS;
                run->started_at = now.realtime;
                r = changed(actions, SIZE_MAX, SIZE_MAX);
                if (r < 0)
                        return r;
        }
        return changed(actions, job, SIZE_MAX);
}

static int strv_env_set(char ***env, size_t *n, size_t *allocated, const char *name, const char *value) {
        size_t len = strlen(name);
        char *e;

        if (asprintf(&e, "%s=%s", name, value) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < *n; i++)
                if (strncmp((*env)[i], name, len) == 0 && (*env)[i][len] == '=') {
                        free((*env)[i]);
                        (*env)[i] = e;
                        return 0;
                }
        if (array_grow((void **) env, allocated, *n + 2, sizeof(char *)) < 0) {
                free(e);
                return -ENOMEM;
        }
        (*env)[(*n)++] = e;
        (*env)[*n] = NULL;
        return 0;
}

/* github.action as GitHub names it: the step's id; for a step without one, __run, __run_2, … for
 * scripts, __actions_checkout for actions/checkout, and the generated id for other actions. */
static int step_action_name(const RunJob *j, size_t step, char **ret) {
        const WorkflowStep *d = j->steps[step].def;
        unsigned n = 0;

        if (!d->id_generated || d->kind == WORKFLOW_STEP_ACTION)
                *ret = strdup(d->id);
        else if (d->kind == WORKFLOW_STEP_CHECKOUT)
                *ret = strdup("__actions_checkout");
        else {
                for (size_t i = 0; i <= step; i++)
                        n += j->steps[i].def->id_generated && j->steps[i].def->kind == WORKFLOW_STEP_RUN;
                if (n <= 1)
                        *ret = strdup("__run");
                else if (asprintf(ret, "__run_%u", n) < 0)
                        *ret = NULL;
        }
        return *ret ? 0 : -ENOMEM;
}

/* The github context's members that GitHub also gives steps as GITHUB_<NAME> (README, "Contexts of a
 * run"); those the agent did not fill are not set. */
static const char *const github_env_keys[] = {
        "action",
        "actor",
        "api_url",
        "event_name",
        "graphql_url",
        "ref",
        "ref_name",
        "ref_type",
        "repository",
        "repository_owner",
        "run_attempt",
        "run_number",
        "server_url",
        "sha",
        "triggering_actor",
};

/* INPUT_<NAME>, as GitHub's runner and @actions/core name an input's variable. */
static int input_variable_name(const char *input, char **ret) {
        char *v;

        if (asprintf(&v, "INPUT_%s", input) < 0)
                return -ENOMEM;
        for (char *p = v + 6; *p; p++)
                *p = *p == ' ' ? '_' : (char) toupper((unsigned char) *p);
        *ret = v;
        return 0;
}

/* The inputs of the action of step (a uses: step, loaded): its with:, then each input's default for the
 * inputs it does not give (README, "Actions"). */
static int action_inputs(Run *run, size_t job, size_t step, const ExprValue *contexts, EvalScope *scope,
        ExprValue **ret, char **message) {
        RunJob *j = &run->jobs[job];
        const RunStep *s = &j->steps[step];
        const Action *a = s->action->action;
        _cleanup_(expr_value_unrefp) ExprValue *o = expr_value_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < s->def->with.n; i++) {
                _cleanup_free_ char *value = NULL, *what = NULL;

                if (asprintf(&what, "with.%s", s->def->with.items[i].name) < 0)
                        return -ENOMEM;
                r = eval_string(&s->def->with.items[i].value, contexts, scope, what, &value, message);
                if (r < 0)
                        return r;
                r = object_set_string(o, s->def->with.items[i].name, value);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < a->n_inputs; i++) {
                _cleanup_free_ char *value = NULL, *what = NULL;

                if (expr_object_getz(o, a->inputs[i].name))
                        continue;
                if (!a->inputs[i].default_value.raw) {
                        r = object_set_string(o, a->inputs[i].name, "");
                        if (r < 0)
                                return r;
                        continue;
                }
                if (asprintf(&what, "inputs.%s.default", a->inputs[i].name) < 0)
                        return -ENOMEM;
                r = eval_string(&a->inputs[i].default_value, contexts, scope, what, &value, message);
                if (r < 0)
                        return r;
                r = object_set_string(o, a->inputs[i].name, value);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

/* What a JavaScript action's step runs: its main, or its pre or post (README, "Actions"). */
static int action_entry(const RunJob *j, const RunStep *s, char **ret) {
        const RunLoadedAction *a = s->role == RUN_STEP_MAIN ? s->action : j->steps[s->main].action;
        const char *file = s->role == RUN_STEP_PRE ? a->action->pre
                : s->role == RUN_STEP_POST         ? a->action->post
                                                   : a->action->main;

        return asprintf(ret, "%s/%s", a->dir, file) < 0 ? -ENOMEM : 0;
}

static int step_build_spec(Run *run, size_t job, size_t step, RunStepSpec **ret, char **message) {
        RunJob *j = &run->jobs[job];
        RunStep *s = &j->steps[step];
        /* A pre or post step is its action's step again: its with:, env: and state. */
        size_t main_step = s->role == RUN_STEP_MAIN ? step : s->main;
        const RunStep *m = &j->steps[main_step];
        const RunLoadedAction *loaded = m->def->kind == WORKFLOW_STEP_ACTION ? m->action : NULL;
        size_t composite = m->parent;
        EvalScope scope = { .run = run,
                .job = j,
                .step_level = true,
                .composite = composite != SIZE_MAX ? &j->steps[composite] : NULL };
        _cleanup_(expr_value_unrefp) ExprValue *inputs = NULL;
        _cleanup_(run_step_spec_freep) RunStepSpec *spec = NULL;
        _cleanup_(expr_value_unrefp) ExprValue *env = NULL, *contexts = NULL;
        _cleanup_free_ char *workspace = NULL, *wd = NULL, *run_id = NULL, *action = NULL;
        _cleanup_free_ char *checkout_path = NULL, *checkout_clean = NULL, *checkout_depth = NULL;
        size_t n_env = 0, allocated = 0;
        int r;

        spec = calloc(1, sizeof(*spec));
        if (!spec)
                return -ENOMEM;

        r = object_copy(step_env_base(j, m), &env);
        if (r < 0)
                return r;
        r = eval_vars_in(run, j, true, composite, &s->def->env, env, message);
        if (r < 0)
                return r;

        r = build_contexts_in(run, j, true, composite, env, &contexts);
        if (r < 0)
                return r;
        r = step_action_name(j, step, &action);
        if (r < 0)
                return r;
        if (object_set_string(expr_object_getz(contexts, "github"), "action", action) < 0)
                return -ENOMEM;
        if (s->def->kind == WORKFLOW_STEP_CHECKOUT) {
                const WorkflowCheckout *c = &s->def->checkout;
                const char *why;

                r = eval_string(&c->path, contexts, &scope, "path", &checkout_path, message);
                if (r >= 0)
                        r = eval_string(&c->clean, contexts, &scope, "clean", &checkout_clean, message);
                if (r >= 0)
                        r = eval_string(
                                &c->fetch_depth, contexts, &scope, "fetch-depth", &checkout_depth, message);
                if (r < 0)
                        return r;
                /* actions/checkout's defaults */
                if (!c->clean.raw) {
                        free(checkout_clean);
                        checkout_clean = strdup("true");
                }
                if (!c->fetch_depth.raw) {
                        free(checkout_depth);
                        checkout_depth = strdup("1");
                }
                if (!checkout_clean || !checkout_depth)
                        return -ENOMEM;
                if (run_checkout_check(checkout_path, checkout_clean, checkout_depth, &why) < 0)
                        return set_message(message, "%s", why) < 0 ? -ENOMEM : -EINVAL;
                spec->script = strdup(run_checkout_script);
                if (!spec->script)
                        return -ENOMEM;
                spec->checkout = true;
        } else if (loaded) {
                r = action_inputs(run, job, main_step, contexts, &scope, &inputs, message);
                if (r < 0)
                        return r;
                r = action_entry(j, s, &spec->script);
                if (r < 0)
                        return r;
                spec->node = action_using_to_string(loaded->action->using);
        } else {
                r = eval_string(&s->def->run, contexts, &scope, "run", &spec->script, message);
                if (r < 0)
                        return r;
        }
        /* GitHub names an unnamed step after its script as it runs, expressions evaluated. */
        if (!s->def->name.raw && s->def->kind == WORKFLOW_STEP_RUN) {
                r = workflow_script_display_name(spec->script, &s->name);
                if (r < 0)
                        return r;
        }

        r = job_workspace(run, j, &workspace);
        if (r < 0)
                return r;
        if (s->def->working_directory.raw) {
                r = eval_string(
                        &s->def->working_directory, contexts, &scope, "working-directory", &wd, message);
                if (r < 0)
                        return r;
        }
        if (!wd || !*wd)
                spec->working_directory = TAKE_PTR(workspace);
        else if (wd[0] == '/')
                spec->working_directory = TAKE_PTR(wd);
        else if (asprintf(&spec->working_directory, "%s/%s", workspace, wd) < 0)
                return -ENOMEM;

        spec->shell = strdup(spec->checkout ? RUN_CHECKOUT_SHELL : spec->node ?: s->def->shell);
        if (!spec->shell)
                return -ENOMEM;
        spec->timeout_usec = s->def->timeout_usec;

        spec->env = calloc(1, sizeof(char *));
        if (!spec->env)
                return -ENOMEM;
        allocated = 1;
        for (size_t i = 0; i < env->object.n; i++) {
                _cleanup_free_ char *v = NULL;
                const ExprPair *p = &env->object.pairs[i];

                r = expr_value_to_string(p->value, &v, NULL);
                if (r < 0)
                        return r;
                r = strv_env_set(&spec->env, &n_env, &allocated, p->key, v);
                if (r < 0)
                        return r;
        }
        /* GitHub's defaults, which a workflow cannot override. */
        if (asprintf(&run_id, "%" PRIu64, run->id) < 0)
                return -ENOMEM;
        if (strv_env_set(&spec->env, &n_env, &allocated, "CI", "true") < 0 ||
                strv_env_set(&spec->env, &n_env, &allocated, "GITHUB_ACTIONS", "true") < 0 ||
                strv_env_set(&spec->env, &n_env, &allocated, "GITHUB_RUN_ID", run_id) < 0 ||
                strv_env_set(&spec->env, &n_env, &allocated, "GITHUB_JOB", j->def->id) < 0 ||
                strv_env_set(&spec->env, &n_env, &allocated, "GITHUB_WORKFLOW",
                        run->workflow->name ?: run->source) < 0 ||
                strv_env_set(&spec->env, &n_env, &allocated, "GITHUB_WORKSPACE",
                        expr_object_getz(expr_object_getz(contexts, "github"), "workspace")->string.s) < 0 ||
                strv_env_set(&spec->env, &n_env, &allocated, "RUNNER_OS", "Linux") < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(github_env_keys); i++) {
                const ExprValue *v = expr_object_getz(
                        expr_object_getz(contexts, "github"), github_env_keys[i]);
                char name[64] = "GITHUB_";

                if (!v || v->kind != EXPR_STRING || memchr(v->string.s, 0, v->string.len))
                        continue;
                for (size_t k = 0; github_env_keys[i][k] && k + 8 < sizeof(name); k++)
                        name[7 + k] = (char) toupper((unsigned char) github_env_keys[i][k]);
                if (strv_env_set(&spec->env, &n_env, &allocated, name, v->string.s) < 0)
                        return -ENOMEM;
        }
        if (spec->checkout &&
                (strv_env_set(&spec->env, &n_env, &allocated, "INPUT_PATH", checkout_path) < 0 ||
                        strv_env_set(&spec->env, &n_env, &allocated, "INPUT_CLEAN", checkout_clean) < 0 ||
                        strv_env_set(&spec->env, &n_env, &allocated, "INPUT_FETCH_DEPTH", checkout_depth) <
                                0 ||
                        strv_env_set(&spec->env, &n_env, &allocated, "RUNNER_SOURCE_FORMAT",
                                run->source_format ?: "none") < 0))
                return -ENOMEM;

        /* A JavaScript action's inputs, state and whereabouts; a composite action's steps know where
         * it is too (README, "Actions"). */
        for (size_t i = 0; inputs && i < inputs->object.n; i++) {
                _cleanup_free_ char *name = NULL;

                if (input_variable_name(inputs->object.pairs[i].key, &name) < 0 ||
                        strv_env_set(&spec->env, &n_env, &allocated, name,
                                inputs->object.pairs[i].value->string.s) < 0)
                        return -ENOMEM;
        }
        for (size_t i = 0; loaded && m->state && i < m->state->object.n; i++) {
                _cleanup_free_ char *name = NULL;

                if (asprintf(&name, "STATE_%s", m->state->object.pairs[i].key) < 0 ||
                        strv_env_set(&spec->env, &n_env, &allocated, name,
                                m->state->object.pairs[i].value->string.s) < 0)
                        return -ENOMEM;
        }
        {
                const RunLoadedAction *where = loaded
                        ?: composite != SIZE_MAX ? (const RunLoadedAction *) j->steps[composite].action
                                                 : NULL;

                if (where &&
                        (strv_env_set(&spec->env, &n_env, &allocated, "GITHUB_ACTION_PATH", where->dir) <
                                        0 ||
                                strv_env_set(&spec->env, &n_env, &allocated, "GITHUB_ACTION_REPOSITORY",
                                        where->repository ?: "") < 0 ||
                                strv_env_set(&spec->env, &n_env, &allocated, "GITHUB_ACTION_REF",
                                        where->ref ?: "") < 0))
                        return -ENOMEM;
        }

        spec->path = calloc(j->n_path + 1, sizeof(char *));
        if (!spec->path)
                return -ENOMEM;
        for (size_t i = 0; i < j->n_path; i++) {
                spec->path[i] = strdup(j->path[i]);
                if (!spec->path[i])
                        return -ENOMEM;
        }

        if (s->def->name.raw && s->role == RUN_STEP_MAIN) {
                r = eval_string(&s->def->name, contexts, &scope, "name", &s->name, message);
                if (r < 0)
                        return r;
        }
        /* The name is shown everywhere (status, the journal): as GitHub does, never a secret. */
        r = mask_job_string(run, job, &s->name);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(spec);
        return 0;
}

const char *run_step_display_name(const RunStep *s) {
        return s->name ?: s->def->display_name ?: s->def->id;
}

/* A step that concludes without running: skipped, or failed before it could start. */
static int step_end_early(
        RunJob *j, size_t job, size_t step, RunConclusion outcome, RunTime now, RunActions *actions) {
        step_conclude(&j->steps[step], outcome, now);
        job_note_step(j, &j->steps[step]);
        return changed(actions, job, step);
}

/* The name of a step that repeats another's action: "Pre Run owner/repo@ref", "Post Run ./path". */
static int step_set_prefixed_name(RunStep *s, const char *prefix, const RunStep *of) {
        free(s->name);
        return asprintf(&s->name, "%s %s", prefix, run_step_display_name(of)) < 0 ? (s->name = NULL, -ENOMEM)
                                                                                  : 0;
}

static bool step_is_javascript(const RunStep *s) {
        return s->action && s->action->action->using != ACTION_USING_COMPOSITE;
}

/* The job's start (README, "Actions"): the actions its steps name from the action store are asked for
 * first, so that one missing fails the job before any step runs. */
static int job_set_up_done(Run *run, size_t job, RunTime now, RunActions *actions);

static int job_set_up(Run *run, size_t job, RunTime now, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        int r;

        j->set_up = true;
        for (size_t i = 0; i < j->n_steps; i++) {
                const RunStep *s = &j->steps[i];

                if (s->role != RUN_STEP_MAIN || s->parent != SIZE_MAX || s->action ||
                        s->def->kind != WORKFLOW_STEP_ACTION || !s->def->action.owner)
                        continue;
                r = action_push(actions, RUN_ACTION_LOAD_ACTION, job, i, NULL);
                if (r < 0)
                        return r;
                j->loading++;
        }
        if (j->loading == 0) /* none, or all loaded before a restart of the agent */
                return job_set_up_done(run, job, now, actions);
        j->phase = RUN_JOB_LOADING;
        j->setting_up = true;
        return 0;
}

/* The actions of the job's start are loaded: their pre steps go first, in the order of their steps; or
 * one could not be, and the job fails without running a step. */
static int job_set_up_done(Run *run, size_t job, RunTime now, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        size_t n = 0, k = 0;
        int r;

        if (j->load_error) {
                r = set_message(&j->message, "%s", j->load_error);
                if (r < 0)
                        return r;
                j->local_status = RUN_CONCLUSION_FAILURE;
                for (size_t i = 0; i < j->n_steps; i++) {
                        step_conclude(&j->steps[i], RUN_CONCLUSION_SKIPPED, now);
                        r = changed(actions, job, i);
                        if (r < 0)
                                return r;
                }
                j->next_step = j->n_steps;
                return 0;
        }
        for (size_t i = 0; i < j->n_steps; i++)
                n += step_is_javascript(&j->steps[i]) && j->steps[i].action->action->pre;
        r = job_insert_steps(run, job, 0, n, false, actions);
        if (r < 0)
                return r;
        for (size_t i = n; i < j->n_steps && k < n; i++) {
                RunStep *pre = &j->steps[k];

                if (!step_is_javascript(&j->steps[i]) || !j->steps[i].action->action->pre)
                        continue;
                pre->def = j->steps[i].def;
                pre->role = RUN_STEP_PRE;
                pre->main = i;
                pre->action = run_loaded_action_ref(j->steps[i].action);
                r = step_set_prefixed_name(pre, "Pre", &j->steps[i]);
                if (r < 0)
                        return r;
                k++;
        }
        return 0;
}

int run_step_action_loaded(Run *run, size_t job, size_t step, RunLoadedAction *action, const char *message,
        RunTime now, RunActions *actions) {
        _cleanup_free_ char *too_big = NULL;
        RunJob *j;
        RunStep *s;
        int r;

        if (job >= run->n_jobs)
                return -ESTALE;
        j = &run->jobs[job];
        if (j->phase != RUN_JOB_LOADING || j->loading == 0 || step >= j->n_steps || j->steps[step].action)
                return -ESTALE;
        s = &j->steps[step];
        j->loading--;
        /* The same action loaded again (a composite action using itself, a step repeated): one copy. */
        for (size_t i = 0; action && i < j->n_steps; i++) {
                const RunLoadedAction *o = j->steps[i].action;

                if (o && o != action && streq(o->dir, action->dir) && streq(o->text, action->text) &&
                        streq_ptr(o->repository, action->repository) && streq_ptr(o->ref, action->ref)) {
                        s->action = run_loaded_action_ref(j->steps[i].action);
                        action = NULL;
                        break;
                }
        }
        if (action && strlen(action->text) > RUN_MAX_ACTION_TEXT - run->action_text) {
                if (asprintf(&too_big, "The run's action.yml files would be larger than %u bytes together.",
                            RUN_MAX_ACTION_TEXT) < 0)
                        return -ENOMEM;
                action = NULL;
                message = too_big;
        }
        if (action) {
                s->action = run_loaded_action_ref(action);
                run->action_text += strlen(action->text);
        }
        if (j->setting_up) {
                if (!s->action && !j->load_error) {
                        j->load_error = strdup(message ?: "An action could not be loaded.");
                        if (!j->load_error)
                                return -ENOMEM;
                }
                if (j->loading > 0)
                        return 0;
                j->setting_up = false;
                j->phase = RUN_JOB_STEPPING;
                return job_set_up_done(run, job, now, actions);
        }
        j->phase = RUN_JOB_STEPPING;
        if (s->action)
                return 0; /* job_next_step() takes the step again */
        r = set_message(&s->message, "%s", message ?: "The action could not be loaded.");
        if (r < 0)
                return r;
        j->next_step = step + 1;
        return step_end_early(j, job, step, RUN_CONCLUSION_FAILURE, now, actions);
}

/* A composite action's step whose steps are all done concludes: failure if one failed, cancelled if one
 * was, its outputs evaluated from its steps' (README, "Actions"). Innermost first. */
static int job_settle_composites(Run *run, size_t job, RunTime now, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        int r;

        for (size_t i = j->n_steps; i-- > 0;) {
                RunStep *c = &j->steps[i];
                RunConclusion outcome = RUN_CONCLUSION_SUCCESS;
                EvalScope scope = { .run = run, .job = j, .step_level = true, .composite = c };
                _cleanup_(expr_value_unrefp) ExprValue *contexts = NULL;
                const Action *a;

                if (c->status != RUN_STATUS_IN_PROGRESS || c->end == SIZE_MAX || j->next_step <= c->end)
                        continue;
                a = c->action->action;
                for (size_t k = i + 1; k <= c->end; k++)
                        if (j->steps[k].parent == i && j->steps[k].conclusion == RUN_CONCLUSION_CANCELLED)
                                outcome = RUN_CONCLUSION_CANCELLED;
                if (c->local_status == RUN_CONCLUSION_FAILURE)
                        outcome = RUN_CONCLUSION_FAILURE;
                c->outputs = c->outputs ?: expr_value_new_object();
                if (!c->outputs)
                        return -ENOMEM;
                r = build_contexts_in(run, j, true, i, c->env, &contexts);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < a->n_outputs; k++) {
                        _cleanup_free_ char *value = NULL, *what = NULL;

                        if (!a->outputs[k].value.raw)
                                continue;
                        if (asprintf(&what, "outputs.%s", a->outputs[k].name) < 0)
                                return -ENOMEM;
                        r = eval_string(&a->outputs[k].value, contexts, &scope, what, &value, &c->message);
                        if (r == -EINVAL) {
                                outcome = RUN_CONCLUSION_FAILURE;
                                continue;
                        }
                        if (r < 0)
                                return r;
                        r = object_set_string(c->outputs, a->outputs[k].name, value);
                        if (r < 0)
                                return r;
                }
                step_conclude(c, outcome, now);
                job_note_step(j, c);
                r = changed(actions, job, i);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A composite action's step starts: its inputs and env are evaluated, its steps go after it, each a step
 * of the job in its own scope (README, "Actions"). -EINVAL with *message: it fails. */
/* What a composite action's steps inherit from its step: its env, and its inputs as its with: and the
 * action's defaults make them. */
static int composite_eval(
        Run *run, size_t job, size_t step, ExprValue **ret_inputs, ExprValue **ret_env, char **message) {
        RunJob *j = &run->jobs[job];
        RunStep *c = &j->steps[step];
        EvalScope scope = { .run = run,
                .job = j,
                .step_level = true,
                .composite = c->parent != SIZE_MAX ? &j->steps[c->parent] : NULL };
        _cleanup_(expr_value_unrefp) ExprValue *env = NULL, *contexts = NULL, *inputs = NULL;
        int r;

        r = object_copy(step_env_base(j, c), &env);
        if (r < 0)
                return r;
        r = eval_vars_in(run, j, true, c->parent, &c->def->env, env, message);
        if (r < 0)
                return r;
        r = build_contexts_in(run, j, true, c->parent, env, &contexts);
        if (r < 0)
                return r;
        r = action_inputs(run, job, step, contexts, &scope, &inputs, message);
        if (r < 0)
                return r;
        if (c->def->name.raw && !c->name) {
                r = eval_string(&c->def->name, contexts, &scope, "name", &c->name, message);
                if (r < 0)
                        return r;
                r = mask_in_job(run, j, &c->name);
                if (r < 0)
                        return r;
        }
        *ret_inputs = TAKE_PTR(inputs);
        *ret_env = TAKE_PTR(env);
        return 0;
}

int run_restore_composites(Run *run) {
        for (size_t i = 0; i < run->n_jobs; i++)
                for (size_t k = 0; k < run->jobs[i].n_steps; k++) {
                        RunStep *c = &run->jobs[i].steps[k];
                        _cleanup_free_ char *message = NULL;
                        int r;

                        if (c->end == SIZE_MAX || c->status != RUN_STATUS_IN_PROGRESS)
                                continue;
                        r = composite_eval(run, i, k, &c->inputs, &c->env, &message);
                        if (r == -ENOMEM)
                                return r;
                        /* what evaluated when it began evaluates again; if not, its steps see none */
                        if (r < 0 &&
                                (!(c->inputs = expr_value_new_object()) ||
                                        !(c->env = expr_value_new_object())))
                                return -ENOMEM;
                }
        return 0;
}

static int composite_begin(
        Run *run, size_t job, size_t step, RunTime now, RunActions *actions, char **message) {
        RunJob *j = &run->jobs[job];
        RunStep *c = &j->steps[step];
        _cleanup_(expr_value_unrefp) ExprValue *env = NULL, *inputs = NULL;
        const Action *a = c->action->action;
        int r;

        for (size_t depth = 0, p = c->parent; p != SIZE_MAX; p = j->steps[p].parent)
                if (++depth >= RUN_MAX_COMPOSITE_DEPTH)
                        return set_message(message, "Composite actions are nested more than %u deep.",
                                       RUN_MAX_COMPOSITE_DEPTH) < 0
                                ? -ENOMEM
                                : -EINVAL;
        r = composite_eval(run, job, step, &inputs, &env, message);
        if (r < 0)
                return r;

        r = job_insert_steps(run, job, step + 1, a->n_steps, false, actions);
        if (r == -E2BIG)
                return set_message(message,
                               "The job would have more than %u steps with its actions', or its run more than %u steps added by actions.",
                               RUN_MAX_JOB_STEPS, RUN_MAX_ADDED_STEPS) < 0
                        ? -ENOMEM
                        : -EINVAL;
        if (r < 0)
                return r;
        c = &j->steps[step];
        for (size_t k = 0; k < a->n_steps; k++) {
                RunStep *inner = &j->steps[step + 1 + k];

                inner->def = &a->steps[k];
                inner->parent = step;
        }
        c->end = step + a->n_steps;
        /* The composites it is a step of end after it too. */
        for (size_t p = c->parent; p != SIZE_MAX; p = j->steps[p].parent)
                j->steps[p].end = MAX(j->steps[p].end, c->end);
        c->inputs = TAKE_PTR(inputs);
        c->env = TAKE_PTR(env);
        c->local_status = RUN_CONCLUSION_SUCCESS;
        c->status = RUN_STATUS_IN_PROGRESS;
        c->started_at = now.realtime;
        return changed(actions, job, step);
}

/* A JavaScript action with post: gets its post step when its main step starts: at the job's end, before
 * the post steps of the steps before it. */
static int post_step_add(Run *run, size_t job, size_t step, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        size_t at = j->post_at;
        RunStep *post;
        int r;

        r = job_insert_steps(run, job, at, 1, true, actions);
        if (r < 0)
                return r;
        post = &j->steps[at];
        post->def = j->steps[step].def;
        post->role = RUN_STEP_POST;
        post->main = step;
        post->action = run_loaded_action_ref(j->steps[step].action);
        return step_set_prefixed_name(post, "Post", &j->steps[step]);
}

static int job_next_step(Run *run, size_t job, RunTime now, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        int r;

        if (!j->set_up && j->next_step == 0 && j->n_steps == j->def->n_steps) {
                r = job_set_up(run, job, now, actions);
                if (r < 0 || j->phase == RUN_JOB_LOADING)
                        return r;
        }

        for (;;) {
                size_t step;
                RunStep *s;
                _cleanup_(run_step_spec_freep) RunStepSpec *spec = NULL;
                RunConclusion early = RUN_CONCLUSION_NONE;
                bool pass = false;

                r = job_settle_composites(run, job, now, actions);
                if (r < 0)
                        return r;
                if (j->next_step >= j->n_steps)
                        break;
                step = j->next_step++;
                s = &j->steps[step];

                if (run->force_terminated) {
                        r = step_end_early(j, job, step, RUN_CONCLUSION_SKIPPED, now, actions);
                        if (r < 0)
                                return r;
                        continue;
                }

                /* A false if: skips the step; an if: or a step text that cannot be evaluated fails it. */
                r = step_condition(run, job, step, &pass, &s->message);
                if (r < 0 && r != -EINVAL)
                        return r;
                /* A uses: step's action is loaded once it is to run, and then it is taken again. */
                if (r >= 0 && pass && s->role == RUN_STEP_MAIN && s->def->kind == WORKFLOW_STEP_ACTION &&
                        !s->action) {
                        j->next_step = step;
                        j->loading = 1;
                        j->phase = RUN_JOB_LOADING;
                        return action_push(actions, RUN_ACTION_LOAD_ACTION, job, step, NULL);
                }
                if (under_cancellation(run, j)) {
                        int k = run_event_push(actions, RUN_EVENT_STEP_CONDITION, job, step,
                                run_step_condition_text(j, s), r >= 0 && pass, r < 0 ? s->message : NULL);
                        if (k < 0)
                                return k;
                }
                if (r >= 0 && !pass)
                        early = RUN_CONCLUSION_SKIPPED;
                else if (r >= 0 && s->role == RUN_STEP_MAIN && s->action &&
                        s->action->action->using == ACTION_USING_COMPOSITE) {
                        r = composite_begin(run, job, step, now, actions, &s->message);
                        if (r >= 0)
                                continue;
                } else if (r >= 0)
                        r = step_build_spec(run, job, step, &spec, &s->message);
                s = &j->steps[step];
                if (r == -EINVAL)
                        early = RUN_CONCLUSION_FAILURE;
                else if (r < 0)
                        return r;
                if (early != RUN_CONCLUSION_NONE) {
                        r = step_end_early(j, job, step, early, now, actions);
                        if (r < 0)
                                return r;
                        continue;
                }

                if (s->role == RUN_STEP_MAIN && step_is_javascript(s) && s->action->action->post) {
                        r = post_step_add(run, job, step, actions);
                        if (r < 0)
                                return r;
                        s = &j->steps[step];
                }
                s->status = RUN_STATUS_IN_PROGRESS;
                s->started_at = now.realtime;
                r = run_step_unit_name(run, job, step, &s->unit);
                if (r < 0)
                        return r;
                j->phase = RUN_JOB_STEP;
                r = action_push(actions, RUN_ACTION_START_STEP, job, step, spec);
                if (r < 0)
                        return r;
                TAKE_PTR(spec);
                return changed(actions, job, step);
        }

        return job_finish_steps(run, job, now, actions);
}

static RunConclusion run_conclusion(const Run *run) {
        bool failure = false, cancelled = false;

        if (run->cancel_requested)
                return RUN_CONCLUSION_CANCELLED;
        for (size_t i = 0; i < run->n_jobs; i++) {
                failure = failure || run->jobs[i].conclusion == RUN_CONCLUSION_FAILURE;
                cancelled = cancelled || run->jobs[i].conclusion == RUN_CONCLUSION_CANCELLED;
        }
        return failure      ? RUN_CONCLUSION_FAILURE
                : cancelled ? RUN_CONCLUSION_CANCELLED
                            : RUN_CONCLUSION_SUCCESS;
}

int run_advance(Run *run, RunTime now, unsigned *budget, RunActions *actions) {
        unsigned no_limit = UINT_MAX;
        bool progress = true, all_done;
        int r;

        if (!budget)
                budget = &no_limit;
        if (run->status == RUN_STATUS_COMPLETED)
                return 0;

        /* The workflow's concurrency group first: nothing of the run starts before it holds it. A run
         * cancelled while it waits concludes cancelled, nothing of it having started. */
        if (run->workflow->concurrency && run->group.state == RUN_GROUP_NONE && !run->cancel_requested &&
                run->status == RUN_STATUS_QUEUED) {
                r = run_group_begin(run, now, actions);
                if (r < 0)
                        return r;
        }
        if (run->group.state == RUN_GROUP_PENDING) {
                if (!run->cancel_requested)
                        return 0;
                for (size_t i = 0; i < run->n_jobs; i++)
                        if (run->jobs[i].phase != RUN_JOB_DONE) {
                                r = run_job_conclude(run, i, RUN_CONCLUSION_CANCELLED, now, actions);
                                if (r < 0)
                                        return r;
                        }
        }

        while (progress) {
                progress = false;
                for (size_t i = 0; i < run->n_jobs; i++) {
                        RunJobPhase before = run->jobs[i].phase;

                        /* job_evaluate() may append jobs: run->jobs may move */
                        if (before == RUN_JOB_WAITING)
                                r = job_evaluate(run, i, now, actions);
                        else if (before == RUN_JOB_QUEUED)
                                r = job_start(run, i, now, budget, actions);
                        else if (before == RUN_JOB_STEPPING)
                                r = job_next_step(run, i, now, actions);
                        else
                                continue;
                        if (r < 0)
                                return r;
                        if (run->jobs[i].phase != before)
                                progress = true;
                }
        }

        all_done = true;
        for (size_t i = 0; i < run->n_jobs; i++)
                all_done = all_done && run->jobs[i].phase == RUN_JOB_DONE;
        if (!all_done)
                return 0;

        run->timer = 0;
        run->status = RUN_STATUS_COMPLETED;
        run->conclusion = run_conclusion(run);
        if (!run->started_at)
                run->started_at = now.realtime;
        run->completed_at = now.realtime;
        return changed(actions, SIZE_MAX, SIZE_MAX);
}

/* ---- events from the agent ---- */

RunStep *run_running_step(Run *run, size_t job, size_t step) {
        if (job >= run->n_jobs || step >= run->jobs[job].n_steps)
                return NULL;
        if (run->jobs[job].phase != RUN_JOB_STEP || run->jobs[job].next_step != step + 1)
                return NULL;
        if (run->jobs[job].steps[step].status != RUN_STATUS_IN_PROGRESS)
                return NULL;
        return &run->jobs[job].steps[step];
}

int run_step_started(Run *run, size_t job, size_t step, RunTime now, RunActions *actions) {
        RunStep *s = run_running_step(run, job, step);

        int r;

        if (!s)
                return -ESTALE;
        s->started_at = now.realtime;
        s->entry_running = true;
        r = changed(actions, job, step);
        if (r < 0)
                return r;
        if (s->cancel_stage != RUN_CANCEL_NONE)
                return cancel_step_started(run, job, step, now, actions);
        if (s->def->timeout_usec > 0)
                run_timer_start(&s->timer, now.monotonic, s->def->timeout_usec);
        return 0;
}

int run_step_restart(Run *run, size_t job, size_t step, RunTime now, RunActions *actions) {
        RunStep *s = run_running_step(run, job, step);
        _cleanup_(run_step_spec_freep) RunStepSpec *spec = NULL;
        int r;

        if (!s || s->entry_running)
                return -ESTALE;
        if (s->cancel_stage != RUN_CANCEL_NONE)
                return run_step_failed(
                        run, job, step, "The step was cancelled before it ran.", now, actions);
        r = step_build_spec(run, job, step, &spec, &s->message);
        if (r == -EINVAL)
                return run_step_failed(run, job, step, s->message, now, actions);
        if (r < 0)
                return r;
        r = action_push(actions, RUN_ACTION_START_STEP, job, step, spec);
        if (r < 0)
                return r;
        TAKE_PTR(spec);
        return 0;
}

/* Applies $GITHUB_OUTPUT, $GITHUB_ENV and $GITHUB_PATH. Returns -EINVAL with *message on bad text. */
static int apply_file_commands(RunJob *j, RunStep *s, const RunStepResult *res, char **message) {
        FileCommandEntries out = {}, env = {};
        char err[256] = "";
        char **paths = NULL;
        size_t n_paths = 0;
        int r;

        s->outputs = s->outputs ?: expr_value_new_object();
        if (!s->outputs)
                return -ENOMEM;

        r = file_command_parse(res->output ?: "", res->output ? res->output_len : 0, &out, err, sizeof(err));
        for (size_t i = 0; r != -ENOMEM && i < out.n; i++) {
                _cleanup_(expr_value_unrefp)
                        ExprValue *v = expr_value_new_string(out.entries[i].value, out.entries[i].value_len);
                if (!v ||
                        expr_object_set(s->outputs, out.entries[i].name, strlen(out.entries[i].name), v) < 0)
                        r = -ENOMEM;
        }
        file_command_entries_done(&out);
        if (r == -EINVAL)
                return set_message(message, "GITHUB_OUTPUT: %s", err) < 0 ? -ENOMEM : -EINVAL;
        if (r < 0)
                return r;

        r = file_command_parse(res->env ?: "", res->env ? res->env_len : 0, &env, err, sizeof(err));
        for (size_t i = 0; r != -ENOMEM && i < env.n; i++) {
                _cleanup_(expr_value_unrefp) ExprValue *v = NULL;

                /* A NUL cannot go into the environment of a process. */
                if (memchr(env.entries[i].value, 0, env.entries[i].value_len)) {
                        snprintf(err, sizeof(err), "line %u: the value of '%s' contains a NUL byte",
                                env.entries[i].line, env.entries[i].name);
                        r = -EINVAL;
                        break;
                }
                v = expr_value_new_string(env.entries[i].value, env.entries[i].value_len);
                if (!v || expr_object_set(j->env, env.entries[i].name, strlen(env.entries[i].name), v) < 0)
                        r = -ENOMEM;
        }
        file_command_entries_done(&env);
        if (r == -EINVAL)
                return set_message(message, "GITHUB_ENV: %s", err) < 0 ? -ENOMEM : -EINVAL;
        if (r < 0)
                return r;

        r = file_command_parse_paths(res->path ?: "", res->path ? res->path_len : 0, &paths, &n_paths);
        if (r < 0)
                return r;
        /* Each addition goes in front, as on GitHub: the latest line wins. */
        if (n_paths > 0) {
                char **p = reallocarray(j->path, j->n_path + n_paths, sizeof(char *));
                if (!p) {
                        for (size_t i = 0; i < n_paths; i++)
                                free(paths[i]);
                        free(paths);
                        return -ENOMEM;
                }
                j->path = p;
                memmove(j->path + n_paths, j->path, j->n_path * sizeof(char *));
                for (size_t i = 0; i < n_paths; i++)
                        j->path[i] = paths[n_paths - 1 - i];
                j->n_path += n_paths;
        }
        free(paths);
        return 0;
}

/* Applies $GITHUB_STATE: what a JavaScript action's pre or main saves for the steps of it that follow,
 * as STATE_<NAME> (README, "Actions"). Returns -EINVAL with *message on bad text. */
static int apply_state(RunJob *j, RunStep *s, const RunStepResult *res, char **message) {
        RunStep *m = s->role == RUN_STEP_MAIN ? s : &j->steps[s->main];
        FileCommandEntries state = {};
        char err[256] = "";
        int r;

        if (!res->state || res->state_len == 0)
                return 0;
        m->state = m->state ?: expr_value_new_object();
        if (!m->state)
                return -ENOMEM;
        r = file_command_parse(res->state, res->state_len, &state, err, sizeof(err));
        for (size_t i = 0; r != -ENOMEM && i < state.n; i++) {
                _cleanup_(expr_value_unrefp) ExprValue *v = NULL;

                if (memchr(state.entries[i].value, 0, state.entries[i].value_len)) {
                        snprintf(err, sizeof(err), "line %u: the value of '%s' contains a NUL byte",
                                state.entries[i].line, state.entries[i].name);
                        r = -EINVAL;
                        break;
                }
                v = expr_value_new_string(state.entries[i].value, state.entries[i].value_len);
                if (!v ||
                        expr_object_set(m->state, state.entries[i].name, strlen(state.entries[i].name), v) <
                                0)
                        r = -ENOMEM;
        }
        file_command_entries_done(&state);
        if (r == -EINVAL)
                return set_message(message, "GITHUB_STATE: %s", err) < 0 ? -ENOMEM : -EINVAL;
        return r < 0 ? r : 0;
}

int run_step_exited(
        Run *run, size_t job, size_t step, const RunStepResult *result, RunTime now, RunActions *actions) {
        RunStep *s = run_running_step(run, job, step);
        RunJob *j = &run->jobs[job];
        RunConclusion outcome;
        int r;

        if (!s)
                return -ESTALE;

        s->exit_code = result->exit_signal ? -1 : result->exit_code;
        s->exit_signal = result->exit_signal;
        /* Annotations are what the step said, also when it was cancelled. */
        if (result->annotations) {
                r = annotations_parse(
                        result->annotations, result->annotations_len, &s->annotations, &s->n_annotations);
                if (r < 0)
                        return r;
        }
        /* What a step being cancelled wrote is not taken: it did not complete. But its state is, for
         * its post step, which cleans up after it (README, "Actions"). */
        if (s->cancel_stage != RUN_CANCEL_NONE) {
                r = apply_state(j, s, result, &s->message);
                if (r == -ENOMEM)
                        return r;
                return cancel_step_ended(run, job, step, now, actions);
        }
        outcome = result->exit_signal == 0 && result->exit_code == 0 ? RUN_CONCLUSION_SUCCESS
                                                                     : RUN_CONCLUSION_FAILURE;

        r = apply_file_commands(j, s, result, &s->message);
        if (r >= 0)
                r = apply_state(j, s, result, &s->message);
        if (r == -EINVAL) {
                outcome = RUN_CONCLUSION_FAILURE;
                /* The error quotes the file's line, which may hold a secret. */
                r = mask_message(run, j, &s->message);
        }
        if (r < 0)
                return r;
        r = 0;
        if (!s->message && result->message)
                r = set_message(&s->message, "%s", result->message);
        else if (!s->message && result->exit_signal)
                r = set_message(&s->message, "killed by signal %d", result->exit_signal);
        else if (!s->message && result->exit_code != 0)
                r = set_message(&s->message, "Process completed with exit code %d.", result->exit_code);
        if (r < 0)
                return r;

        return run_step_finish(run, job, step, outcome, now, actions);
}

int run_step_finish(
        Run *run, size_t job, size_t step, RunConclusion outcome, RunTime now, RunActions *actions) {
        RunJob *j = &run->jobs[job];
        RunStep *s = &j->steps[step];

        s->timer = 0;
        step_conclude(s, outcome, now);
        job_note_step(j, s);
        j->phase = RUN_JOB_STEPPING;
        return changed(actions, job, step);
}

int run_step_failed(
        Run *run, size_t job, size_t step, const char *message, RunTime now, RunActions *actions) {
        RunStep *s = run_running_step(run, job, step);
        int r;

        if (!s)
                return -ESTALE;
        if (s->cancel_stage != RUN_CANCEL_NONE)
                return cancel_step_ended(run, job, step, now, actions);
        r = set_message(&s->message, "%s", message ?: "the step could not be started");
        if (r < 0)
                return r;
        return run_step_finish(run, job, step, RUN_CONCLUSION_FAILURE, now, actions);
}

int run_job_cleaned(Run *run, size_t job, RunTime now, RunActions *actions) {
        RunJob *j;
        RunConclusion outcome;

        if (job >= run->n_jobs)
                return -EINVAL;
        j = &run->jobs[job];
        if (j->phase != RUN_JOB_CLEANUP && j->phase != RUN_JOB_STEPPING)
                return -ESTALE;

        outcome = j->local_status == RUN_CONCLUSION_SUCCESS ? RUN_CONCLUSION_SUCCESS : j->local_status;
        return run_job_conclude(run, job, outcome, now, actions);
}

bool run_is_idle(const Run *run) {
        for (size_t i = 0; i < run->n_jobs; i++)
                if (IN_SET(run->jobs[i].phase, RUN_JOB_STEP, RUN_JOB_LOADING, RUN_JOB_CLEANUP))
                        return false;
        return true;
}

/* ---- shell command lines ---- */

int run_shell_argv(const char *shell, const char *script, char ***ret) {
        _cleanup_(strbuf_done) StrBuf word = {};
        char **argv = NULL;
        size_t n = 0, allocated = 0;
        bool have_word = false, placeholder = false;
        const char *p = shell;
        int r = 0;

        for (;; p++) {
                char c = *p;

                if (c == '\0' || c == ' ' || c == '\t') {
                        if (have_word) {
                                char *w = NULL;
                                if (strbuf_take(&word, &w, NULL) < 0 ||
                                        array_grow((void **) &argv, &allocated, n + 2, sizeof(char *)) < 0) {
                                        free(w);
                                        r = -ENOMEM;
                                        break;
                                }
                                argv[n++] = w;
                                argv[n] = NULL;
                                have_word = false;
                        }
                        if (c == '\0')
                                break;
                        continue;
                }
                have_word = true;
                if (c == '{' && strncmp(p, "{0}", 3) == 0) {
                        r = strbuf_puts(&word, script);
                        placeholder = true;
                        p += 2;
                } else if (c == '\'') {
                        const char *end = strchr(p + 1, '\'');
                        if (!end) {
                                r = -EINVAL;
                                break;
                        }
                        r = strbuf_put(&word, p + 1, (size_t) (end - p - 1));
                        p = end;
                } else if (c == '"') {
                        for (p++; *p && *p != '"'; p++) {
                                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                                        p++;
                                r = strbuf_put(&word, p, 1);
                                if (r < 0)
                                        break;
                        }
                        if (!*p) {
                                r = -EINVAL;
                                break;
                        }
                } else
                        r = strbuf_put(&word, p, 1);
                if (r < 0)
                        break;
        }

        if (r >= 0 && n == 0)
                r = -EINVAL;
        if (r >= 0 && !placeholder) {
                if (array_grow((void **) &argv, &allocated, n + 2, sizeof(char *)) < 0 ||
                        !(argv[n] = strdup(script)))
                        r = -ENOMEM;
                else
                        argv[++n] = NULL;
        }
        if (r < 0) {
                strv_free(argv);
                return r;
        }
        *ret = argv;
        return 0;
}

/* ---- JSON ---- */

int run_format_timestamp(uint64_t usec, char *buf, size_t size) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&t, &tm))
                return -EINVAL;
        if (snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                    (unsigned) (usec % USEC_PER_SEC / 1000)) >= (int) size)
                return -ENOBUFS;
        return 0;
}

/* Appends v to the array, which takes it over; v is freed if that fails. */
static int json_array_push(json_object *array, json_object *v) {
        if (json_object_array_add(array, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static json_object *json_timestamp(uint64_t usec) {
        char buf[64];

        if (usec == 0 || run_format_timestamp(usec, buf, sizeof(buf)) < 0)
                return NULL;
        return json_object_new_string(buf);
}

static json_object *json_string_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

static int json_add(json_object *o, const char *key, json_object *v, bool nullable) {
        if (!v && !nullable)
                return -ENOMEM;
        return json_object_object_add(o, key, v) < 0 ? -ENOMEM : 0;
}

static int json_add_outputs(json_object *o, const ExprValue *outputs);

static int json_add_masked_outputs(json_object *o, const Run *run, size_t job, const ExprValue *outputs) {
        _cleanup_(expr_value_unrefp) ExprValue *masked = NULL;
        int r;

        r = run_mask_strings(run, job, outputs, &masked);
        if (r < 0)
                return r;
        return json_add_outputs(o, masked);
}

static int json_add_outputs(json_object *o, const ExprValue *outputs) {
        json_object *out = json_object_new_object();
        int r;

        r = json_add(o, "outputs", out, false);
        if (r < 0)
                return r;
        for (size_t i = 0; outputs && i < outputs->object.n; i++) {
                const ExprPair *p = &outputs->object.pairs[i];
                r = json_add(out, p->key,
                        json_object_new_string_len(
                                p->value->string.s, (int) MIN(p->value->string.len, (size_t) INT_MAX)),
                        false);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int step_to_json(const Run *run, size_t job, const RunStep *s, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *annotations;
        int r;

        if (!o)
                return -ENOMEM;
        if ((r = json_add(o, "number", json_object_new_int((int) s->number), false)) < 0 ||
                (r = json_add(o, "id", json_object_new_string(s->def->id), false)) < 0 ||
                (r = json_add(o, "name", json_object_new_string(run_step_display_name(s)), false)) < 0 ||
                (r = json_add(o, "status", json_object_new_string(run_status_to_string(s->status)), false)) <
                        0 ||
                (r = json_add(o, "outcome", json_string_or_null(run_conclusion_to_string(s->outcome)),
                         true)) < 0 ||
                (r = json_add(o, "conclusion", json_string_or_null(run_conclusion_to_string(s->conclusion)),
                         true)) < 0 ||
                (r = json_add(o, "unit", json_string_or_null(s->unit), true)) < 0 ||
                (r = json_add(o, "exit_code", s->exit_code >= 0 ? json_object_new_int(s->exit_code) : NULL,
                         true)) < 0 ||
                (r = json_add(o, "exit_signal",
                         s->exit_signal > 0 ? json_object_new_int(s->exit_signal) : NULL, true)) < 0 ||
                (r = json_add(o, "started_at", json_timestamp(s->started_at), true)) < 0 ||
                (r = json_add(o, "completed_at", json_timestamp(s->completed_at), true)) < 0 ||
                (r = json_add(o, "message", json_string_or_null(s->message), true)) < 0 ||
                (r = json_add_masked_outputs(o, run, job, s->outputs)) < 0 ||
                (r = json_add(o, "annotations", annotations = json_object_new_array(), false)) < 0)
                return r;
        for (size_t i = 0; i < s->n_annotations; i++)
                if (json_object_array_add(annotations, annotation_to_json(&s->annotations[i])) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* "concurrency": the group and whether the run or job waits for it (null: no group) */
static int json_add_group(json_object *o, const RunGroup *g, bool completed) {
        _cleanup_(json_object_putp) json_object *c = NULL;
        int r;

        if (!g->name)
                return json_add(o, "concurrency", NULL, true);
        c = json_object_new_object();
        if (!c)
                return -ENOMEM;
        if ((r = json_add(c, "group", json_object_new_string(g->name), false)) < 0 ||
                (r = json_add(c, "cancel_in_progress", json_object_new_boolean(g->cancel_in_progress),
                         false)) < 0 ||
                (r = json_add(c, "pending",
                         json_object_new_boolean(!completed && g->state == RUN_GROUP_PENDING), false)) < 0)
                return r;
        return json_add(o, "concurrency", TAKE_PTR(c), false);
}

static int job_to_json(const Run *run, size_t job, json_object **ret) {
        const RunJob *j = &run->jobs[job];
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_free_ char *slice = NULL;
        json_object *steps;
        int r;

        if (!o)
                return -ENOMEM;
        r = run_job_slice_name(run, job, &slice);
        if (r < 0)
                return r;
        if ((r = json_add(o, "id", json_object_new_string(j->def->id), false)) < 0 ||
                (r = json_add(o, "number", json_object_new_int((int) j->number), false)) < 0 ||
                (r = json_add(o, "name", json_string_or_null(j->name ?: j->def->name.raw), true)) < 0 ||
                (r = json_add(o, "status", json_object_new_string(run_status_to_string(j->status)), false)) <
                        0 ||
                (r = json_add(o, "outcome", json_string_or_null(run_conclusion_to_string(j->outcome)),
                         true)) < 0 ||
                (r = json_add(o, "conclusion", json_string_or_null(run_conclusion_to_string(j->conclusion)),
                         true)) < 0 ||
                (r = json_add(o, "slice", json_object_new_string(slice), false)) < 0 ||
                (r = json_add(o, "started_at", json_timestamp(j->started_at), true)) < 0 ||
                (r = json_add(o, "completed_at", json_timestamp(j->completed_at), true)) < 0 ||
                (r = json_add(o, "message", json_string_or_null(j->message), true)) < 0 ||
                (r = json_add(o, "cancel_reason",
                         json_string_or_null(run_cancel_reason_to_string(j->cancel_reason)), true)) < 0 ||
                (r = json_add(o, "cancel_cause", json_string_or_null(j->cancel_cause), true)) < 0 ||
                (r = json_add_group(o, &j->group, j->status == RUN_STATUS_COMPLETED)) < 0 ||
                (r = json_add_outputs(o, j->outputs)) < 0)
                return r;

        steps = json_object_new_array();
        r = json_add(o, "steps", steps, false);
        if (r < 0)
                return r;
        for (size_t i = 0; i < j->n_steps; i++) {
                json_object *s;
                r = step_to_json(run, job, &j->steps[i], &s);
                if (r >= 0)
                        r = json_array_push(steps, s);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int run_to_json(const Run *run, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *jobs;
        int r;

        if (!o)
                return -ENOMEM;
        if ((r = json_add(o, "id", json_object_new_uint64(run->id), false)) < 0 ||
                (r = json_add(o, "source", json_object_new_string(run->source), false)) < 0 ||
                (r = json_add(o, "name", json_string_or_null(run->workflow->name), true)) < 0 ||
                (r = json_add(o, "status", json_object_new_string(run_status_to_string(run->status)),
                         false)) < 0 ||
                (r = json_add(o, "conclusion",
                         json_string_or_null(run_conclusion_to_string(run->conclusion)), true)) < 0 ||
                (r = json_add(o, "cancelled_by", json_string_or_null(run->cancelled_by), true)) < 0 ||
                (r = json_add(o, "cancel_reason",
                         json_string_or_null(run_cancel_reason_to_string(run->cancel_reason)), true)) < 0 ||
                (r = json_add(o, "cancel_cause", json_string_or_null(run->cancel_cause), true)) < 0 ||
                (r = json_add_group(o, &run->group, run->status == RUN_STATUS_COMPLETED)) < 0 ||
                (r = json_add(o, "created_at", json_timestamp(run->created_at), true)) < 0 ||
                (r = json_add(o, "started_at", json_timestamp(run->started_at), true)) < 0 ||
                (r = json_add(o, "completed_at", json_timestamp(run->completed_at), true)) < 0)
                return r;

        jobs = json_object_new_array();
        r = json_add(o, "jobs", jobs, false);
        if (r < 0)
                return r;
        for (size_t i = 0; i < run->n_jobs; i++) {
                json_object *j;
                r = job_to_json(run, i, &j);
                if (r >= 0)
                        r = json_array_push(jobs, j);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

static bool json_mark(json_object *o, const char *message, const char *conclusion, json_object *stamp) {
        json_object *status;

        if (!json_object_object_get_ex(o, "status", &status) ||
                streq(json_object_get_string(status), "completed"))
                return false;
        json_object_object_add(o, "status", json_object_new_string("completed"));
        json_object_object_add(o, "conclusion", json_object_new_string(conclusion));
        if (json_object_object_get_ex(o, "outcome", NULL))
                json_object_object_add(o, "outcome", json_object_new_string(conclusion));
        json_object_object_add(o, "completed_at", json_object_get(stamp));
        if (message)
                json_object_object_add(o, "message", json_object_new_string(message));
        return true;
}

int run_json_mark_interrupted(json_object *run, const char *message, uint64_t now) {
        _cleanup_(json_object_putp) json_object *stamp = json_timestamp(now);
        json_object *jobs, *steps;
        bool any = false;

        if (!json_object_object_get_ex(run, "jobs", &jobs) || !json_object_is_type(jobs, json_type_array))
                return -EINVAL;
        for (size_t i = 0; i < json_object_array_length(jobs); i++) {
                json_object *job = json_object_array_get_idx(jobs, i), *status;
                bool started = json_object_object_get_ex(job, "status", &status) &&
                        streq(json_object_get_string(status), "in_progress");

                if (json_object_object_get_ex(job, "steps", &steps) &&
                        json_object_is_type(steps, json_type_array))
                        for (size_t k = 0; k < json_object_array_length(steps); k++) {
                                json_object *step = json_object_array_get_idx(steps, k), *st;
                                bool running = json_object_object_get_ex(step, "status", &st) &&
                                        streq(json_object_get_string(st), "in_progress");
                                any |= json_mark(step, running ? message : NULL,
                                        running ? "cancelled" : "skipped", stamp);
                        }
                any |= json_mark(job, started ? message : NULL, "cancelled", stamp);
        }
        any |= json_mark(run, NULL, "cancelled", stamp);
        return any;
}

/* ---- secrets (README, "Secrets") ---- */

bool run_secret_name_valid(const char *name, size_t len) {
        /* GitHub's rule: letters, digits and _, not starting with a digit or GITHUB_. */
        if (len == 0 || (name[0] >= '0' && name[0] <= '9') ||
                (len >= 7 && strncasecmp(name, "GITHUB_", 7) == 0))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
                            (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
                        return false;
        return true;
}

int run_set_secrets(Run *run, char *const *secrets) {
        _cleanup_(expr_value_unrefp) ExprValue *o = expr_value_new_object();
        MaskList masks = {};
        size_t n = 0, size = 0;
        int r = 0;

        if (!o)
                return -ENOMEM;
        for (char *const *e = secrets; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                ExprValue *v;

                if (!eq || !run_secret_name_valid(*e, (size_t) (eq - *e))) {
                        r = -EINVAL;
                        break;
                }
                size += strlen(*e);
                if (++n > RUN_SECRETS_MAX || size > RUN_SECRETS_SIZE_MAX) {
                        r = -E2BIG;
                        break;
                }
                v = expr_value_new_stringz(eq + 1);
                /* Names ignore case, as every context's: the last one given wins. */
                r = v ? expr_object_set(o, *e, (size_t) (eq - *e), v) : -ENOMEM;
                expr_value_unref(v); /* o holds its own reference */
                if (r < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = mask_list_add_secret(&masks, eq + 1);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                mask_list_done(&masks);
                return r;
        }
        expr_value_unref(run->secrets);
        run->secrets = TAKE_PTR(o);
        mask_list_done(&run->masks);
        run->masks = masks;
        return 0;
}

int run_job_add_mask(Run *run, size_t job, const char *value, size_t len) {
        MaskList *l;
        size_t size = len;

        if (job >= run->n_jobs)
                return -EINVAL;
        l = &run->jobs[job].added_masks;
        for (size_t i = 0; i < l->n; i++) {
                if (l->lens[i] == len && memcmp(l->values[i], value, len) == 0)
                        return 0; /* known: nothing changes */
                size += l->lens[i];
        }
        if (l->n >= RUN_JOB_MASKS_MAX || size > RUN_JOB_MASKS_SIZE_MAX)
                return -E2BIG;
        return mask_list_add(l, value, len) < 0 ? -ENOMEM : 1;
}

int run_step_masks(const Run *run, size_t job, char **ret, size_t *ret_len) {
        MaskList all = {};
        int r = 0;

        for (size_t i = 0; r >= 0 && i < run->masks.n; i++)
                r = mask_list_add(&all, run->masks.values[i], run->masks.lens[i]);
        for (size_t i = 0; r >= 0 && job < run->n_jobs && i < run->jobs[job].added_masks.n; i++)
                r = mask_list_add(
                        &all, run->jobs[job].added_masks.values[i], run->jobs[job].added_masks.lens[i]);
        if (r >= 0)
                r = mask_list_serialize(&all, ret, ret_len);
        mask_list_done(&all);
        return r;
}

bool run_step_debug(const Run *run) {
        const ExprValue *v = run->secrets ? expr_object_getz(run->secrets, "ACTIONS_STEP_DEBUG") : NULL;

        return v && v->kind == EXPR_STRING && strcasecmp(v->string.s, "true") == 0;
}

static bool job_masks_match(const Run *run, size_t job, const char *s, size_t len) {
        return mask_list_matches(&run->masks, s, len) ||
                (job < run->n_jobs && mask_list_matches(&run->jobs[job].added_masks, s, len));
}

/* s masked with the run's secrets and what job added. */
static int job_mask_string(
        const Run *run, size_t job, const char *s, size_t len, char **ret, size_t *ret_len) {
        _cleanup_free_ char *m = NULL;
        int r;

        r = mask_string(&run->masks, s, len, &m, &len);
        if (r < 0 || job >= run->n_jobs) {
                *ret = TAKE_PTR(m);
                *ret_len = len;
                return r;
        }
        return mask_string(&run->jobs[job].added_masks, m, len, ret, ret_len);
}

int run_mask_strings(const Run *run, size_t job, const ExprValue *v, ExprValue **ret) {
        _cleanup_(expr_value_unrefp) ExprValue *o = NULL;
        bool any = false;

        if (!v || v->kind != EXPR_OBJECT) {
                *ret = v ? expr_value_ref((ExprValue *) v) : NULL;
                return 0;
        }
        /* A name can hold a secret too: "$TOKEN=1" >> $GITHUB_OUTPUT. */
        for (size_t i = 0; i < v->object.n && !any; i++) {
                const ExprPair *p = &v->object.pairs[i];
                any = (p->value->kind == EXPR_STRING &&
                              job_masks_match(run, job, p->value->string.s, p->value->string.len)) ||
                        job_masks_match(run, job, p->key, p->key_len);
        }
        if (!any) {
                *ret = expr_value_ref((ExprValue *) v);
                return 0;
        }
        o = expr_value_new_object();
        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < v->object.n; i++) {
                const ExprPair *p = &v->object.pairs[i];
                ExprValue *e = p->value;
                _cleanup_free_ char *m = NULL, *key = NULL;
                size_t len, key_len = p->key_len;
                int r;

                if (e->kind == EXPR_STRING && job_masks_match(run, job, e->string.s, e->string.len)) {
                        r = job_mask_string(run, job, e->string.s, e->string.len, &m, &len);
                        if (r < 0)
                                return r;
                        e = expr_value_new_string(m, len);
                } else
                        e = expr_value_ref(e);
                if (e && job_masks_match(run, job, p->key, p->key_len) &&
                        job_mask_string(run, job, p->key, p->key_len, &key, &key_len) < 0)
                        e = expr_value_unref(e);
                if (!e)
                        return -ENOMEM;
                r = expr_object_set(o, key ?: p->key, key_len, e);
                expr_value_unref(e); /* o holds its own reference */
                if (r < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}
