/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The action loader (action.yml): the model of a JavaScript and of a composite action, and every
 * problem reported at its line and column with its exact message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "action.h"
#include "alloc-util.h"
#include "macro.h"
#include "test-util.h"

static Action *load_ok(const char *text) {
        WorkflowErrors errors = {};
        Action *a = NULL;
        int r = action_load(text, strlen(text), &a, &errors);

        for (size_t i = 0; i < errors.n; i++)
                print_error("%u:%u: %s\n", errors.errors[i].pos.line, errors.errors[i].pos.column,
                        errors.errors[i].message);
        workflow_errors_done(&errors);
        assert_int_equal(r, 0);
        assert_non_null(a);
        return a;
}

/* The errors as LINE:COLUMN: MESSAGE lines, in order. */
static void check_errors_len(const char *text, size_t len, const char *expected) {
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        _cleanup_(action_freep) Action *a = NULL;
        _cleanup_free_ char *got = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        r = action_load(text, len, &a, &errors);
        assert_int_equal(r, -EINVAL);
        assert_null(a);
        f = open_memstream(&got, &size);
        assert_non_null(f);
        for (size_t i = 0; i < errors.n; i++)
                fprintf(f, "%u:%u: %s\n", errors.errors[i].pos.line, errors.errors[i].pos.column,
                        errors.errors[i].message);
        assert_int_equal(fclose(f), 0);
        if (!streq(got, expected))
                print_error("got:\n%s", got);
        assert_string_equal(got, expected);
}

static void check_errors(const char *text, const char *expected) {
        check_errors_len(text, strlen(text), expected);
}

static void test_javascript(void **state) {
        _cleanup_(action_freep) Action *a = load_ok("name: Hello\n"
                                                    "description: Says hello\n"
                                                    "author: octo\n"
                                                    "branding: { icon: box, color: blue }\n"
                                                    "inputs:\n"
                                                    "  who-to-greet:\n"
                                                    "    description: Who\n"
                                                    "    required: true\n"
                                                    "    default: ${{ github.actor }}\n"
                                                    "  old:\n"
                                                    "    deprecationMessage: use who-to-greet\n"
                                                    "  plain:\n"
                                                    "outputs:\n"
                                                    "  time:\n"
                                                    "    description: When\n"
                                                    "runs:\n"
                                                    "  using: Node20\n"
                                                    "  main: dist/index.js\n"
                                                    "  pre: setup.js\n"
                                                    "  pre-if: runner.os == 'Linux'\n"
                                                    "  post: ./cleanup.js\n");

        assert_string_equal(a->name, "Hello");
        assert_string_equal(a->description, "Says hello");
        assert_int_equal(a->using, ACTION_USING_NODE20);
        assert_string_equal(action_using_to_string(a->using), "node20");

        assert_int_equal(a->n_inputs, 3);
        assert_string_equal(a->inputs[0].name, "who-to-greet");
        assert_true(a->inputs[0].required);
        assert_string_equal(a->inputs[0].default_value.raw, "${{ github.actor }}");
        assert_non_null(a->inputs[0].default_value.template->node);
        assert_null(a->inputs[0].deprecation_message);
        assert_int_equal(a->inputs[0].pos.line, 6);
        assert_int_equal(a->inputs[0].pos.column, 3);
        assert_string_equal(a->inputs[1].name, "old");
        assert_false(a->inputs[1].required);
        assert_null(a->inputs[1].default_value.raw);
        assert_string_equal(a->inputs[1].deprecation_message, "use who-to-greet");
        assert_string_equal(a->inputs[2].name, "plain");

        assert_int_equal(a->n_outputs, 1);
        assert_string_equal(a->outputs[0].name, "time");
        assert_null(a->outputs[0].value.raw);

        assert_string_equal(a->main, "dist/index.js");
        assert_string_equal(a->pre, "setup.js");
        assert_string_equal(a->post, "./cleanup.js");
        /* pre-if as written, with the implicit success(); post-if absent: always() */
        assert_string_equal(a->pre_if.raw, "runner.os == 'Linux'");
        assert_non_null(a->pre_if.node);
        assert_true(expr_node_uses_status(a->pre_if.node));
        assert_null(a->post_if.raw);
        assert_non_null(a->post_if.node);
        assert_int_equal(a->post_if.node->type, EXPR_NODE_CALL);
        assert_int_equal(a->post_if.node->function, EXPR_FUNCTION_ALWAYS);
        assert_int_equal(a->n_steps, 0);
        a = action_free(a);

        /* the minimal one; node16 and node24 too */
        a = load_ok("name: m\nruns: { using: node16, main: i.js }\n");
        assert_int_equal(a->using, ACTION_USING_NODE16);
        assert_null(a->description);
        assert_null(a->pre);
        assert_null(a->post);
        assert_int_equal(a->pre_if.node->function, EXPR_FUNCTION_ALWAYS);
        a = action_free(a);
        a = load_ok("name: m\nruns: { using: node24, main: i.js, post-if: failure(), post: p.js }\n");
        assert_int_equal(a->using, ACTION_USING_NODE24);
        assert_string_equal(a->post_if.raw, "failure()");
}

