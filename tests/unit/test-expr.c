/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The expression conformance table: every operator, every row of the coercion table, every
 * function, filters, limits and errors, plus `if:` conditions with the implicit success() and
 * ${{ }} templates.
 *
 * The values in the main table were checked against GitHub's reference implementation of the
 * expression language (the @actions/expressions package, version 0.3.61, given the same context
 * and the same status functions); they agree except where a comment says why. Error messages are
 * ours: the reference's differ in wording for a few, never in whether there is an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "expr.h"
#include "macro.h"
#include "test-util.h"

static const char context_json[] =
        "{\"github\": {\"ref\": \"refs/heads/main\", \"event_name\": \"push\", \"sha\": \"abc123\","
        "  \"event\": {\"commits\": [{\"message\": \"fix\", \"author\": {\"name\": \"A\"}},"
        "                           {\"message\": \"feat\", \"author\": {\"name\": \"B\"}}], \"number\": 5}},"
        " \"env\": {\"NAME\": \"World\", \"EMPTY\": \"\", \"NUM\": \"42\", \"Mixed\": \"x\"},"
        " \"steps\": {\"build\": {\"outputs\": {\"result\": \"ok\", \"json\": \"{\\\"a\\\":[1,2]}\"},"
        "                       \"outcome\": \"success\", \"conclusion\": \"success\"}},"
        " \"needs\": {\"a\": {\"result\": \"success\", \"outputs\": {\"x\": \"1\"}},"
        "           \"b\": {\"result\": \"failure\", \"outputs\": {}}},"
        " \"matrix\": {\"os\": [\"linux\", \"mac\"]},"
        " \"inputs\": {\"flag\": true, \"count\": 3, \"nothing\": null, \"list\": [1, \"2\", true, null]},"
        " \"vars\": {}}";

typedef struct Case {
        const char *expression;
        const char *expected; /* "= " and the value as compact JSON, or "! " and the error message */
} Case;

