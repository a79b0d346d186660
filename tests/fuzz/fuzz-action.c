/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The action loader (action.yml) on arbitrary bytes: no crash, leak or hang; either a model that
 * holds what GitHub requires (a name; main for a JavaScript action, steps with a shell or what they
 * use for a composite one; a value for every composite output), or at least one error, each with a
 * position inside the text. */
#include <stddef.h>
#include <stdint.h>

#include "action.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool step_ok(const WorkflowStep *s) {
        if (!s->id || !s->condition.node || s->timeout_usec != 0)
                return false;
        switch (s->kind) {
        case WORKFLOW_STEP_RUN:
                return s->shell && s->run.raw;
        case WORKFLOW_STEP_CHECKOUT:
                return s->uses;
        case WORKFLOW_STEP_ACTION:
                /* a repository's action has owner, repository and ref; a local one only its path */
                return s->uses &&
                        (s->action.owner ? s->action.repo && s->action.ref
                                         : s->action.path && !s->action.ref);
        }
        return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Action *a = NULL;
        WorkflowErrors errors = {};
        int r;

        r = action_load((const char *) data, size, &a, &errors);
        if (r == -ENOMEM)
                goto finish;
        if (r < 0) {
                if (a || errors.n == 0 || errors.n > WORKFLOW_MAX_ERRORS + 1)
                        __builtin_trap();
                for (size_t i = 0; i < errors.n; i++)
                        /* YAML breaks lines at CR, LF, NEL, LS and PS, so bytes bound the line count */
                        if (errors.errors[i].pos.line < 1 || errors.errors[i].pos.line > size + 1 ||
                                errors.errors[i].pos.column < 1 || !errors.errors[i].message)
                                __builtin_trap();
                goto finish;
        }

        if (!a || errors.n != 0 || !a->name || a->n_inputs > ACTION_MAX_INPUTS ||
                a->n_outputs > ACTION_MAX_OUTPUTS)
                __builtin_trap();
        for (size_t i = 0; i < a->n_inputs; i++)
                if (!a->inputs[i].name)
                        __builtin_trap();
        for (size_t i = 0; i < a->n_outputs; i++)
                if (!a->outputs[i].name || (a->using == ACTION_USING_COMPOSITE) != !!a->outputs[i].value.raw)
                        __builtin_trap();
        if (a->using == ACTION_USING_COMPOSITE) {
                if (a->n_steps == 0 || a->n_steps > WORKFLOW_MAX_STEPS || a->main)
                        __builtin_trap();
                for (size_t i = 0; i < a->n_steps; i++)
                        if (!step_ok(&a->steps[i]) || a->steps[i].number != i + 1)
                                __builtin_trap();
        } else if (!a->main || a->n_steps != 0 || !a->pre_if.node || !a->post_if.node)
                __builtin_trap();

finish:
        action_free(a);
        workflow_errors_done(&errors);
        return 0;
}