static void test_composite(void **state) {
        _cleanup_(action_freep) Action *a = load_ok("name: Build\n"
                                                    "inputs:\n"
                                                    "  target: { default: all }\n"
                                                    "outputs:\n"
                                                    "  artifact:\n"
                                                    "    description: The file\n"
                                                    "    value: ${{ steps.pack.outputs.file }}\n"
                                                    "runs:\n"
                                                    "  using: composite\n"
                                                    "  steps:\n"
                                                    "    - run: make ${{ inputs.target }}\n"
                                                    "      shell: bash\n"
                                                    "      working-directory: src\n"
                                                    "    - id: pack\n"
                                                    "      if: ${{ inputs.target != 'none' }}\n"
                                                    "      run: ./pack\n"
                                                    "      shell: sh\n"
                                                    "      env: { LEVEL: '${{ env.LEVEL }}' }\n"
                                                    "      continue-on-error: true\n"
                                                    "    - uses: actions/upload-artifact@v4\n"
                                                    "      with: { path: out }\n"
                                                    "    - uses: ./nested\n"
                                                    "    - uses: actions/checkout@v4\n"
                                                    "    - run: echo done\n"
                                                    "      shell: python\n");
        const WorkflowStep *s;

        assert_int_equal(a->using, ACTION_USING_COMPOSITE);
        assert_null(a->main);
        assert_int_equal(a->n_inputs, 1);
        assert_string_equal(a->inputs[0].default_value.raw, "all");
        assert_int_equal(a->n_outputs, 1);
        assert_string_equal(a->outputs[0].value.raw, "${{ steps.pack.outputs.file }}");
        assert_non_null(a->outputs[0].value.template->node);
        assert_int_equal(a->n_steps, 6);

        s = &a->steps[0];
        assert_int_equal(s->number, 1);
        assert_int_equal(s->kind, WORKFLOW_STEP_RUN);
        assert_string_equal(s->shell, "bash --noprofile --norc -eo pipefail {0}");
        assert_string_equal(s->shell_name, "bash");
        assert_string_equal(s->working_directory.raw, "src");
        assert_string_equal(s->id, "__run");
        assert_string_equal(s->display_name, "Run make ${{ inputs.target }}");

        s = &a->steps[1];
        assert_int_equal(s->number, 2);
        assert_string_equal(s->id, "pack");
        assert_string_equal(s->condition.raw, "${{ inputs.target != 'none' }}");
        assert_string_equal(s->shell, "sh -e {0}");
        assert_string_equal(s->env.items[0].name, "LEVEL");
        assert_true(s->continue_on_error);
        assert_int_equal(s->timeout_usec, 0);

        s = &a->steps[2];
        assert_int_equal(s->kind, WORKFLOW_STEP_ACTION);
        assert_string_equal(s->action.repo, "upload-artifact");
        assert_string_equal(s->with.items[0].name, "path");
        assert_string_equal(s->id, "__actions_upload-artifact");
        assert_string_equal(s->display_name, "Run actions/upload-artifact@v4");

        s = &a->steps[3];
        assert_string_equal(s->action.path, "./nested");
        assert_string_equal(s->id, "__self");

        assert_int_equal(a->steps[4].kind, WORKFLOW_STEP_CHECKOUT);
        assert_string_equal(a->steps[4].id, "__run_2");
        assert_string_equal(a->steps[5].id, "__run_3");
        assert_int_equal(a->steps[5].number, 6);
}

