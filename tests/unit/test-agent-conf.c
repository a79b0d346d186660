/* SPDX-License-Identifier: GPL-2.0-or-later */
/* agent.conf: defaults, overriding across files, every error with its file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "agent-conf.h"
#include "macro.h"
#include "test-util.h"

static int parse(Config *c, const char *file, const char *text, ConfigErrors *errors) {
        return config_parse(c, file, text, strlen(text), errors);
}

static void test_defaults(void **state) {
        Config c;

        config_init(&c);
        assert_int_equal(c.interrupt_timeout_usec, 7500 * USEC_PER_MSEC);
        assert_int_equal(c.terminate_timeout_usec, 2500 * USEC_PER_MSEC);
        assert_int_equal(c.force_terminate_usec, 300 * USEC_PER_SEC);
        assert_int_equal(c.signal_target, SIGNAL_TARGET_ENTRY);
        assert_int_equal(c.max_parallel_jobs, CONFIG_PARALLEL_JOBS_CPUS);
        assert_int_equal(c.max_step_log_size, UINT64_C(1) << 30);
        assert_int_equal(config_verify(&c, NULL), 0);

        /* an empty file, comments and blank lines change nothing */
        assert_int_equal(parse(&c, "agent.conf", "# comment\n; another\n\n   \n[Cancel]\n", NULL), 0);
        assert_int_equal(c.interrupt_timeout_usec, 7500 * USEC_PER_MSEC);
}

static void test_override(void **state) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        Config c;

        config_init(&c);
        assert_int_equal(parse(&c, "agent.conf",
                                 "[Cancel]\n"
                                 "InterruptTimeoutSec = 10s\n"
                                 "TerminateTimeoutSec=1.5s\r\n"
                                 "ForceTerminateSec=10min\n"
                                 "SignalTarget=cgroup\n"
                                 "[Agent]\n"
                                 "MaxParallelJobs=8\n",
                                 &errors),
                0);
        assert_int_equal(errors.n, 0);
        assert_int_equal(c.interrupt_timeout_usec, 10 * USEC_PER_SEC);
        assert_int_equal(c.terminate_timeout_usec, 1500 * USEC_PER_MSEC);
        assert_int_equal(c.force_terminate_usec, 600 * USEC_PER_SEC);
        assert_int_equal(c.signal_target, SIGNAL_TARGET_CGROUP);
        assert_int_equal(c.max_parallel_jobs, 8);
        assert_string_equal(c.server_url, "https://github.com");
        assert_int_equal(c.max_source_size, UINT64_C(1) << 30);
        assert_int_equal(parse(&c, "agent.conf",
                                 "[Agent]\nServerURL=https://ghe.example\nMaxSourceSize=10M\n", &errors),
                0);
        assert_string_equal(c.server_url, "https://ghe.example");
        assert_int_equal(c.max_source_size, 10 << 20);
        assert_int_equal(
                parse(&c, "agent.conf", "[Agent]\nServerURL=\nMaxSourceSize=infinity\n", &errors), 0);
        assert_string_equal(c.server_url, "https://github.com");
        assert_int_equal(c.max_source_size, 0);

        /* a drop-in overrides what it names, nothing else; the last assignment wins */
        assert_int_equal(parse(&c, "agent.conf.d/10-fast.conf",
                                 "[Cancel]\nInterruptTimeoutSec=1s\nInterruptTimeoutSec=2s\n"
                                 "ForceTerminateSec=1min \\\n  30s\n",
                                 &errors),
                0);
        assert_int_equal(c.interrupt_timeout_usec, 2 * USEC_PER_SEC);
        assert_int_equal(c.terminate_timeout_usec, 1500 * USEC_PER_MSEC);
        assert_int_equal(c.force_terminate_usec, 90 * USEC_PER_SEC);
        assert_int_equal(config_verify(&c, &errors), 0);
}

typedef struct ErrorCase {
        const char *text;
        const char *expected; /* every error as "LINE: MESSAGE\n" */
} ErrorCase;

