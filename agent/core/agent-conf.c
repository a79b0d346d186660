/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "action-name.h"
#include "agent-conf.h"
#include "alloc-util.h"
#include "macro.h"
#include "timespan.h"

#define MAX_PARALLEL_JOBS 4096U
/* Room for a head, a tail and the line between them that says what was cut. */
#define CONFIG_MIN_STEP_LOG_SIZE 1024U

void config_init(Config *c) {
        *c = (Config){
                .interrupt_timeout_usec = 7500 * USEC_PER_MSEC,
                .terminate_timeout_usec = 2500 * USEC_PER_MSEC,
                .force_terminate_usec = 5 * 60 * USEC_PER_SEC,
                .signal_target = SIGNAL_TARGET_ENTRY,
                .max_parallel_jobs = CONFIG_PARALLEL_JOBS_CPUS,
                .max_step_log_size = CONFIG_MAX_STEP_LOG_SIZE_DEFAULT,
                .max_source_size = CONFIG_MAX_SOURCE_SIZE_DEFAULT,
                .server_url = CONFIG_SERVER_URL_DEFAULT,
                .job_memory_max = CONFIG_INFINITY,
                .job_memory_high = CONFIG_INFINITY,
                .job_tasks_max = CONFIG_JOB_TASKS_MAX_DEFAULT,
        };
}

void config_resolve_parallel_jobs(Config *c, unsigned n_cpus) {
        if (c->max_parallel_jobs != CONFIG_PARALLEL_JOBS_CPUS)
                return;
        /* At least one (the count may have failed), at most what may be set by hand. */
        c->max_parallel_jobs = n_cpus == 0 ? 1U : MIN(n_cpus, MAX_PARALLEL_JOBS);
}

void config_errors_done(ConfigErrors *e) {
        for (size_t i = 0; i < e->n; i++) {
                free(e->errors[i].file);
                free(e->errors[i].message);
        }
        free(e->errors);
        *e = (ConfigErrors){};
}

_printf_(4, 5) static int add_error(ConfigErrors *e, const char *file, unsigned line, const char *fmt, ...) {
        ConfigError *p;
        char *m = NULL, *f;
        va_list ap;
        int r;

        if (!e)
                return 0;
        va_start(ap, fmt);
        r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        f = strdup(file);
        p = reallocarray(e->errors, e->n + 1, sizeof(ConfigError));
        if (!f || !p) {
                free(m);
                free(f);
                if (p)
                        e->errors = p;
                return -ENOMEM;
        }
        e->errors = p;
        e->errors[e->n++] = (ConfigError){ .file = f, .line = line, .message = m };
        return 0;
}

static const char *const signal_targets[_SIGNAL_TARGET_MAX] = {
        [SIGNAL_TARGET_ENTRY] = "entry",
        [SIGNAL_TARGET_CGROUP] = "cgroup",
};

const char *signal_target_to_string(SignalTarget t) {
        return t < _SIGNAL_TARGET_MAX ? signal_targets[t] : NULL;
}

SignalTarget signal_target_from_string(const char *s) {
        for (SignalTarget t = 0; t < _SIGNAL_TARGET_MAX; t++)
                if (streq(s, signal_targets[t]))
                        return t;
        return _SIGNAL_TARGET_MAX;
}

int config_parse_size(const char *s, uint64_t *ret) {
        static const char suffixes[] = "KMGT";
        unsigned long long v;
        unsigned shift = 0;
        const char *k;
        char *end;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0)
                return -EINVAL;
        if (*end != '\0') {
                k = strchr(suffixes, *end);
                if (!k || end[1] != '\0')
                        return -EINVAL;
                shift = 10U * (unsigned) (k - suffixes + 1);
        }
        if (v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = (uint64_t) v << shift;
        return 0;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r';
}

static char *strip(char *s) {
        size_t n;

        while (is_blank(*s))
                s++;
        n = strlen(s);
        while (n > 0 && is_blank(s[n - 1]))
                s[--n] = '\0';
        return s;
}

typedef enum Section {
        SECTION_NONE,
        SECTION_CANCEL,
        SECTION_AGENT,
        SECTION_JOB,
        SECTION_ACTIONS,
        SECTION_UNKNOWN,
} Section;

static int parse_timeout(const char *value, bool allow_zero, uint64_t *ret, char *why, size_t why_size) {
        uint64_t u;
        int r = parse_timespan(value, &u);

        if (r == -ERANGE) {
                snprintf(why, why_size, "time span out of range");
                return r;
        }
        if (r < 0) {
                snprintf(why, why_size, "not a time span (e.g. 7500ms, 2.5s, 5min)");
                return r;
        }
        if (!allow_zero && u == 0) {
                snprintf(why, why_size, "must be longer than 0");
                return -EINVAL;
        }
        *ret = u;
        return 0;
}