static void test_runs_errors(void **state) {
        check_errors("name: c\nruns:\n  using: docker\n  image: Dockerfile\n",
                "3:10: runs.using: docker: container actions are not supported yet\n");
        check_errors("name: c\nruns: { using: node12, main: a.js }\n",
                "2:16: runs.using: node12 is no longer run (GitHub retired it): use node20 or node24\n");
        check_errors("name: c\nruns: { using: python, main: a.js }\n",
                "2:16: unknown runs.using 'python': node16, node20, node24 or composite\n");
        check_errors("name: c\nruns: { main: a.js }\n",
                "2:7: runs needs 'using': node16, node20, node24 or composite\n");
        check_errors("name: c\nruns: node20\n", "2:7: runs must be a mapping, not a scalar\n");
        check_errors("name: c\nruns: { using: [node20] }\n",
                "2:16: runs.using must be a string, not a sequence\n");
        check_errors("name: c\nruns:\n  using: node20\n", "3:3: a JavaScript action needs runs.main\n");
        check_errors("name: c\n"
                     "runs:\n"
                     "  using: node20\n"
                     "  main: /abs.js\n"
                     "  pre: ../up.js\n"
                     "  post: a/../../b.js\n"
                     "  pre-if: ${{ secrets.X }}\n"
                     "  post-if: ${{ bad(\n"
                     "  steps: []\n",
                "4:9: runs.main must be a file relative to the action's directory, without '..' components, control characters or expressions\n"
                "5:8: runs.pre must be a file relative to the action's directory, without '..' components, control characters or expressions\n"
                "6:9: runs.post must be a file relative to the action's directory, without '..' components, control characters or expressions\n"
                "7:15: invalid expression in if: Unrecognized named-value: 'secrets'\n"
                "8:12: invalid expression in if: The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence was not found.\n"
                "9:3: unknown key 'steps' in runs of a JavaScript action (expected one of: using, main, pre, post, pre-if, post-if)\n");
        check_errors("name: c\nruns: { using: node20, main: '', pre-if: always(), post-if: always() }\n",
                "2:30: runs.main must be a file relative to the action's directory, without '..' components, control characters or expressions\n"
                "2:34: runs.pre-if goes with runs.pre\n"
                "2:52: runs.post-if goes with runs.post\n");
        /* pre-if runs before any step: no steps context */
        check_errors("name: c\nruns: { using: node20, main: a.js, pre: p.js, pre-if: steps.a.outcome }\n",
                "2:55: invalid expression in if: Unrecognized named-value: 'steps'\n");
        check_errors("name: c\nruns: { using: composite }\n", "2:7: a composite action needs runs.steps\n");
        check_errors("name: c\nruns: { using: composite, steps: [] }\n",
                "2:34: a composite action needs at least one step\n");
        check_errors("name: c\nruns: { using: composite, steps: {} }\n",
                "2:34: runs.steps must be a sequence, not a mapping\n");
        check_errors("name: c\nruns: { using: composite, main: a.js, steps: [ { run: a, shell: sh } ] }\n",
                "2:27: unknown key 'main' in runs of a composite action (expected one of: using, steps)\n");
}

static void test_composite_errors(void **state) {
        check_errors("name: c\n"
                     "runs:\n"
                     "  using: composite\n"
                     "  steps:\n"
                     "    - run: make\n"
                     "    - run: make\n"
                     "      shell: bash\n"
                     "      timeout-minutes: 5\n"
                     "    - run: echo ${{ secrets.TOKEN }}\n"
                     "      shell: bash\n"
                     "    - uses: actions/setup-node@v4\n"
                     "      with: { token: '${{ secrets.TOKEN }}' }\n"
                     "      if: secrets.X\n"
                     "    - uses: docker://alpine\n"
                     "    - uses: owner/repo\n"
                     "    - id: x\n"
                     "      uses: ./a\n"
                     "    - id: X\n"
                     "      uses: ./b\n"
                     "      working-directory: d\n"
                     "    - uses: ./c\n"
                     "      continue-on-error: maybe\n"
                     "    - run: ''\n"
                     "      shell: bash\n"
                     "    - shell: bash\n"
                     "    - run: a\n"
                     "      shell: cmd\n"
                     "    - uses: actions/checkout@v4\n"
                     "      with: { path: '${{ secrets.P }}' }\n",
                "5:7: a run step of a composite action needs 'shell': there is no default shell there\n"
                "8:7: 'timeout-minutes' is not supported in the steps of a composite action\n"
                "9:21: invalid expression in run: Unrecognized named-value: 'secrets'\n"
                "12:27: invalid expression in with: Unrecognized named-value: 'secrets'\n"
                "13:11: invalid expression in if: Unrecognized named-value: 'secrets'\n"
                "14:13: uses: docker://alpine: container actions are not supported yet\n"
                "15:13: uses: owner/repo: expected ./PATH (an action in the run's source), OWNER/REPO@REF or OWNER/REPO/PATH@REF\n"
                "18:11: duplicate step id 'X' in the action (first at line 16)\n"
                "20:7: 'working-directory' applies to run steps, not to uses\n"
                "22:26: continue-on-error must be true or false\n"
                "23:12: 'run' must not be empty\n"
                "25:7: a step needs 'run'\n"
                "27:14: shell 'cmd' exists only on Windows runners\n"
                "29:26: invalid expression in path: Unrecognized named-value: 'secrets'\n");

        /* the step limit, as a job's */
        {
                _cleanup_free_ char *text = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&text, &size);

                assert_non_null(f);
                fputs("name: c\nruns:\n  using: composite\n  steps:\n", f);
                for (unsigned i = 0; i <= WORKFLOW_MAX_STEPS; i++)
                        fputs("    - { run: a, shell: sh }\n", f);
                assert_int_equal(fclose(f), 0);
                check_errors(text, "1005:7: the action has 1001 steps, more than the limit of 1000\n");
        }
}