static const ErrorCase error_cases[] = {
        { "InterruptTimeoutSec=1s\n", "1: InterruptTimeoutSec= outside of a section\n" },
        { "[Cancle]\nX=1\n[Cancel]\nInterruptTimeoutSec=1s\n",
                "1: unknown section [Cancle] (expected [Agent], [Cancel], [Job] or [Actions])\n" },
        { "[Cancel\n", "1: invalid section header '[Cancel'\n" },
        { "[Cancel]\nInterruptTimeout=1s\n", "2: unknown setting InterruptTimeout= in [Cancel]\n" },
        { "[Cancel]\nInterruptTimeoutSec\n", "2: expected Key=Value, got 'InterruptTimeoutSec'\n" },
        { "[Cancel]\nInterruptTimeoutSec=soon\n",
                "2: invalid InterruptTimeoutSec=soon: not a time span (e.g. 7500ms, 2.5s, 5min)\n" },
        { "[Cancel]\nTerminateTimeoutSec=0\n", "2: invalid TerminateTimeoutSec=0: must be longer than 0\n" },
        { "[Cancel]\nForceTerminateSec=-5s\n",
                "2: invalid ForceTerminateSec=-5s: time span out of range\n" },
        { "[Cancel]\nSignalTarget=group\n", "2: invalid SignalTarget=group: must be entry or cgroup\n" },
        { "[Agent]\nMaxParallelJobs=-1\n",
                "2: invalid MaxParallelJobs=-1: must be a number from 1 to 4096, infinity or 0 (no limit), or empty (one per CPU)\n" },
        { "[Agent]\nMaxParallelJobs=9999\n",
                "2: invalid MaxParallelJobs=9999: must be a number from 1 to 4096, infinity or 0 (no limit), or empty (one per CPU)\n" },
        { "[Agent]\nSignalTarget=entry\n", "2: unknown setting SignalTarget= in [Agent]\n" },
        { "[Agent]\nMaxStepLogSize=1.5G\n",
                "2: invalid MaxStepLogSize=1.5G: must be a size of at least 1024 bytes (e.g. 512K, 100M, 1G), infinity, or empty (1G)\n" },
        { "[Agent]\nMaxStepLogSize=0\n",
                "2: invalid MaxStepLogSize=0: must be a size of at least 1024 bytes (e.g. 512K, 100M, 1G), infinity, or empty (1G)\n" },
        { "[Agent]\nMaxStepLogSize=1023\n",
                "2: invalid MaxStepLogSize=1023: must be a size of at least 1024 bytes (e.g. 512K, 100M, 1G), infinity, or empty (1G)\n" },
        { "[Agent]\nMaxStepLogSize=-1G\n",
                "2: invalid MaxStepLogSize=-1G: must be a size of at least 1024 bytes (e.g. 512K, 100M, 1G), infinity, or empty (1G)\n" },
        { "[Agent]\nMaxStepLogSize=1g\n",
                "2: invalid MaxStepLogSize=1g: must be a size of at least 1024 bytes (e.g. 512K, 100M, 1G), infinity, or empty (1G)\n" },
        { "[Agent]\nMaxStepLogSize=1GB\n",
                "2: invalid MaxStepLogSize=1GB: must be a size of at least 1024 bytes (e.g. 512K, 100M, 1G), infinity, or empty (1G)\n" },
        { "[Agent]\nMaxStepLogSize=16777216T\n",
                "2: invalid MaxStepLogSize=16777216T: size out of range\n" },
        { "[Agent]\nMaxStepLogSize=99999999999999999999\n",
                "2: invalid MaxStepLogSize=99999999999999999999: size out of range\n" },
        { "[Job]\nMemoryMax=1023K\n",
                "2: invalid MemoryMax=1023K: must be a size of at least 1M (e.g. 512M, 4G), infinity, or empty (infinity)\n" },
        { "[Job]\nMemoryHigh=lots\n",
                "2: invalid MemoryHigh=lots: must be a size of at least 1M (e.g. 512M, 4G), infinity, or empty (infinity)\n" },
        { "[Job]\nMemoryMax=99999999999999999999\n",
                "2: invalid MemoryMax=99999999999999999999: must be a size of at least 1M (e.g. 512M, 4G), infinity, or empty (infinity)\n" },
        { "[Job]\nTasksMax=0\n",
                "2: invalid TasksMax=0: must be a number from 1 to 4294967295, infinity, or empty\n" },
        { "[Job]\nTasksMax=-5\n",
                "2: invalid TasksMax=-5: must be a number from 1 to 4294967295, infinity, or empty\n" },
        { "[Job]\nTasksMax=10%\n",
                "2: invalid TasksMax=10%: must be a number from 1 to 4294967295, infinity, or empty\n" },
        { "[Job]\nCPUWeight=10001\n",
                "2: invalid CPUWeight=10001: must be a number from 1 to 10000, or empty\n" },
        { "[Job]\nIOWeight=infinity\n",
                "2: invalid IOWeight=infinity: must be a number from 1 to 10000, or empty\n" },
        { "[Job]\nCPUQuota=20%\n", "2: unknown setting CPUQuota= in [Job]\n" },
        { "[Agent]\nServerURL=github.example\n",
                "2: invalid ServerURL=github.example: must be an http:// or https:// URL of at most 255 bytes, without spaces or a trailing /, or empty (https://github.com)\n" },
        { "[Agent]\nServerURL=https://ghe.example/\n",
                "2: invalid ServerURL=https://ghe.example/: must be an http:// or https:// URL of at most 255 bytes, without spaces or a trailing /, or empty (https://github.com)\n" },
        { "[Agent]\nMaxSourceSize=0\n",
                "2: invalid MaxSourceSize=0: must be a size (e.g. 100M, 1G), infinity, or empty (1G)\n" },
        /* every error, each at the first line of its (continued) entry */
        { "[Cancel]\nInterruptTimeoutSec=\\\n  x\n# between\nFoo=1\n\n[Agent]\nMaxParallelJobs=many\n",
                "2: invalid InterruptTimeoutSec=x: not a time span (e.g. 7500ms, 2.5s, 5min)\n"
                "5: unknown setting Foo= in [Cancel]\n"
                "8: invalid MaxParallelJobs=many: must be a number from 1 to 4096, infinity or 0 (no limit), or empty (one per CPU)\n" },
};