static const Case cases[] = {
        { "null", "= null" },
        { "true", "= true" },
        { "false", "= false" },
        { "TRUE", "! Unrecognized named-value: 'TRUE'" },
        { "1", "= 1" },
        { "-1", "= -1" },
        { "1.5", "= 1.5" },
        { "0x1F", "= 31" },
        { "0o17", "= 15" },
        { "0b101", "= 5" },
        { "1e3", "= 1000" },
        { "1.5e-3", "= 0.0015" },
        { ".5", "= 0.5" },
        { "0xFFFFFFFF", "= 4294967295" },
        { "'it''s'", "= \"it's\"" },
        { "''", "= \"\"" },
        { "'a\"b'", "= \"a\\\"b\"" },
        { "format('{0}', Infinity)", "= \"Infinity\"" },
        { "format('{0}', -Infinity)", "= \"-Infinity\"" },
        { "format('{0}', NaN)", "= \"NaN\"" },
        { "!true", "= false" },
        { "!!1", "= true" },
        { "!0", "= true" },
        { "!''", "= true" },
        { "!'a'", "= false" },
        { "!null", "= true" },
        { "!github", "= false" },
        { "!NaN", "= true" },
        { "1 == 1", "= true" },
        { "1 != 2", "= true" },
        { "1 < 2", "= true" },
        { "2 <= 2", "= true" },
        { "3 > 2", "= true" },
        { "3 >= 4", "= false" },
        { "true && false", "= false" },
        { "true && 'x'", "= \"x\"" },
        { "'' && 'x'", "= \"\"" },
        { "null && 1", "= null" },
        { "0 || 'b'", "= \"b\"" },
        { "'a' || 'b'", "= \"a\"" },
        { "false || 0", "= 0" },
        { "null || null", "= null" },
        { "1 && 2 && 3", "= 3" },
        { "1 && 0 && 3", "= 0" },
        { "true || false && false", "= true" },
        { "(true || false) && false", "= false" },
        { "!false && false", "= false" },
        { "1 < 2 == true", "= true" },
        { "2 > 1 > 0", "= true" },
        { "1 == 1 && 2 == 2", "= true" },
        { "!1 == 0", "= true" },
        { "1 == 1 == 1", "= true" },
        { "null == null", "= true" },
        { "null == 0", "= true" },
        { "null == false", "= true" },
        { "null == ''", "= true" },
        { "null == 'a'", "= false" },
        { "null == '0'", "= true" },
        { "null == true", "= false" },
        { "true == 1", "= true" },
        { "true == '1'", "= true" },
        { "false == ''", "= true" },
        { "false == '0'", "= true" },
        { "true == 'true'", "= false" },
        { "false == 0", "= true" },
        { "true == 2", "= false" },
        { "1 == '1'", "= true" },
        { "1 == '1.0'", "= true" },
        { "1 == ' 1 '", "= true" },
        { "0 == ''", "= true" },
        { "255 == '0xff'", "= true" },
        { "1 == 'a'", "= false" },
        { "'abc' == 'ABC'", "= true" },
        { "'abc' != 'abd'", "= true" },
        { "'ß' == 'SS'", "= false" }, /* GitHub's runner compares with simple case mapping; JavaScript's
                                         toUpperCase() makes ß SS */
        { "'é' == 'É'", "= true" },
        { "'Ω' == 'ω'", "= true" },
        { "'ı' == 'I'", "= false" },
        { "'straße' == 'STRASSE'", "= false" }, /* GitHub's runner compares with simple case mapping;
                                                   JavaScript's toUpperCase() makes ß SS */
        { "NaN == NaN", "= false" },
        { "NaN != NaN", "= true" },
        { "'a' == NaN", "= false" },
        { "github == github", "= true" },
        { "github.event == github.event", "= true" },
        { "fromJSON('{}') == fromJSON('{}')", "= false" },
        { "github == 1", "= false" },
        { "github == 'Object'", "= false" },
        { "github == null", "= false" },
        { "inputs.list == inputs.list", "= true" },
        { "'a' < 'b'", "= true" },
        { "'B' > 'a'", "= true" },
        { "'a' < 'B'", "= true" },
        { "'abc' < 'abcd'", "= true" },
        { "1 < '2'", "= true" },
        { "'10' > 9", "= true" },
        { "'10' > '9'", "= false" },
        { "null < 1", "= true" },
        { "true > false", "= true" },
        { "false < true", "= true" },
        { "true > 0", "= true" },
        { "'a' < 1", "= false" },
        { "'a' > 1", "= false" },
        { "NaN < 1", "= false" },
        { "NaN >= NaN", "= false" },
        { "null >= 0", "= true" },
        { "null <= 0", "= true" },
        { "github > 1", "= false" },
        { "github >= github", "= true" },
        { "1 >= '1'", "= true" },
        { "2 <= '1'", "= false" },
        { "github.ref", "= \"refs/heads/main\"" },
        { "GITHUB.REF", "= \"refs/heads/main\"" },
        { "github['ref']", "= \"refs/heads/main\"" },
        { "github['REF']", "= \"refs/heads/main\"" },
        { "github.missing", "= null" },
        { "github.missing.deeper", "= null" },
        { "github.event.commits[0].message", "= \"fix\"" },
        { "github.event.commits[1].author.name", "= \"B\"" },
        { "github.event.commits[2]", "= null" },
        { "github.event.commits['1'].message", "= \"feat\"" },
        { "github.event.commits[1.9].message", "= \"feat\"" },
        { "github.event.commits[-1]", "= null" },
        { "github.event.commits[true].message", "= \"feat\"" },
        { "github.event.commits[null].message", "= \"fix\"" },
        { "github.event.commits['a']", "= null" },
        { "github.event['commits'][0]['author']['name']", "= \"A\"" },
        { "env.NAME", "= \"World\"" },
        { "env.name", "= \"World\"" },
        { "env.mixed", "= \"x\"" },
        { "steps.build.outputs.result", "= \"ok\"" },
        { "needs.a.outputs.x", "= \"1\"" },
        { "github.ref[0]", "= null" },
        { "inputs.count.x", "= null" },
        { "vars.anything", "= null" },
        { "secrets", "= null" }, /* an absent context is null */
        { "runner", "= null" },  /* an absent context is null */
        { "github.event.number", "= 5" },
        { "github.event.number == '5'", "= true" },
        { "inputs.list[3]", "= null" },
        { "inputs.list[1] == 2", "= true" },
        { "(github).ref", "= \"refs/heads/main\"" },
        { "format('x').length", "= null" },
        { "'abc'.length", "! Unexpected symbol: '.length'" },
        { "github.*",
                "= [\"refs/heads/main\",\"push\",\"abc123\",{\"commits\":[{\"message\":\"fix\",\"author\":{\"name\":\"A\"}},{\"message\":\"feat\",\"author\":{\"name\":\"B\"}}],\"number\":5}]" },
        { "github.event.commits.*.message", "= [\"fix\",\"feat\"]" },
        { "github.event.commits.*.author.name", "= [\"A\",\"B\"]" },
        { "github.event.commits.*.missing", "= []" },
        { "join(github.event.commits.*.message, ', ')", "= \"fix, feat\"" },
        { "contains(github.event.commits.*.message, 'FEAT')", "= true" },
        { "github.event.commits[*].message", "= [\"fix\",\"feat\"]" },
        { "needs.*.result", "= [\"success\",\"failure\"]" },
        { "contains(needs.*.result, 'failure')", "= true" },
        { "github.*.nothing", "= []" },
        { "inputs.count.*", "= []" },
        { "github.event.commits.*[0]", "= []" },
        { "matrix.*[1]", "= [\"mac\"]" },
        { "matrix.*.*", "= [\"linux\",\"mac\"]" },
        { "toJSON(github.event.commits.*.author)",
                "= \"[\\n  {\\n    \\\"name\\\": \\\"A\\\"\\n  },\\n  {\\n    \\\"name\\\": \\\"B\\\"\\n  }\\n]\"" },
        { "github.event.commits.*.message == github.event.commits.*.message", "= false" },
        { "contains('Hello World', 'world')", "= true" },
        { "contains('abc', 'd')", "= false" },
        { "contains('abc', '')", "= true" },
        { "contains(123, 2)", "= true" },
        { "contains(true, 'ru')", "= true" },
        { "contains(null, '')", "= true" },
        { "contains('null', null)", "= true" },
        { "contains(fromJSON('[1,2,3]'), 2)", "= true" },
        { "contains(fromJSON('[1,2,3]'), '2')", "= true" },
        { "contains(fromJSON('[\"A\"]'), 'a')", "= true" },
        { "contains(fromJSON('[]'), 1)", "= false" },
        { "contains(github, 'ref')", "= false" },
        { "contains('abc', github)", "= false" },
        { "contains(fromJSON('[[1]]'), fromJSON('[1]'))", "= false" },
        { "contains(inputs.list, null)", "= true" },
        { "contains(inputs.list, true)", "= true" },
        { "startsWith('Hello', 'he')", "= true" },
        { "startsWith('Hello', 'lo')", "= false" },
        { "endsWith('Hello', 'LO')", "= true" },
        { "endsWith('Hello', '')", "= true" },
        { "startsWith('', '')", "= true" },
        { "startsWith('a', 'ab')", "= false" },
        { "startsWith(123, 1)", "= true" },
        { "endsWith(1.5, '.5')", "= true" },
        { "startsWith(github, '')", "= false" },
        { "startsWith('x', github)", "= false" },
        { "startsWith(true, 'T')", "= true" },
        { "endsWith(null, '')", "= true" },
        { "startsWith('Éa', 'é')", "= true" },
        { "format('{0}', 'a')", "= \"a\"" },
        { "format('{0}{1}', 1, 2)", "= \"12\"" },
        { "format('{{0}}', 1)", "= \"{0}\"" },
        { "format('{{{0}}}', 1)", "= \"{1}\"" },
        { "format('}}')", "= \"}\"" },
        { "format('{0} {0}', 'x')", "= \"x x\"" },
        { "format('{1}{0}', 'a', 'b')", "= \"ba\"" },
        { "format('{0}', null)", "= \"\"" },
        { "format('{0}', true)", "= \"true\"" },
        { "format('{0}', github)", "= \"Object\"" },
        { "format('{0}', inputs.list)", "= \"Array\"" },
        { "format('{0}', 1.0)", "= \"1\"" },
        { "format('{0}', 100000000000000000000)", "= \"100000000000000000000\"" },
        { "format('{0}', 1e21)", "= \"1e+21\"" },
        { "format('{0}', 0.1)", "= \"0.1\"" },
        { "format('{0}', 3.14159265358979323)", "= \"3.141592653589793\"" },
        { "format('{0}', 0.333333333333333333)", "= \"0.333333333333333\"" },
        { "format('{0}', -0.5)", "= \"-0.5\"" },
        { "format('{0}', 1e-16)", "= \"0\"" },
        { "format('{0}', 123456789.123456789)", "= \"123456789.12345679\"" },
        { "format('{0}', 0.0000152587890625)", "= \"0.000015258789063\"" },
        { "format('{0}', -0.0000152587890625)", "= \"-0.000015258789063\"" },
        { "format('{0}', 1e-7)", "= \"1e-7\"" },
        { "format('{0}', 0.1234567890123456789)", "= \"0.123456789012346\"" },
        { "format('{0}', 9007199254740993)", "= \"9007199254740992\"" },
        { "format('{0}', 0.000001)", "= \"0.000001\"" },
        { "format('{0}')",
                "! The following format string references more arguments than were supplied: {0}" },
        { "format('{')", "! The following format string is invalid: {" },
        { "format('}')", "! The following format string is invalid: }" },
        { "format('{a}', 1)", "! The following format string is invalid: {a}" },
        { "format('{0', 1)", "! The following format string is invalid: {0" },
        { "format('{0:x}', 1)", "= \"1\"" },
        { "format('a{0}b{1}c', 'X', 'Y')", "= \"aXbYc\"" },
        { "format('{0}{2}', 1, 2)",
                "! The following format string references more arguments than were supplied: {0}{2}" },
        { "format(1)", "= \"1\"" },
        { "join(fromJSON('[\"a\",\"b\"]'))", "= \"a,b\"" },
        { "join(fromJSON('[\"a\",\"b\"]'), '-')", "= \"a-b\"" },
        { "join('abc')", "= \"abc\"" },
        { "join(1)", "= \"1\"" },
        { "join(github)", "= \"\"" },
        { "join(fromJSON('[]'))", "= \"\"" },
        { "join(inputs.list, '|')", "= \"1|2|true|\"" },
        { "join(fromJSON('[1,2]'), github)", "= \"1,2\"" },
        { "join(fromJSON('[1,2]'), null)", "= \"12\"" },
        { "toJSON('a')", "= \"\\\"a\\\"\"" },
        { "toJSON(1)", "= \"1\"" },
        { "toJSON(null)", "= \"null\"" },
        { "toJSON(true)", "= \"true\"" },
        { "toJSON(fromJSON('[]'))", "= \"[]\"" },
        { "toJSON(fromJSON('{}'))", "= \"{}\"" },
        { "toJSON(fromJSON('[1,[2]]'))", "= \"[\\n  1,\\n  [\\n    2\\n  ]\\n]\"" },
        { "toJSON(fromJSON('{\"a\":{\"b\":null}}'))",
                "= \"{\\n  \\\"a\\\": {\\n    \\\"b\\\": null\\n  }\\n}\"" },
        { "toJSON(fromJSON('\"a\\nb\\\"\\\\\"'))", "= \"\\\"a\\\\nb\\\\\\\"\\\\\\\\\\\"\"" },
        { "toJSON(0.1)", "= \"0.1\"" },
        { "toJSON(1e21)", "= \"1e+21\"" },
        { "toJSON(fromJSON('\"\\u0001\\u001f\\u007f\"'))", "= \"\\\"\\\\u0001\\\\u001f\\\"\"" },
        { "toJSON(github.event.commits[0])",
                "= \"{\\n  \\\"message\\\": \\\"fix\\\",\\n  \\\"author\\\": {\\n    \\\"name\\\": \\\"A\\\"\\n  }\\n}\"" },
        { "fromJSON('1')", "= 1" },
        { "fromJSON('\"x\"')", "= \"x\"" },
        { "fromJSON('null')", "= null" },
        { "fromJSON('true')", "= true" },
        { "fromJSON('[1,\"a\"]')", "= [1,\"a\"]" },
        { "fromJSON('{\"A\":1}').a", "= 1" },
        { "fromJSON(' 2 ')", "= 2" },
        { "fromJSON('')", "! Error parsing fromJson: empty input at offset 0" },
        { "fromJSON('{')", "! Error parsing fromJson: unexpected end of data at offset 1" },
        { "fromJSON('[1,]')", "! Error parsing fromJson: unexpected character at offset 3" },
        { "fromJSON('1 2')", "! Error parsing fromJson: unexpected character at offset 2" },
        { "fromJSON(steps.build.outputs.json).a[1]", "= 2" },
        { "fromJSON('1e2')", "= 100" },
        { "fromJSON('{\"a\":1,\"a\":2}').a", "= 2" },
        { "fromJSON('{\"a\":1,\"A\":2}').a", "= 1" },
        { "hashFiles('**/*.c')", "= \"hash:**/*.c\"" },
        { "hashFiles('a', 'b')", "= \"hash:a,b\"" },
        { "hashFiles(1)", "= \"hash:1\"" },
        { "success()", "= true" },
        { "always()", "= true" },
        { "cancelled()", "= false" },
        { "failure()", "= false" },
        { "FORMAT('{0}', 1)", "= \"1\"" },
        { "toJson(1)", "= \"1\"" },
        { "FromJSON('1')", "= 1" },
        { "STARTSWITH('ab', 'A')", "= true" },
        { "1 +", "! Unexpected symbol: '+'" },
        { "github.", "! Unexpected end of expression: '.'" },
        { "(1", "! Unexpected end of expression: '1'" },
        { "1)", "! Unexpected symbol: ')'" },
        { "foo", "! Unrecognized named-value: 'foo'" },
        { "foo()", "! Unrecognized function: 'foo'" },
        { "contains('a')", "! Too few parameters supplied: 'contains'" },
        { "contains(1,2,3)", "! Too many parameters supplied: 'contains'" },
        { "success(1)", "! Too many parameters supplied: 'success'" },
        { "format()", "! Too few parameters supplied: 'format'" },
        { "github github", "! Unexpected symbol: 'github'" },
        { "==", "! Unexpected symbol: '=='" },
        { "1 = 1", "! Unexpected symbol: '='" },
        { "'abc", "! Unexpected symbol: ''abc'" },
        { "github[0", "! Unexpected end of expression: '0'" },
        { "github[]", "! Unexpected symbol: ']'" },
        { "!", "! Unexpected end of expression: '!'" },
        { "a && ", "! Unrecognized named-value: 'a'" },
        { "|| 1", "! Unexpected symbol: '||'" },
        { "github.event.commits[0].", "! Unexpected end of expression: '.'" },
        { "github..ref", "! Unexpected symbol: '.ref'" },
        { "1 2", "! Unexpected symbol: '2'" },
        { "format('{0}', 'a',)", "= \"a\"" },
        { "(((((((((((((((((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))))))))))))))))))",
                "= 1" },
        { "((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))",
                "! Exceeded max expression depth 50" },
        { "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!true", "= false" },
        { "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!true", "! Exceeded max expression depth 50" },
        { "github.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a",
                "= null" },
        { "github.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a",
                "= null" },
        { "github.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a",
                "! Exceeded max expression depth 50" },
};