static void test_metadata_errors(void **state) {
        check_errors("", "1:1: the action file is empty\n");
        check_errors("- a\n", "1:1: an action must be a mapping, not a sequence\n");
        check_errors("runs: { using: node20, main: a.js }\n", "1:1: the action has no name\n");
        check_errors("name: ''\nruns: { using: node20, main: a.js }\n",
                "1:7: the action's name must not be empty\n");
        check_errors("name: a\n", "1:1: the action has no runs\n");
        check_errors("name: a\nname: b\nicon: x\ndescription: [x]\nruns: { using: node20, main: a.js }\n",
                "2:1: duplicate key 'name' in the action (first at line 1)\n"
                "3:1: unknown key 'icon' in the action (expected one of: name, author, description, inputs, outputs, runs, branding)\n"
                "4:14: description must be a string, not a sequence\n");
        check_errors("name: a\n"
                     "inputs:\n"
                     "  1st: {}\n"
                     "  Token: {}\n"
                     "  token: {}\n"
                     "  x: [a]\n"
                     "  y: { required: yes, default: [a], deprecationMessage: {}, type: string }\n"
                     "  z: { default: '${{ secrets.A }}' }\n"
                     "runs: { using: node20, main: a.js }\n",
                "3:3: invalid input id '1st': ids start with a letter or '_', contain only letters, digits, '-' and '_', and are shorter than 100 characters\n"
                "5:3: duplicate input 'token': names compare ignoring case (first at line 4)\n"
                "6:6: an input must be a mapping, not a sequence\n"
                "7:18: required must be true or false\n"
                "7:32: default must be a string, not a sequence\n"
                "7:57: deprecationMessage must be a string, not a mapping\n"
                "7:61: unknown key 'type' in an input (expected one of: description, required, default, deprecationMessage)\n"
                "8:22: invalid expression in default: Unrecognized named-value: 'secrets'\n");
        check_errors("name: a\n"
                     "outputs:\n"
                     "  o: { value: x }\n"
                     "  p: { desc: x }\n"
                     "runs: { using: node20, main: a.js }\n",
                "3:8: 'value' of an output is for composite actions; a JavaScript action sets its outputs as it runs\n"
                "4:8: unknown key 'desc' in an output (expected one of: description)\n");
        check_errors("name: a\n"
                     "outputs:\n"
                     "  o: { description: x }\n"
                     "  p: { value: '${{ secrets.X }}' }\n"
                     "  q:\n"
                     "runs: { using: composite, steps: [ { run: a, shell: sh } ] }\n",
                "3:3: output 'o' of a composite action needs 'value'\n"
                "4:20: invalid expression in value: Unrecognized named-value: 'secrets'\n"
                "5:5: an output must be a mapping, not a scalar\n");
        /* YAML's problems, as the workflow loader reports them */
        check_errors(
                "name: a\n---\nname: b\n", "2:1: an action file holds one YAML document, found a second\n");
        check_errors("name: [a\n",
                "2:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence\n");
        check_errors_len("name: a\0", 8, "1:8: the file contains a NUL byte\n");
}

static void test_limits(void **state) {
        _cleanup_free_ char *text = NULL, *big = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(f);
        fputs("name: c\ninputs:\n", f);
        for (unsigned i = 0; i <= ACTION_MAX_INPUTS; i++)
                fprintf(f, "  i%u: {}\n", i);
        fputs("runs: { using: node20, main: a.js }\n", f);
        assert_int_equal(fclose(f), 0);
        check_errors(text, "2:1: the action has 1001 inputs, more than the limit of 1000\n");

        big = malloc(WORKFLOW_MAX_SIZE + 2);
        assert_non_null(big);
        memset(big, '#', WORKFLOW_MAX_SIZE + 1);
        big[WORKFLOW_MAX_SIZE + 1] = '\0';
        check_errors(big, "1:1: the file has 1048577 bytes, more than the limit of 1048576\n");

        /* nesting, as deep as the workflow loader allows */
        free(text);
        text = NULL;
        f = open_memstream(&text, &size);
        assert_non_null(f);
        fputs("name: ", f);
        for (unsigned i = 0; i < WORKFLOW_MAX_DEPTH + 1; i++)
                fputc('[', f);
        for (unsigned i = 0; i < WORKFLOW_MAX_DEPTH + 1; i++)
                fputc(']', f);
        fputc('\n', f);
        assert_int_equal(fclose(f), 0);
        check_errors(text, "1:38: nesting deeper than the limit of 32 levels\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_javascript),
                cmocka_unit_test(test_composite),
                cmocka_unit_test(test_runs_errors),
                cmocka_unit_test(test_composite_errors),
                cmocka_unit_test(test_metadata_errors),
                cmocka_unit_test(test_limits),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
