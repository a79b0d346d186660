/* SPDX-License-Identifier: GPL-2.0-or-later */
/* run_state_from_json() on arbitrary bytes read as JSON, for a fixed small workflow: no crash, leak or
 * hang; a state it accepts serializes, reads back and serializes again to the same text (the round trip is
 * a fixed point), shows as status JSON, and the state machine can go on from it (advance, cancel, a timer).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "run-state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The workflows of the corpus' states (tests/unit/test-run-state.c, scenario_cancel and
 * scenario_actions): each input is tried with both. */
static const char yaml_cancel[] =
        "jobs:\n"
        "  main:\n"
        "    steps:\n"
        "      - run: \"sleep 100\\nsetenv A=1\\naddpath /opt/a\"\n"
        "      - run: \"trap INT\\ntrap TERM\"\n"
        "      - run: sleep 10\n"
        "      - if: always()\n"
        "        run: sleep 30\n"
        "  always:\n"
        "    needs: main\n"
        "    if: always()\n"
        "    steps: [ { run: sleep 20 } ]\n"
        "  plain:\n"
        "    needs: main\n"
        "    steps: [ { run: sleep 20 } ]\n"
        "  side:\n"
        "    if: always()\n"
        "    steps: [ { run: \"trap INT\\nlinger 300\" }, { if: cancelled(), run: sleep 5 } ]\n";

static const char yaml_actions[] = "jobs:\n"
                                   "  a:\n"
                                   "    steps:\n"
                                   "      - { id: js, uses: someone/js@v1, with: { who: x } }\n"
                                   "      - { id: comp, uses: ./comp, with: { word: w } }\n"
                                   "      - run: \"sleep 10\\noutput z=${{ steps.comp.outputs.o }}\"\n"
                                   "  b:\n"
                                   "    steps:\n"
                                   "      - { uses: ./comp, with: { word: hang } }\n"
                                   "      - { if: always(), uses: someone/js@v1 }\n";

static Workflow *load(const char *yaml) {
        Workflow *w = NULL;
        WorkflowErrors errors = {};

        if (workflow_load(yaml, strlen(yaml), &w, &errors) < 0)
                __builtin_trap();
        return w;
}

static void tokener_freep(json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

/* The state machine goes on from the restored run as the agent would drive it. */
static void go_on(Run *run) {
        RunTime now = { .realtime = run->created_at + 1, .monotonic = UINT64_C(1) << 40 };
        RunActions actions = {};
        json_object *o = NULL;

        (void) run_advance(run, now, NULL, &actions);
        for (size_t i = 0; i < run->n_jobs; i++)
                for (size_t k = 0; k < run->jobs[i].n_steps; k++)
                        (void) run_timer_fired(run, i, k, now, &actions);
        (void) run_cancel(run, "fuzz", false, now, &actions);
        (void) run_advance(run, now, NULL, &actions);
        (void) run_cancel(run, "fuzz", true, now, &actions);
        (void) run_advance(run, now, NULL, &actions);
        run_actions_done(&actions);
        if (run_to_json(run, &o) >= 0)
                json_object_put(o);
}

static int try_state(json_object *o, const char *yaml) {
        _cleanup_(json_object_putp) json_object *saved = NULL, *saved2 = NULL, *again = NULL, *status = NULL;
        _cleanup_(run_freep) Run *run = NULL, *run2 = NULL;
        _cleanup_free_ char *error = NULL, *text = NULL;
        int r;

        r = run_state_from_json(o, load(yaml), &run, &error);
        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                if (r != -EBADMSG || !error || strchr(error, '\n') || run)
                        __builtin_trap();
                return 0;
        }

        if (run_state_to_json(run, &saved) < 0 || run_to_json(run, &status) < 0)
                __builtin_trap();
        text = strdup(json_object_to_json_string_ext(saved, JSON_C_TO_STRING_PLAIN));
        if (!text)
                return 0;
        again = json_tokener_parse(text);
        if (!again)
                __builtin_trap();
        free(error);
        error = NULL;
        if (run_state_from_json(again, load(yaml), &run2, &error) < 0)
                __builtin_trap();
        if (run_state_to_json(run2, &saved2) < 0 ||
                strcmp(text, json_object_to_json_string_ext(saved2, JSON_C_TO_STRING_PLAIN)) != 0)
                __builtin_trap();

        go_on(run2);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(tokener_freep) json_tokener *tok = json_tokener_new();
        _cleanup_(json_object_putp) json_object *o = NULL;

        if (!tok || size > 1024 * 1024)
                return 0;
        o = json_tokener_parse_ex(tok, (const char *) data, (int) size);
        if (!o || json_tokener_get_error(tok) != json_tokener_success)
                return 0;
        (void) try_state(o, yaml_cancel);
        (void) try_state(o, yaml_actions);
        return 0;
}