static char *render(const ConfigErrors *errors) {
        char *s = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&s, &n);

        assert_non_null(f);
        for (size_t i = 0; i < errors->n; i++) {
                assert_string_equal(errors->errors[i].file, "agent.conf");
                fprintf(f, "%u: %s\n", errors->errors[i].line, errors->errors[i].message);
        }
        assert_int_equal(fclose(f), 0);
        return s;
}

/* One job per CPU unless told otherwise; infinity (or 0) lifts the limit; empty goes back. */
static void test_parallel_jobs(void **state) {
        Config c;

        config_init(&c);
        config_resolve_parallel_jobs(&c, 2);
        assert_int_equal(c.max_parallel_jobs, 2);
        config_init(&c);
        config_resolve_parallel_jobs(&c, 0); /* the count failed: still a limit */
        assert_int_equal(c.max_parallel_jobs, 1);

        config_init(&c);
        assert_int_equal(parse(&c, "a.conf", "[Agent]\nMaxParallelJobs=infinity\n", NULL), 0);
        config_resolve_parallel_jobs(&c, 2);
        assert_int_equal(c.max_parallel_jobs, 0);
        assert_int_equal(parse(&c, "a.conf", "[Agent]\nMaxParallelJobs=0\n", NULL), 0);
        assert_int_equal(c.max_parallel_jobs, 0);
        assert_int_equal(parse(&c, "a.conf", "[Agent]\nMaxParallelJobs=7\n", NULL), 0);
        config_resolve_parallel_jobs(&c, 2);
        assert_int_equal(c.max_parallel_jobs, 7);
        assert_int_equal(parse(&c, "b.conf", "[Agent]\nMaxParallelJobs=\n", NULL), 0);
        config_resolve_parallel_jobs(&c, 3);
        assert_int_equal(c.max_parallel_jobs, 3);
}