typedef struct Env {
        ExprValue *contexts;
        const char *status; /* job.status for the status functions */
        bool hash_fails;
        unsigned hash_calls;
} Env;

static int status_cb(ExprStatus which, void *userdata) {
        Env *env = userdata;

        switch (which) {
        case EXPR_STATUS_SUCCESS:
                return streq(env->status, "success");
        case EXPR_STATUS_FAILURE:
                return streq(env->status, "failure");
        case EXPR_STATUS_CANCELLED:
                return streq(env->status, "cancelled");
        default:
                return 1;
        }
}

static int hash_cb(
        const char *const *patterns, size_t n, char **ret, char *error, size_t error_size, void *userdata) {
        Env *env = userdata;
        char buf[512] = "hash:";

        env->hash_calls++;
        if (env->hash_fails) {
                snprintf(error, error_size, "no workspace");
                return -ENOENT;
        }
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strcat(buf, ",");
                strncat(buf, patterns[i], sizeof(buf) - strlen(buf) - 2);
        }
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

static ExprEvalContext eval_context(Env *env) {
        return (ExprEvalContext){
                .contexts = env->contexts,
                .status = status_cb,
                .hash_files = hash_cb,
                .userdata = env,
        };
}

static int setup(void **state) {
        Env *env = calloc(1, sizeof(Env));
        char message[256];

        assert_non_null(env);
        assert_int_equal(expr_value_from_json(context_json, strlen(context_json), &env->contexts, message,
                                 sizeof(message)),
                0);
        env->status = "success";
        *state = env;
        return 0;
}