/* [Job] MemoryMax=, MemoryHigh=: a size (1024-based K, M, G, T) of at least 1M, infinity, or empty
 * (infinity). */
static int parse_job_memory(const char *value, uint64_t *ret, char *why, size_t why_size) {
        uint64_t v;
        int r;

        if (!*value || streq(value, "infinity")) {
                *ret = CONFIG_INFINITY;
                return 0;
        }
        r = config_parse_size(value, &v);
        if (r < 0 || v < (UINT64_C(1) << 20)) {
                snprintf(why, why_size,
                        "must be a size of at least 1M (e.g. 512M, 4G), infinity, or empty (infinity)");
                return r == -ERANGE ? r : -EINVAL;
        }
        *ret = v;
        return 0;
}

/* [Job] TasksMax= (a number from 1, infinity, empty: 4096); CPUWeight=, IOWeight= (1 to 10000, empty:
 * systemd's default). */
static int parse_job_number(const char *value, uint64_t min, uint64_t max, bool allow_infinity,
        uint64_t empty, uint64_t *ret, char *why, size_t why_size) {
        unsigned long long v;
        char *end;

        if (!*value) {
                *ret = empty;
                return 0;
        }
        if (allow_infinity && streq(value, "infinity")) {
                *ret = CONFIG_INFINITY;
                return 0;
        }
        errno = 0;
        v = strtoull(value, &end, 10);
        if (value[0] < '0' || value[0] > '9' || *end || errno != 0 || v < min || v > max) {
                snprintf(why, why_size, "must be a number from %" PRIu64 " to %" PRIu64 "%s, or empty", min,
                        max, allow_infinity ? ", infinity" : "");
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* [Actions] Node16=, Node20=, Node24=: an absolute path, printable, or empty (node in PATH). */
static int parse_node(const char *value, char *dest, char *why, size_t why_size) {
        size_t len = strlen(value);
        bool ok = len == 0 || (value[0] == '/' && len <= CONFIG_PATH_MAX);

        for (size_t i = 0; ok && i < len; i++)
                ok = (unsigned char) value[i] >= ' ' && value[i] != 0x7f;
        if (!ok) {
                snprintf(why, why_size,
                        "must be an absolute path of at most %u bytes, or empty (node found in PATH)",
                        CONFIG_PATH_MAX);
                return -EINVAL;
        }
        memcpy(dest, value, len + 1);
        return 0;
}

static int assign(
        Config *c, Section section, const char *key, const char *value, char *why, size_t why_size) {
        if (section == SECTION_CANCEL) {
                if (streq(key, "InterruptTimeoutSec"))
                        return parse_timeout(value, false, &c->interrupt_timeout_usec, why, why_size);
                if (streq(key, "TerminateTimeoutSec"))
                        return parse_timeout(value, false, &c->terminate_timeout_usec, why, why_size);
                if (streq(key, "ForceTerminateSec"))
                        return parse_timeout(value, false, &c->force_terminate_usec, why, why_size);
                if (streq(key, "SignalTarget")) {
                        SignalTarget t = signal_target_from_string(value);
                        if (t == _SIGNAL_TARGET_MAX) {
                                snprintf(why, why_size, "must be entry or cgroup");
                                return -EINVAL;
                        }
                        c->signal_target = t;
                        return 0;
                }
        } else if (section == SECTION_AGENT) {
                if (streq(key, "MaxParallelJobs")) {
                        char *end;
                        unsigned long v;

                        /* Empty: back to the default (one per CPU), as systemd resets a setting. */
                        if (!*value) {
                                c->max_parallel_jobs = CONFIG_PARALLEL_JOBS_CPUS;
                                return 0;
                        }
                        if (streq(value, "infinity")) {
                                c->max_parallel_jobs = 0;
                                return 0;
                        }
                        errno = 0;
                        v = strtoul(value, &end, 10);
                        if (*end || errno != 0 || value[0] == '-' || v > MAX_PARALLEL_JOBS) {
                                snprintf(why, why_size,
                                        "must be a number from 1 to %u, infinity or 0 (no limit), or empty (one per CPU)",
                                        MAX_PARALLEL_JOBS);
                                return -EINVAL;
                        }
                        c->max_parallel_jobs = (unsigned) v;
                        return 0;
                }
                if (streq(key, "ServerURL")) {
                        size_t len = strlen(value);

                        if (!*value) {
                                strcpy(c->server_url, CONFIG_SERVER_URL_DEFAULT);
                                return 0;
                        }
                        /* An absolute http(s) URL, printable, without a trailing slash, as GitHub gives it.
                         */
                        bool ok = len <= CONFIG_SERVER_URL_MAX && value[len - 1] != '/' &&
                                ((strncmp(value, "https://", 8) == 0 && len > 8) ||
                                        (strncmp(value, "http://", 7) == 0 && len > 7));
                        for (size_t i = 0; ok && i < len; i++)
                                ok = value[i] > ' ' && value[i] < 0x7f;
                        if (!ok) {
                                snprintf(why, why_size,
                                        "must be an http:// or https:// URL of at most %u bytes, without spaces or a trailing /, or empty (%s)",
                                        CONFIG_SERVER_URL_MAX, CONFIG_SERVER_URL_DEFAULT);
                                return -EINVAL;
                        }
                        memcpy(c->server_url, value, len + 1);
                        return 0;
                }
                if (streq(key, "MaxSourceSize")) {
                        uint64_t v;
                        int r;

                        if (!*value) {
                                c->max_source_size = CONFIG_MAX_SOURCE_SIZE_DEFAULT;
                                return 0;
                        }
                        if (streq(value, "infinity")) {
                                c->max_source_size = 0;
                                return 0;
                        }
                        r = config_parse_size(value, &v);
                        if (r < 0 || v == 0) {
                                snprintf(why, why_size,
                                        "must be a size (e.g. 100M, 1G), infinity, or empty (1G)");
                                return -EINVAL;
                        }
                        c->max_source_size = v;
                        return 0;
                }
                if (streq(key, "MaxStepLogSize")) {
                        uint64_t v;
                        int r;

                        if (!*value) {
                                c->max_step_log_size = CONFIG_MAX_STEP_LOG_SIZE_DEFAULT;
                                return 0;
                        }
                        if (streq(value, "infinity")) {
                                c->max_step_log_size = 0;
                                return 0;
                        }
                        r = config_parse_size(value, &v);
                        if (r == -ERANGE) {
                                snprintf(why, why_size, "size out of range");
                                return r;
                        }
                        if (r < 0 || v < CONFIG_MIN_STEP_LOG_SIZE) {
                                snprintf(why, why_size,
                                        "must be a size of at least %u bytes (e.g. 512K, 100M, 1G), infinity, or empty (1G)",
                                        CONFIG_MIN_STEP_LOG_SIZE);
                                return -EINVAL;
                        }
                        c->max_step_log_size = v;
                        return 0;
                }
        } else if (section == SECTION_JOB) {
                if (streq(key, "MemoryMax"))
                        return parse_job_memory(value, &c->job_memory_max, why, why_size);
                if (streq(key, "MemoryHigh"))
                        return parse_job_memory(value, &c->job_memory_high, why, why_size);
                if (streq(key, "TasksMax"))
                        return parse_job_number(value, 1, UINT32_MAX, true, CONFIG_JOB_TASKS_MAX_DEFAULT,
                                &c->job_tasks_max, why, why_size);
                if (streq(key, "CPUWeight"))
                        return parse_job_number(
                                value, 1, 10000, false, 0, &c->job_cpu_weight, why, why_size);
                if (streq(key, "IOWeight"))
                        return parse_job_number(value, 1, 10000, false, 0, &c->job_io_weight, why, why_size);
        } else if (section == SECTION_ACTIONS) {
                if (streq(key, "Mirror")) {
                        size_t len = strlen(value);

                        if (len > 0 && !action_mirror_valid(value, CONFIG_URL_MAX)) {
                                snprintf(why, why_size,
                                        "must be a git URL prefix (git://, http(s)://, ssh://, file:// or host:path) of at most %u bytes without spaces, or empty (none)",
                                        CONFIG_URL_MAX);
                                return -EINVAL;
                        }
                        /* Kept without a trailing /: owner/repo is appended. */
                        while (len > 0 && value[len - 1] == '/')
                                len--;
                        memcpy(c->action_mirror, value, len);
                        c->action_mirror[len] = '\0';
                        return 0;
                }
                if (streq(key, "Node16"))
                        return parse_node(value, c->node16, why, why_size);
                if (streq(key, "Node20"))
                        return parse_node(value, c->node20, why, why_size);
                if (streq(key, "Node24"))
                        return parse_node(value, c->node24, why, why_size);
        }
        return -ENOENT;
}

int config_parse(Config *c, const char *file, const char *text, size_t len, ConfigErrors *errors) {
        _cleanup_free_ char *buf = NULL, *logical = NULL;
        Section section = SECTION_NONE;
        unsigned line = 0, start_line = 0;
        size_t logical_len = 0;
        bool failed = false;
        char *p, *next;
        int r;

#define ERROR(at, ...) \
        do { \
                failed = true; \
                if (add_error(errors, file, at, __VA_ARGS__) < 0) \
                        return -ENOMEM; \
        } while (0)

        if (len > CONFIG_MAX_SIZE) {
                ERROR(1, "file has %zu bytes, more than the limit of %u", len, CONFIG_MAX_SIZE);
                return -EINVAL;
        }
        if (memchr(text, '\0', len)) {
                ERROR(1, "file contains a NUL byte");
                return -EINVAL;
        }

        buf = malloc(len + 1);
        logical = malloc(len + 1);
        if (!buf || !logical)
                return -ENOMEM;
        memcpy(buf, text, len);
        buf[len] = '\0';

        for (p = buf; p; p = next) {
                char *l, *eq, *key, *value, why[160] = "";
                size_t n;

                next = strchr(p, '\n');
                if (next)
                        *next++ = '\0';
                line++;
                if (strlen(p) > CONFIG_MAX_LINE) {
                        ERROR(line, "line longer than %u characters", CONFIG_MAX_LINE);
                        continue;
                }

                /* comments are whole lines, also inside a continuation, as in systemd */
                l = strip(p);
                if (logical_len == 0 && (*l == '#' || *l == ';' || *l == '\0'))
                        continue;
                if (logical_len > 0 && (*l == '#' || *l == ';'))
                        continue;

                if (logical_len == 0)
                        start_line = line;
                n = strlen(l);
                if (n > 0 && l[n - 1] == '\\' && next) {
                        memcpy(logical + logical_len, l, n - 1);
                        logical_len += n - 1;
                        logical[logical_len++] = ' ';
                        continue;
                }
                memcpy(logical + logical_len, l, n);
                logical_len += n;
                logical[logical_len] = '\0';
                logical_len = 0;
                l = strip(logical);

                if (*l == '[') {
                        n = strlen(l);
                        if (n < 3 || l[n - 1] != ']') {
                                ERROR(start_line, "invalid section header '%s'", l);
                                section = SECTION_UNKNOWN;
                                continue;
                        }
                        l[n - 1] = '\0';
                        if (streq(l + 1, "Cancel"))
                                section = SECTION_CANCEL;
                        else if (streq(l + 1, "Agent"))
                                section = SECTION_AGENT;
                        else if (streq(l + 1, "Job"))
                                section = SECTION_JOB;
                        else if (streq(l + 1, "Actions"))
                                section = SECTION_ACTIONS;
                        else {
                                ERROR(start_line,
                                        "unknown section [%s] (expected [Agent], [Cancel], [Job] or [Actions])",
                                        l + 1);
                                section = SECTION_UNKNOWN;
                        }
                        continue;
                }

                eq = strchr(l, '=');
                if (!eq) {
                        ERROR(start_line, "expected Key=Value, got '%s'", l);
                        continue;
                }
                *eq = '\0';
                key = strip(l);
                value = strip(eq + 1);
                if (section == SECTION_NONE) {
                        ERROR(start_line, "%s= outside of a section", key);
                        continue;
                }
                if (section == SECTION_UNKNOWN) /* reported at the header */
                        continue;

                r = assign(c, section, key, value, why, sizeof(why));
                if (r == -ENOENT)
                        ERROR(start_line, "unknown setting %s= in [%s]", key,
                                section == SECTION_CANCEL            ? "Cancel"
                                        : section == SECTION_JOB     ? "Job"
                                        : section == SECTION_ACTIONS ? "Actions"
                                                                     : "Agent");
                else if (r < 0)
                        ERROR(start_line, "invalid %s=%s: %s", key, value, why);
        }
#undef ERROR

        return failed ? -EINVAL : 0;
}

int config_verify(const Config *c, ConfigErrors *warnings) {
        char a[TIMESPAN_MAX], f[TIMESPAN_MAX];
        uint64_t escalation = c->interrupt_timeout_usec > UINT64_MAX - c->terminate_timeout_usec
                ? UINT64_MAX
                : c->interrupt_timeout_usec + c->terminate_timeout_usec;

        /* The force deadline counts from the request and kills the whole run: a step still running then
         * is killed, whatever stage of its own escalation it has reached. */
        if (c->force_terminate_usec < escalation &&
                add_error(warnings, "(configuration)", 0,
                        "ForceTerminateSec=%s is shorter than InterruptTimeoutSec= + TerminateTimeoutSec= "
                        "(%s): a step still running %s after a cancel request is killed then, before %s",
                        format_timespan(f, sizeof(f), c->force_terminate_usec),
                        format_timespan(a, sizeof(a), escalation), f,
                        c->force_terminate_usec <= c->interrupt_timeout_usec
                                ? "the SIGTERM and kill stages are reached"
                                : "its kill stage is reached") < 0)
                return -ENOMEM;
        return 0;
}