/* 1G unless told otherwise; K, M, G, T are 1024-based; infinity lifts the limit; empty goes back. */
static void test_step_log_size(void **state) {
        static const struct {
                const char *value;
                uint64_t bytes;
        } cases[] = {
                { "1024", 1024 },
                { "64K", 64 * 1024 },
                { "100M", UINT64_C(100) << 20 },
                { "2G", UINT64_C(2) << 30 },
                { "3T", UINT64_C(3) << 40 },
                { "16777215T", UINT64_C(16777215) << 40 },
                { "18446744073709551615", UINT64_MAX },
                { "infinity", 0 },
                { "", UINT64_C(1) << 30 },
        };
        char text[128];
        uint64_t v;
        Config c;

        config_init(&c);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                snprintf(text, sizeof(text), "[Agent]\nMaxStepLogSize=7M\nMaxStepLogSize=%s\n",
                        cases[i].value);
                assert_int_equal(parse(&c, "a.conf", text, NULL), 0);
                assert_int_equal(c.max_step_log_size, cases[i].bytes);
        }
        /* a later file overrides an earlier one */
        assert_int_equal(parse(&c, "a.conf", "[Agent]\nMaxStepLogSize=infinity\n", NULL), 0);
        assert_int_equal(parse(&c, "b.conf", "[Agent]\nMaxStepLogSize=5M\n", NULL), 0);
        assert_int_equal(c.max_step_log_size, UINT64_C(5) << 20);

        assert_int_equal(config_parse_size("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(config_parse_size("16777216T", &v), -ERANGE);
        assert_int_equal(config_parse_size(" 1K", &v), -EINVAL);
        assert_int_equal(config_parse_size("1K ", &v), -EINVAL);
        assert_int_equal(config_parse_size("+1K", &v), -EINVAL);
        assert_int_equal(config_parse_size("K", &v), -EINVAL);
        assert_int_equal(config_parse_size("1KK", &v), -EINVAL);
}

static void test_job(void **state) {
        ConfigErrors errors = {};
        Config c;

        config_init(&c);
        assert_true(c.job_memory_max == CONFIG_INFINITY && c.job_memory_high == CONFIG_INFINITY);
        assert_int_equal(c.job_tasks_max, 4096);
        assert_int_equal(c.job_cpu_weight, 0);
        assert_int_equal(c.job_io_weight, 0);
        assert_int_equal(
                parse(&c, "agent.conf",
                        "[Job]\nMemoryMax=2G\nMemoryHigh=1536M\nTasksMax=512\nCPUWeight=50\nIOWeight=10000\n",
                        &errors),
                0);
        assert_int_equal(errors.n, 0);
        assert_true(c.job_memory_max == (UINT64_C(2) << 30));
        assert_true(c.job_memory_high == (UINT64_C(1536) << 20));
        assert_int_equal(c.job_tasks_max, 512);
        assert_int_equal(c.job_cpu_weight, 50);
        assert_int_equal(c.job_io_weight, 10000);
        /* infinity, and empty: back to the defaults */
        assert_int_equal(
                parse(&c, "agent.conf.d/x.conf",
                        "[Job]\nMemoryMax=infinity\nMemoryHigh=\nTasksMax=infinity\nCPUWeight=\n", &errors),
                0);
        assert_true(c.job_memory_max == CONFIG_INFINITY && c.job_memory_high == CONFIG_INFINITY);
        assert_true(c.job_tasks_max == CONFIG_INFINITY);
        assert_int_equal(c.job_cpu_weight, 0);
        assert_int_equal(parse(&c, "agent.conf.d/y.conf", "[Job]\nTasksMax=\n", &errors), 0);
        assert_int_equal(c.job_tasks_max, 4096);
        config_errors_done(&errors);
}

static void test_errors(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(error_cases); i++) {
                _cleanup_(config_errors_done) ConfigErrors errors = {};
                _cleanup_free_ char *got = NULL;
                Config c;

                config_init(&c);
                assert_int_equal(parse(&c, "agent.conf", error_cases[i].text, &errors), -EINVAL);
                got = render(&errors);
                if (!streq(got, error_cases[i].expected))
                        fail_msg("case %zu: expected\n%sgot\n%s", i, error_cases[i].expected, got);
        }
}