static int teardown(void **state) {
        Env *env = *state;

        expr_value_unref(env->contexts);
        free(env);
        return 0;
}

static const ExprParseOptions all = { .allow = EXPR_ALLOW_STATUS | EXPR_ALLOW_HASH_FILES };

/* Evaluates text and renders the outcome as the table does. */
static char *run(Env *env, const char *text, const ExprParseOptions *options) {
        _cleanup_(expr_node_freep) ExprNode *node = NULL;
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        _cleanup_free_ char *json = NULL;
        ExprEvalContext ctx = eval_context(env);
        ExprError error = {};
        char *out;
        int r;

        r = expr_parse(text, strlen(text), options, &node, &error);
        if (r >= 0)
                r = expr_evaluate(node, &ctx, &v, &error);
        if (r < 0) {
                assert_true(error.offset <= strlen(text));
                assert_int_not_equal(error.message[0], '\0');
                assert_int_equal(asprintf(&out, "! %s", error.message) < 0, 0);
                return out;
        }
        assert_int_equal(expr_value_to_json(v, false, &json, NULL), 0);
        assert_int_equal(asprintf(&out, "= %s", json) < 0, 0);
        return out;
}

static void test_conformance_table(void **state) {
        Env *env = *state;
        unsigned failed = 0;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *got = run(env, cases[i].expression, &all);

                if (!streq(got, cases[i].expected)) {
                        print_error("case %zu: %s\n  expected %s\n  got      %s\n", i, cases[i].expression,
                                cases[i].expected, got);
                        failed++;
                }
        }
        assert_int_equal(failed, 0);
        assert_true(ELEMENTSOF(cases) >= 200);
}

