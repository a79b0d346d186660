/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The workflow loader on arbitrary bytes: no crash, leak or hang; either a model whose jobs all have
 * steps (a run: step with its script and shell, a uses: step with what it uses) and resolved needs, or
 * at least one error, each with a position inside the text. */
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "workflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Workflow *w = NULL;
        WorkflowErrors errors = {};
        int r;

        r = workflow_load((const char *) data, size, &w, &errors);
        if (r == -ENOMEM)
                goto finish;
        if (r < 0) {
                if (w || errors.n == 0 || errors.n > WORKFLOW_MAX_ERRORS + 1)
                        __builtin_trap();
                for (size_t i = 0; i < errors.n; i++)
                        /* YAML breaks lines at CR, LF, NEL, LS and PS, so bytes bound the line count */
                        if (errors.errors[i].pos.line < 1 || errors.errors[i].pos.line > size + 1 ||
                                errors.errors[i].pos.column < 1 || !errors.errors[i].message)
                                __builtin_trap();
                goto finish;
        }

        if (!w || errors.n != 0 || w->n_jobs == 0 || w->n_jobs > WORKFLOW_MAX_JOBS)
                __builtin_trap();
        for (size_t i = 0; i < w->n_jobs; i++) {
                const WorkflowJob *j = &w->jobs[i];

                if (j->n_steps == 0 || j->n_steps > WORKFLOW_MAX_STEPS || !j->condition.node)
                        __builtin_trap();
                for (size_t k = 0; k < j->n_needs; k++)
                        if (j->needs_index[k] >= w->n_jobs || j->needs_index[k] == i)
                                __builtin_trap();
                for (size_t k = 0; k < j->n_steps; k++) {
                        const WorkflowStep *st = &j->steps[k];

                        if (!st->id || !st->condition.node)
                                __builtin_trap();
                        /* a run: step has its script and shell, a uses: step what it uses */
                        if (st->kind == WORKFLOW_STEP_RUN ? !st->shell || !st->run.raw : !st->uses)
                                __builtin_trap();
                        /* a repository's action has owner, repository and ref; a local one its path */
                        if (st->kind == WORKFLOW_STEP_ACTION &&
                                (st->action.owner ? !st->action.repo || !st->action.ref
                                                  : !st->action.path || st->action.ref))
                                __builtin_trap();
                }
        }

finish:
        workflow_free(w);
        workflow_errors_done(&errors);
        return 0;
}