static void test_valid_lines_still_apply(void **state) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        Config c;

        config_init(&c);
        assert_int_equal(
                parse(&c, "agent.conf", "[Cancel]\nBogus=1\nInterruptTimeoutSec=3s\n", &errors), -EINVAL);
        assert_int_equal(errors.n, 1);
        assert_int_equal(c.interrupt_timeout_usec, 3 * USEC_PER_SEC);
}

static void test_limits(void **state) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_free_ char *big = NULL, *line = NULL;
        Config c;

        config_init(&c);
        big = repeat_text("", "#", CONFIG_MAX_SIZE + 1, "");
        assert_int_equal(parse(&c, "agent.conf", big, &errors), -EINVAL);
        assert_string_equal(errors.errors[0].message, "file has 65537 bytes, more than the limit of 65536");
        config_errors_done(&errors);

        line = repeat_text("[Cancel]\n#", "x", CONFIG_MAX_LINE, "\nInterruptTimeoutSec=1s\n");
        assert_int_equal(parse(&c, "agent.conf", line, &errors), -EINVAL);
        assert_int_equal(errors.n, 1);
        assert_int_equal(errors.errors[0].line, 2);
        assert_string_equal(errors.errors[0].message, "line longer than 4096 characters");
        assert_int_equal(c.interrupt_timeout_usec, USEC_PER_SEC);
        config_errors_done(&errors);

        assert_int_equal(config_parse(&c, "agent.conf", "[Cancel]\0", 9, &errors), -EINVAL);
        assert_string_equal(errors.errors[0].message, "file contains a NUL byte");
}

static void test_verify(void **state) {
        _cleanup_(config_errors_done) ConfigErrors warnings = {};
        Config c;

        /* A deadline as long as the escalation: nothing to say. */
        config_init(&c);
        assert_int_equal(parse(&c, "agent.conf", "[Cancel]\nForceTerminateSec=10s\n", NULL), 0);
        assert_int_equal(config_verify(&c, &warnings), 0);
        assert_int_equal(warnings.n, 0);

        /* A shorter one is accepted as written (machines that must be free fast), with a warning that
         * says what it means. */
        assert_int_equal(
                parse(&c, "agent.conf.d/50-fast.conf", "[Cancel]\nForceTerminateSec=3s\n", NULL), 0);
        assert_int_equal(config_verify(&c, &warnings), 0);
        assert_int_equal(c.force_terminate_usec, 3 * USEC_PER_SEC);
        assert_int_equal(c.interrupt_timeout_usec, 7500 * USEC_PER_MSEC);
        assert_int_equal(warnings.n, 1);
        assert_string_equal(warnings.errors[0].file, "(configuration)");
        assert_int_equal(warnings.errors[0].line, 0);
        assert_string_equal(warnings.errors[0].message,
                "ForceTerminateSec=3s is shorter than InterruptTimeoutSec= + TerminateTimeoutSec= (10s): a "
                "step still running 3s after a cancel request is killed then, before the SIGTERM and kill "
                "stages are reached");
        config_errors_done(&warnings);

        /* Between SIGTERM and the step's own kill. */
        assert_int_equal(parse(&c, "agent.conf", "[Cancel]\nForceTerminateSec=9s\n", NULL), 0);
        assert_int_equal(config_verify(&c, &warnings), 0);
        assert_int_equal(warnings.n, 1);
        assert_string_equal(warnings.errors[0].message,
                "ForceTerminateSec=9s is shorter than InterruptTimeoutSec= + TerminateTimeoutSec= (10s): a "
                "step still running 9s after a cancel request is killed then, before its kill stage is "
                "reached");
        config_errors_done(&warnings);

        /* infinity disables the force deadline; an infinite escalation does not overflow */
        assert_int_equal(parse(&c, "agent.conf", "[Cancel]\nForceTerminateSec=infinity\n", NULL), 0);
        assert_int_equal(config_verify(&c, &warnings), 0);
        assert_int_equal(warnings.n, 0);
        assert_int_equal(parse(&c, "agent.conf", "[Cancel]\nInterruptTimeoutSec=infinity\n", NULL), 0);
        assert_int_equal(config_verify(&c, &warnings), 0);
        assert_int_equal(warnings.n, 0);
        assert_int_equal(parse(&c, "agent.conf", "[Cancel]\nForceTerminateSec=5min\n", NULL), 0);
        assert_int_equal(config_verify(&c, &warnings), 0);
        assert_int_equal(warnings.n, 1);
        assert_non_null(strstr(warnings.errors[0].message, "(infinity)"));
        assert_non_null(strstr(warnings.errors[0].message, "the SIGTERM and kill stages"));
}