static void expect(Env *env, const char *text, const char *expected) {
        _cleanup_free_ char *got = run(env, text, &all);

        if (!streq(got, expected))
                fail_msg("%.60s…: expected %s, got %s", text, expected, got);
}

/* The depth limit counts as GitHub counts: the outer expression, every parenthesis, every !, every
 * property access and every && / || chain. */
static void test_limits(void **state) {
        Env *env = *state;
        _cleanup_free_ char *p49 = NULL, *p49c = NULL, *p50 = NULL, *p50c = NULL, *n49 = NULL, *n50 = NULL;
        _cleanup_free_ char *a48 = NULL, *a49 = NULL, *s20998 = NULL, *s20999 = NULL;
        char *p;

        p49 = repeat_text("", "(", 49, "1");
        p49c = repeat_text(p49, ")", 49, "");
        expect(env, p49c, "= 1");
        p50 = repeat_text("", "(", 50, "1");
        p50c = repeat_text(p50, ")", 50, "");
        expect(env, p50c, "! Exceeded max expression depth 50");

        n49 = repeat_text("", "!", 49, "true");
        expect(env, n49, "= false");
        n50 = repeat_text("", "!", 50, "true");
        expect(env, n50, "! Exceeded max expression depth 50");

        a48 = repeat_text("github", ".a", 49, "");
        expect(env, a48, "= null");
        a49 = repeat_text("github", ".a", 50, "");
        expect(env, a49, "! Exceeded max expression depth 50");

        /* 21000 characters is the longest expression */
        s20998 = repeat_text("'", "a", 20998, "'");
        assert_int_equal(strlen(s20998), 21000);
        _cleanup_free_ char *got = run(env, s20998, &all);
        assert_true(strneq(got, "= \"aaaa", 7));
        s20999 = repeat_text("'", "a", 20999, "'");
        expect(env, s20999, "! Exceeded max expression length 21000");

        /* results stop at 1 MiB: format() doubling its input 11 times from 1000 characters */
        _cleanup_free_ char *big = repeat_text("format('{0}{0}', ", "format('{0}{0}', ", 10, "");
        p = repeat_text(big, "", 0, "'");
        free(big);
        big = repeat_text(p, "x", 1000, "'");
        free(p);
        p = repeat_text(big, ")", 11, "");
        expect(env, p, "! Exceeded max result size of 1048576 bytes");
        free(p);
}

typedef struct ConditionCase {
        const char *condition;
        const char *status;
        const char *expected; /* "true", "false" or "! message" */
} ConditionCase;

