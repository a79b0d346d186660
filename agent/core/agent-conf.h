/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The agent's configuration, /etc/runner-agent/agent.conf and the .conf files in agent.conf.d: systemd-style
 * INI (sections, Key=Value, # and ; comments, a trailing backslash continues a line), later files and later
 * lines overriding earlier ones. Pure: the caller reads the files in order and feeds each to config_parse().
 */

#define CONFIG_MAX_SIZE (64U * 1024U)
#define CONFIG_MAX_LINE 4096U
#define CONFIG_SERVER_URL_MAX 255U
#define CONFIG_URL_MAX 1024U  /* [Actions] Mirror= */
#define CONFIG_PATH_MAX 1024U /* [Actions] Node16= … */
/* github.server_url when ServerURL= is not set, as on GitHub.com. */
#define CONFIG_SERVER_URL_DEFAULT "https://github.com"
/* MaxSourceSize= when not set: 1G. */
#define CONFIG_MAX_SOURCE_SIZE_DEFAULT (UINT64_C(1) << 30)

typedef enum SignalTarget {
        SIGNAL_TARGET_ENTRY,  /* SIGINT and SIGTERM go to the step's entry process, as on GitHub */
        SIGNAL_TARGET_CGROUP, /* … to every process of the step's scope */
        _SIGNAL_TARGET_MAX,
} SignalTarget;

typedef struct Config {
        /* [Cancel] */
        uint64_t interrupt_timeout_usec; /* SIGINT → SIGTERM */
        uint64_t terminate_timeout_usec; /* SIGTERM → cgroup.kill */
        uint64_t force_terminate_usec;   /* cancel request → everything killed */
        SignalTarget signal_target;
        /* [Agent] */
        unsigned max_parallel_jobs; /* 0: no limit; CONFIG_PARALLEL_JOBS_CPUS: as many as CPUs */
        uint64_t max_step_log_size; /* bytes; 0: no limit (infinity) */
        uint64_t max_source_size;   /* bytes of a run's source snapshot; 0: no limit (infinity) */
        char server_url[CONFIG_SERVER_URL_MAX + 1]; /* github.server_url */
        /* [Job]: set on each job's slice (README, "Steps are untrusted") */
        uint64_t job_memory_max;  /* bytes; CONFIG_INFINITY: no limit */
        uint64_t job_memory_high; /* … */
        uint64_t job_tasks_max;   /* … */
        uint64_t job_cpu_weight;  /* 1…10000; 0: systemd's default */
        uint64_t job_io_weight;   /* … */
        /* [Actions] (README, "Actions") */
        char action_mirror[CONFIG_URL_MAX + 1]; /* git URL prefix of owner/repo; "": none */
        char node16[CONFIG_PATH_MAX + 1];       /* node for runs.using: node16; "": node in PATH */
        char node20[CONFIG_PATH_MAX + 1];       /* … node20 */
        char node24[CONFIG_PATH_MAX + 1];       /* … node24 */
} Config;

#define CONFIG_INFINITY UINT64_MAX
/* TasksMax= when not set: finite, so that a fork bomb in one job stops there. */
#define CONFIG_JOB_TASKS_MAX_DEFAULT UINT64_C(4096)

/* MaxStepLogSize= when not set: 1G. */
#define CONFIG_MAX_STEP_LOG_SIZE_DEFAULT (UINT64_C(1) << 30)

/* MaxParallelJobs= when not set: one job per CPU the agent may run on, which the caller counts (this
 * code reads nothing of the system) and puts in with config_resolve_parallel_jobs(). */
#define CONFIG_PARALLEL_JOBS_CPUS UINT32_MAX

void config_resolve_parallel_jobs(Config *c, unsigned n_cpus);

/* GitHub's documented defaults: 7500 ms, 2500 ms, 5 min, the entry process; logs of at most 1G. */
void config_init(Config *c);

typedef struct ConfigError {
        char *file;
        unsigned line;
        char *message;
} ConfigError;

typedef struct ConfigErrors {
        ConfigError *errors;
        size_t n;
} ConfigErrors;

void config_errors_done(ConfigErrors *e);

/* Applies one file's settings on top of c. Returns 0, -EINVAL with every problem in errors (settings
 * from valid lines are still applied), or -ENOMEM. */
int config_parse(Config *c, const char *file, const char *text, size_t len, ConfigErrors *errors);

/* Checks the settings together, after all files. Nothing found there is an error: what is valid but
 * worth knowing goes to warnings (file "(configuration)", line 0), for runner-agent --check-config and
 * the service's start to show. A ForceTerminateSec= shorter than InterruptTimeoutSec= plus
 * TerminateTimeoutSec= is such a case: the force deadline then pre-empts a step's escalation (README,
 * Cancellation), which machines that must be free fast may want. Returns 0 or -ENOMEM. */
int config_verify(const Config *c, ConfigErrors *warnings);

/* A size as the configuration writes it: a number of bytes with an optional K, M, G or T (1024-based).
 * Returns 0, -EINVAL, -ERANGE (more than 2^64-1 bytes). */
int config_parse_size(const char *s, uint64_t *ret);

const char *signal_target_to_string(SignalTarget t);
SignalTarget signal_target_from_string(const char *s);