/* [Actions]: the mirror's URL prefix (trailing / dropped), the node binaries; empty resets. */
static void test_actions(void **state) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        Config c;

        config_init(&c);
        assert_string_equal(c.action_mirror, "");
        assert_string_equal(c.node20, "");
        assert_int_equal(parse(&c, "agent.conf",
                                 "[Actions]\nMirror=git://mirror.lan/actions/\nNode16=/opt/node16/bin/node\n"
                                 "Node20=/usr/bin/node\nNode24=/opt/node24/bin/node\n",
                                 &errors),
                0);
        assert_string_equal(c.action_mirror, "git://mirror.lan/actions");
        assert_string_equal(c.node16, "/opt/node16/bin/node");
        assert_string_equal(c.node20, "/usr/bin/node");
        assert_string_equal(c.node24, "/opt/node24/bin/node");
        assert_int_equal(
                parse(&c, "agent.conf", "[Actions]\nMirror=git@ghe.lan:mirrors\nNode20=\n", &errors), 0);
        assert_string_equal(c.action_mirror, "git@ghe.lan:mirrors");
        assert_string_equal(c.node20, "");
        assert_int_equal(
                parse(&c, "agent.conf", "[Actions]\nMirror=file:///srv/mirror\nMirror=\n", &errors), 0);
        assert_string_equal(c.action_mirror, "");

        assert_int_equal(parse(&c, "a.conf",
                                 "[Actions]\nMirror=/srv/mirror\nMirror=-uhttp://x\nMirror=git://a b\n"
                                 "Node16=node\nNode99=/x\n",
                                 &errors),
                -EINVAL);
        assert_int_equal(errors.n, 5);
        assert_int_equal(errors.errors[0].line, 2);
        assert_non_null(
                strstr(errors.errors[0].message, "invalid Mirror=/srv/mirror: must be a git URL prefix"));
        assert_non_null(strstr(errors.errors[3].message, "invalid Node16=node: must be an absolute path"));
        assert_string_equal(errors.errors[4].message, "unknown setting Node99= in [Actions]");
        assert_string_equal(c.action_mirror, "");
        assert_string_equal(c.node16, "/opt/node16/bin/node");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_override),
                cmocka_unit_test(test_parallel_jobs),
                cmocka_unit_test(test_step_log_size),
                cmocka_unit_test(test_job),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_valid_lines_still_apply),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_verify),
                cmocka_unit_test(test_actions),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