static const ConditionCase conditions[] = {
        { "", "success", "true" },
        { "", "failure", "false" },
        { "", "cancelled", "false" },
        { "   ", "success", "true" },
        { "true", "success", "true" },
        { "true", "failure", "false" },
        { "true", "cancelled", "false" },
        { "always()", "success", "true" },
        { "always()", "failure", "true" },
        { "always()", "cancelled", "true" },
        { "success()", "success", "true" },
        { "success()", "failure", "false" },
        { "success()", "cancelled", "false" },
        { "failure()", "failure", "true" },
        { "failure()", "success", "false" },
        { "failure()", "cancelled", "false" },
        { "cancelled()", "cancelled", "true" },
        { "cancelled()", "success", "false" },
        { "cancelled()", "failure", "false" },
        /* a status function anywhere turns the implicit success() off */
        { "!cancelled()", "success", "true" },
        { "!cancelled()", "failure", "true" },
        { "!cancelled()", "cancelled", "false" },
        { "!failure()", "failure", "false" },
        { "success() || failure()", "failure", "true" },
        { "cancelled() || failure()", "success", "false" },
        { "always() && false", "success", "false" },
        { "failure() || always()", "failure", "true" },
        { "github.event_name == 'push' && success()", "success", "true" },
        { "format('{0}', failure())", "failure", "true" },
        { "format('{0}', failure())", "success", "true" }, /* "false" is a non-empty string */
        /* without one, success() && (condition) */
        { "github.ref == 'refs/heads/main'", "success", "true" },
        { "github.ref == 'refs/heads/main'", "failure", "false" },
        { "github.ref == 'refs/heads/main'", "cancelled", "false" },
        { "github.ref == 'refs/heads/dev'", "success", "false" },
        { "contains(github.ref, 'MAIN')", "success", "true" },
        { "0", "success", "false" },
        { "''", "success", "false" },
        { "'false'", "success", "true" },
        { "null", "success", "false" },
        { "env.EMPTY", "success", "false" },
        { "env.NAME", "success", "true" },
        { "github", "success", "true" },
        /* ${{ }} is optional around the whole condition */
        { "${{ github.ref == 'refs/heads/main' }}", "success", "true" },
        { "${{ github.ref == 'refs/heads/main' }}", "failure", "false" },
        { "  ${{ false }}  ", "success", "false" },
        { "${{ always() }}", "failure", "true" },
        /* mixed with other text it is a string template, and a non-empty string is true */
        { "${{ false }} && false", "success", "true" },
        { "${{ false }} && false", "failure", "false" },
        { "x${{ '' }}", "success", "true" },
        { "${{ '' }}${{ '' }}", "success", "false" },
        /* errors carry the column */
        { "github.ref ==", "success", "! Unexpected end of expression: '=='" },
        { "${{ }}", "success", "! An expression was expected" },
        { "${{ github.ref", "success",
                "! The expression is not closed. An unescaped ${{ sequence was found, but the closing }} "
                "sequence was not found." },
        { "foo == 1", "success", "! Unrecognized named-value: 'foo'" },
        { "success(1)", "success", "! Too many parameters supplied: 'success'" },
};

static void test_conditions(void **state) {
        Env *env = *state;

        for (size_t i = 0; i < ELEMENTSOF(conditions); i++) {
                const ConditionCase *c = &conditions[i];
                _cleanup_(expr_node_freep) ExprNode *node = NULL;
                ExprEvalContext ctx;
                ExprError error = {};
                bool result = false;
                int r;

                env->status = c->status;
                ctx = eval_context(env);
                r = expr_parse_condition(c->condition, strlen(c->condition), &all, &node, &error);
                if (r >= 0)
                        r = expr_evaluate_condition(node, &ctx, &result, &error);
                if (c->expected[0] == '!') {
                        if (r >= 0)
                                fail_msg("condition %zu '%s': expected error %s, got %s", i, c->condition,
                                        c->expected, result ? "true" : "false");
                        if (!streq(error.message, c->expected + 2))
                                fail_msg("condition %zu '%s': expected %s, got error %s", i, c->condition,
                                        c->expected, error.message);
                        continue;
                }
                if (r < 0)
                        fail_msg("condition %zu '%s': unexpected error %s", i, c->condition, error.message);
                if (result != streq(c->expected, "true"))
                        fail_msg("condition %zu '%s' with job status %s: expected %s", i, c->condition,
                                c->status, c->expected);
        }
        env->status = "success";
}

static void test_condition_columns(void **state) {
        _cleanup_(expr_node_freep) ExprNode *node = NULL;
        ExprError error = {};

        /* offsets are into the text as written, ${{ and blanks included */
        assert_int_equal(
                expr_parse_condition("  ${{ github.ref == foo }}", 26, &all, &node, &error), -EINVAL);
        assert_int_equal(error.offset, 20);
        assert_string_equal(error.message, "Unrecognized named-value: 'foo'");
        assert_int_equal(expr_parse_condition("github.ref = 'x'", 16, &all, &node, &error), -EINVAL);
        assert_int_equal(error.offset, 11);
        assert_int_equal(expr_parse_condition("a ${{ 1 }} ${{ 'x' == }}", 24, &all, &node, &error), -EINVAL);
        assert_int_equal(error.offset, 19);
        assert_string_equal(error.message, "Unexpected end of expression: '=='");
}

typedef struct TemplateCase {
        const char *text;
        const char *expected; /* "= " compact JSON of the value, or "! " error */
} TemplateCase;

