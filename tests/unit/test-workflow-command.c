/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Workflow commands: GitHub's syntax and escaping, line by line, and the scanner that finds the lines
 * in a stream whatever its chunks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "workflow-command.h"

typedef struct Case {
        const char *line;
        int expect; /* 1: a command, 0: output */
        const char *name, *data;
        const char *props[6]; /* key, value pairs */
} Case;

static const Case cases[] = {
        { "::add-mask::s3cret", 1, "add-mask", "s3cret", {} },
        { "  \t::add-mask::lead", 1, "add-mask", "lead", {} }, /* leading whitespace */
        { "::add-mask::crlf\r", 1, "add-mask", "crlf", {} },   /* a trailing CR */
        { "::error file=a.c,line=3::boom", 1, "error", "boom", { "file", "a.c", "line", "3" } },
        { "::warning title=a%3Ab%2Cc,col=1::x%25y%0Az%0Dw", 1, "warning", "x%y\nz\rw",
                { "title", "a:b,c", "col", "1" } },
        { "::notice  file=f , line=2 ::n", 1, "notice", "n", { "file", "f ", " line", "2" } },
        { "::error k=,=v,novalue,k2=a=b::d", 1, "error", "d", { "k2", "a=b" } },
        { "::error file=a,file=b::d", 1, "error", "d", { "file", "b" } },  /* the last wins */
        { "::debug::%3A stays", 1, "debug", "%3A stays", {} },             /* %3A only in properties */
        { "::debug::%0a%0d%2c lower", 1, "debug", "%0a%0d%2c lower", {} }, /* upper case only */
        { "::error FILE=x,Line=2::d", 1, "error", "d", { "file", "x", "line", "2" } }, /* keys ignore case */
        { "::error file=a,FILE=b::d", 1, "error", "d", { "file", "b" } },
        { "::group::My group", 1, "group", "My group", {} },
        { "::endgroup::", 1, "endgroup", "", {} },
        { "::set-output name=x::v", 1, "set-output", "v", { "name", "x" } },
        { "::stop-commands::tok", 1, "stop-commands", "tok", {} },
        { "::set-env name=A::1", 1, "set-env", "1", { "name", "A" } },
        { "::add-path::/x", 1, "add-path", "/x", {} },
        /* Output, not commands. */
        { "::unknown::x", 0 },
        { "::Error::x", 0 }, /* names are case-sensitive */
        { "::error", 0 },
        { "::error:x", 0 },
        { "x ::error::y", 0 },
        { ":error::y", 0 },
        { "", 0 },
        { "::::", 0 },
};

static void test_parse(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                WorkflowCommand cmd = {};
                int r = workflow_command_parse(c->line, strlen(c->line), &cmd);

                if (r != c->expect)
                        fail_msg("'%s': %d, expected %d", c->line, r, c->expect);
                if (r == 0)
                        continue;
                assert_string_equal(workflow_command_to_string(cmd.type), c->name);
                assert_string_equal(cmd.data, c->data);
                for (size_t k = 0; k < ELEMENTSOF(c->props) && c->props[k]; k += 2) {
                        const char *v = workflow_command_property(&cmd, c->props[k]);
                        if (!v || strcmp(v, c->props[k + 1]) != 0)
                                fail_msg("'%s': property '%s' is '%s', expected '%s'", c->line, c->props[k],
                                        v ?: "(none)", c->props[k + 1]);
                }
                workflow_command_done(&cmd);
        }
}

static void test_resume(void **state) {
        assert_true(workflow_command_is_resume("::tok::\n", 8, "tok", 3));
        assert_true(workflow_command_is_resume("  ::tok::\r", 10, "tok", 3));
        assert_false(workflow_command_is_resume("::tok:: x", 9, "tok", 3));
        assert_false(workflow_command_is_resume("::to::", 6, "tok", 3));
        assert_false(workflow_command_is_resume("::::", 4, "", 0));
}

typedef struct Collected {
        char out[4096];
        size_t n;
} Collected;

static void collect_output(void *userdata, const char *data, size_t len) {
        Collected *c = userdata;
        memcpy(c->out + c->n, data, len);
        c->n += len;
}

static void collect_line(void *userdata, const char *data, size_t len) {
        Collected *c = userdata;
        c->out[c->n++] = '[';
        memcpy(c->out + c->n, data, len);
        c->n += len;
        c->out[c->n++] = ']';
}

static const CommandScannerOps collect_ops = { .output = collect_output, .line = collect_line };

static void test_scanner(void **state) {
        static const struct {
                const char *in, *out;
        } scans[] = {
                { "plain\n::error::x\nmore\n", "plain\n[::error::x\n]more\n" },
                { "a::b\n  ::c::d\n", "a::b\n[  ::c::d\n]" },
                { "::x::y", "[::x::y]" }, /* at the end, without a newline */
                { "no newline ::x::y\n", "no newline ::x::y\n" },
                { "  \n: :\n::", "  \n: :\n[::]" },
                { "", "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(scans); i++)
                for (size_t chunk = 1; chunk <= strlen(scans[i].in) + 1; chunk++) {
                        CommandScanner s;
                        Collected c = {};
                        size_t len = strlen(scans[i].in);

                        command_scanner_init(&s);
                        for (size_t p = 0;; p += chunk) {
                                size_t n = p >= len ? 0 : MIN(chunk, len - p);
                                assert_int_equal(command_scanner_feed(&s, scans[i].in + p, n, p + n >= len,
                                                         &collect_ops, &c),
                                        0);
                                if (p + n >= len)
                                        break;
                        }
                        c.out[c.n] = '\0';
                        if (strcmp(c.out, scans[i].out) != 0)
                                fail_msg("'%s' in chunks of %zu: '%s', expected '%s'", scans[i].in, chunk,
                                        c.out, scans[i].out);
                        command_scanner_done(&s);
                }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_resume),
                cmocka_unit_test(test_scanner),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