static const TemplateCase templates[] = {
        { "no expressions here", "= \"no expressions here\"" },
        { "", "= \"\"" },
        { "Hello ${{ env.NAME }}!", "= \"Hello World!\"" },
        { "${{ 1 }}", "= 1" },
        { "${{ github.event.number }}", "= 5" },
        { "${{ inputs.flag }}", "= true" },
        { "${{ github.event.commits[0].author }}", "= {\"name\":\"A\"}" },
        { "x ${{ github }}", "= \"x Object\"" },
        { "a${{ 1 }}b${{ 'x' }}c", "= \"a1bxc\"" },
        { "{literal} ${{ 1 }} {{x}}", "= \"{literal} 1 {{x}}\"" },
        { "${{ '}}' }}", "= \"}}\"" },
        { "${{ 'it''s }}' }}", "= \"it's }}\"" },
        { "${{ 1 }}${{ 2 }}", "= \"12\"" },
        { "$${{ 1 }}", "= \"$1\"" },
        { "${{ null }} and ${{ true }}", "= \" and true\"" },
        { "${{ 0.1 }}|${{ 1e21 }}", "= \"0.1|1e+21\"" },
        { "echo ${{ steps.build.outputs.result }} > out", "= \"echo ok > out\"" },
        { "${{ format('{0}', 'a') }}", "= \"a\"" },
        { "${{ hashFiles('**/go.sum') }}", "= \"hash:**/go.sum\"" },
        { "${{ unclosed",
                "! The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence "
                "was not found." },
        { "${{}}", "! An expression was expected" },
        { "a ${{   }} b", "! An expression was expected" },
        { "${{ 'x }}",
                "! The expression is not closed. An unescaped ${{ sequence was found, but the closing }} "
                "sequence was not found." },
        { "${{ nope }}", "! Unrecognized named-value: 'nope'" },
        { "${{ format('{0}') }}",
                "! The following format string references more arguments than were supplied: {0}" },
};

static void test_templates(void **state) {
        Env *env = *state;

        for (size_t i = 0; i < ELEMENTSOF(templates); i++) {
                const TemplateCase *c = &templates[i];
                _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
                _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
                _cleanup_free_ char *json = NULL, *got = NULL;
                ExprEvalContext ctx = eval_context(env);
                ExprError error = {};
                int r;

                r = expr_template_parse(c->text, strlen(c->text), &all, &t, &error);
                if (r >= 0)
                        r = expr_template_evaluate(t, &ctx, &v, &error);
                if (r >= 0) {
                        assert_int_equal(expr_value_to_json(v, false, &json, NULL), 0);
                        assert_int_equal(asprintf(&got, "= %s", json) < 0, 0);
                } else
                        assert_int_equal(asprintf(&got, "! %s", error.message) < 0, 0);
                if (!streq(got, c->expected))
                        fail_msg("template %zu '%s': expected %s, got %s", i, c->text, c->expected, got);
        }

        /* the string form coerces whatever a single ${{ }} gives */
        _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
        _cleanup_free_ char *s = NULL;
        ExprEvalContext ctx = eval_context(env);
        size_t len;

        assert_int_equal(expr_template_parse("${{ 1.50 }}", 11, &all, &t, NULL), 0);
        assert_true(t->single);
        assert_int_equal(expr_template_evaluate_string(t, &ctx, &s, &len, NULL), 0);
        assert_string_equal(s, "1.5");
        assert_int_equal(len, 3);

        ExprError error = {};
        t = expr_template_free(t);
        assert_int_equal(expr_template_parse("abc ${{ github.ref == }}", 24, &all, &t, &error), -EINVAL);
        assert_int_equal(error.offset, 19);
}

/* Where a function or context is not available, it is unknown, as GitHub reports it. */
static void test_availability(void **state) {
        Env *env = *state;
        static const char *const only_github[] = { "github", NULL };
        const ExprParseOptions job_level = { .contexts = only_github, .allow = EXPR_ALLOW_STATUS };
        const ExprParseOptions plain = { .contexts = only_github };
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        a = run(env, "hashFiles('x')", &job_level);
        assert_string_equal(a, "! Unrecognized function: 'hashFiles'");
        b = run(env, "success()", &plain);
        assert_string_equal(b, "! Unrecognized function: 'success'");
        c = run(env, "steps.build", &job_level);
        assert_string_equal(c, "! Unrecognized named-value: 'steps'");
        d = run(env, "GitHub.ref", &plain);
        assert_string_equal(d, "= \"refs/heads/main\"");
}

static void test_callbacks(void **state) {
        Env *env = *state;
        _cleanup_(expr_node_freep) ExprNode *node = NULL;
        _cleanup_(expr_value_unrefp) ExprValue *v = NULL;
        ExprEvalContext none = { .contexts = env->contexts };
        ExprError error = {};
        _cleanup_free_ char *a = NULL, *b = NULL;

        /* hashFiles() is only called when evaluated, with every argument as a string */
        env->hash_calls = 0;
        a = run(env, "false && hashFiles('a')", &all);
        assert_string_equal(a, "= false");
        assert_int_equal(env->hash_calls, 0);
        b = run(env, "hashFiles('a', 1, true)", &all);
        assert_string_equal(b, "= \"hash:a,1,true\"");
        assert_int_equal(env->hash_calls, 1);

        env->hash_fails = true;
        free(b);
        b = run(env, "hashFiles('a')", &all);
        assert_string_equal(b, "! hashFiles() failed: no workspace");
        env->hash_fails = false;

        /* no provider: a clear error instead of a guess */
        assert_int_equal(expr_parse("success() && hashFiles('x')", 27, &all, &node, &error), 0);
        assert_int_equal(expr_evaluate(node, &none, &v, &error), -EOPNOTSUPP);
        assert_string_equal(error.message, "success() is not available here");
        node = expr_node_free(node);
        assert_int_equal(expr_parse("hashFiles('x')", 14, &all, &node, &error), 0);
        assert_int_equal(expr_evaluate(node, &none, &v, &error), -EOPNOTSUPP);
        assert_string_equal(error.message, "hashFiles() is not available here");
        assert_int_equal(error.offset, 0);
}

static void test_number_format(void **state) {
        static const struct {
                double d;
                const char *js, *github;
        } table[] = {
                { 0, "0", "0" },
                { -0.0, "0", "0" },
                { 1, "1", "1" },
                { -1.5, "-1.5", "-1.5" },
                { 0.1, "0.1", "0.1" },
                { 0.1 + 0.2, "0.30000000000000004", "0.3" },
                { 1e21, "1e+21", "1e+21" },
                { 1e20, "100000000000000000000", "100000000000000000000" },
                { 123e-20, "1.23e-18", "0" },
                { 1e-7, "1e-7", "1e-7" },
                { 1.5e-6, "0.0000015", "0.0000015" },
                { 5e-324, "5e-324", "0" },
                { 1.7976931348623157e308, "1.7976931348623157e+308", "1.7976931348623157e+308" },
                { 9007199254740993.0, "9007199254740992", "9007199254740992" },
                { 2.0 / 3.0, "0.6666666666666666", "0.666666666666667" },
                { 0.0000152587890625, "0.0000152587890625", "0.000015258789063" },
                { 0.9999999999999999, "0.9999999999999999", "1" },
                { 1.0 / 0.0, "Infinity", "Infinity" },
                { -1.0 / 0.0, "-Infinity", "-Infinity" },
        };
        char buf[32];

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                expr_number_format_js(table[i].d, buf);
                assert_string_equal(buf, table[i].js);
                expr_number_format(table[i].d, buf);
                assert_string_equal(buf, table[i].github);
        }
        expr_number_format(NAN, buf);
        assert_string_equal(buf, "NaN");
}

static void test_values(void **state) {
        _cleanup_(expr_value_unrefp) ExprValue *o = expr_value_new_object(), *one = expr_value_new_number(1),
                                               *two = expr_value_new_number(2), *v = NULL;
        _cleanup_free_ char *json = NULL;
        char message[256];

        assert_non_null(o);
        assert_int_equal(expr_object_add(o, "Key", 3, one), 0);
        assert_int_equal(expr_object_add(o, "KEY", 3, two), -EEXIST);
        assert_ptr_equal(expr_object_getz(o, "key"), one);
        assert_int_equal(expr_object_set(o, "kEy", 3, two), 0);
        assert_ptr_equal(expr_object_getz(o, "KEY"), two);
        assert_int_equal(o->object.n, 1);
        assert_string_equal(o->object.pairs[0].key, "Key"); /* the first spelling stays */
        assert_null(expr_object_getz(o, "other"));

        /* strings keep embedded NULs from JSON, and toJSON escapes them */
        assert_int_equal(expr_value_from_json("\"a\\u0000b\"", 10, &v, message, sizeof(message)), 0);
        assert_int_equal(v->string.len, 3);
        assert_int_equal(expr_value_to_json(v, false, &json, NULL), 0);
        assert_string_equal(json, "\"a\\u0000b\"");
        v = expr_value_unref(v);

        assert_int_equal(expr_value_from_json("[1, 2", 5, &v, message, sizeof(message)), -EINVAL);
        assert_non_null(strstr(message, "offset"));
        assert_int_equal(expr_value_from_json("", 0, &v, message, sizeof(message)), -EINVAL);
        assert_int_equal(expr_value_from_json("1\0", 2, &v, message, sizeof(message)), -EINVAL);
        assert_string_equal(message, "unexpected NUL byte at offset 1");

        /* 64-bit integers beyond int64 keep their magnitude */
        assert_int_equal(expr_value_from_json("12345678901234567890", 20, &v, message, sizeof(message)), 0);
        assert_true(v->number == 12345678901234567890.0);
        v = expr_value_unref(v);

        /* nesting is bounded */
        char deep[200];
        memset(deep, '[', 100);
        memset(deep + 100, ']', 100);
        assert_int_equal(expr_value_from_json(deep, 200, &v, message, sizeof(message)), -EINVAL);

        assert_int_equal(expr_string_compare_ci("straße", strlen("straße"), "STRASSE", 7) == 0, false);
        assert_int_equal(expr_string_compare_ci("ÀÉÎõü", strlen("ÀÉÎõü"), "àéîÕÜ", strlen("àéîÕÜ")), 0);
        assert_int_equal(expr_string_compare_ci("Привет", strlen("Привет"), "ПРИВЕТ", strlen("ПРИВЕТ")), 0);
        assert_true(expr_string_compare_ci("a", 1, "B", 1) < 0);
        /* invalid UTF-8 compares bytewise, apart from every character */
        assert_true(expr_string_compare_ci("\xff", 1, "\xfe", 1) > 0);
        assert_true(expr_string_compare_ci("\xc3", 1, "\xc3\xa0", 2) != 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_conformance_table, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_conditions, setup, teardown),
                cmocka_unit_test(test_condition_columns),
                cmocka_unit_test_setup_teardown(test_templates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_availability, setup, teardown),
                cmocka_unit_test_setup_teardown(test_callbacks, setup, teardown),
                cmocka_unit_test(test_number_format),
                cmocka_unit_test(test_values),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
