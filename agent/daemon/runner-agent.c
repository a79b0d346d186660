/* SPDX-License-Identifier: GPL-2.0-or-later */
/* runner-agent: runs workflows submitted over D-Bus, each step in its own transient scope. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "agent-conf.h"
#include "fileio.h"
#include "journal.h"
#include "log.h"
#include "manager.h"
#include "seccomp-filter.h"
#include "timespan.h"

static bool arg_check_config = false;
static const char *arg_config_dir = RUNNER_CONF_DIR;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "The runner-agent daemon: runs the workflows submitted with runnerctl, every step in its\n"
               "own transient systemd scope, and kills what they leave behind. Runs as the service\n"
               "runner-agent.service; talks to clients as %s on the system bus.\n\n"
               "  -h --help             Show this help\n"
               "     --version         Show the version\n"
               "     --check-config    Read the configuration, print the effective settings and any\n"
               "                       warnings (or every error as FILE:LINE: message) and exit\n"
               "     --config-dir=DIR  Read DIR/agent.conf and DIR/agent.conf.d/*.conf\n"
               "                       (default: %s)\n\n"
               "Configuration ([Cancel] InterruptTimeoutSec=, TerminateTimeoutSec=, ForceTerminateSec=,\n"
               "SignalTarget=; [Agent] MaxParallelJobs=, MaxStepLogSize=) is described in the README. State is kept in\n"
               "%s.\n",
                program_invocation_short_name, RUNNER_BUS_NAME, RUNNER_CONF_DIR, RUNNER_STATE_DIR);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_CHECK_CONFIG, ARG_CONFIG_DIR };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts(PACKAGE_NAME " " PACKAGE_VERSION);
                        return 0;
                case ARG_CHECK_CONFIG:
                        arg_check_config = true;
                        break;
                case ARG_CONFIG_DIR:
                        arg_config_dir = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "%s takes no arguments.\n", program_invocation_short_name);
                return -EINVAL;
        }
        return 1;
}

static int conf_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);
        return de->d_name[0] != '.' && n > 5 && streq(de->d_name + n - 5, ".conf");
}

static int parse_one(Config *c, const char *path, ConfigErrors *errors, bool *failed) {
        _cleanup_free_ char *text = NULL;
        int len, r;

        len = read_full_file_at(AT_FDCWD, path, CONFIG_MAX_SIZE, &text);
        if (len == -ENOENT)
                return 0;
        if (len == -EFBIG) {
                fprintf(stderr, "%s: larger than %u bytes\n", path, CONFIG_MAX_SIZE);
                *failed = true;
                return 0;
        }
        if (len < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-len));
                *failed = true;
                return 0;
        }
        r = config_parse(c, path, text, (size_t) len, errors);
        if (r == -EINVAL)
                *failed = true;
        return r == -ENOMEM ? r : 0;
}

/* agent.conf, then the .conf files of agent.conf.d in name order; every error is printed, not just the
 * first. What is valid but worth knowing goes to warnings, for the caller to show. */
static int load_config(Config *c, ConfigErrors *warnings) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_free_ char *main_path = NULL, *dropin_dir = NULL;
        struct dirent **list = NULL;
        bool failed = false;
        int n, r;

        config_init(c);
        if (asprintf(&main_path, "%s/agent.conf", arg_config_dir) < 0 ||
                asprintf(&dropin_dir, "%s/agent.conf.d", arg_config_dir) < 0)
                return log_oom();
        r = parse_one(c, main_path, &errors, &failed);
        if (r < 0)
                return log_oom();

        n = scandir(dropin_dir, &list, conf_filter, alphasort);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                if (r >= 0 && asprintf(&path, "%s/%s", dropin_dir, list[i]->d_name) < 0)
                        r = -ENOMEM;
                if (r >= 0)
                        r = parse_one(c, path, &errors, &failed);
                free(list[i]);
        }
        free(list);
        if (r < 0)
                return log_oom();
        if (n < 0 && errno != ENOENT) {
                fprintf(stderr, "%s: %m\n", dropin_dir);
                failed = true;
        }
        if (!failed) {
                cpu_set_t cpus;

                CPU_ZERO(&cpus);
                config_resolve_parallel_jobs(c,
                        sched_getaffinity(0, sizeof(cpus), &cpus) >= 0
                                ? (unsigned) CPU_COUNT(&cpus)
                                : (unsigned) sysconf(_SC_NPROCESSORS_ONLN));
                if (config_verify(c, warnings) < 0)
                        return log_oom();
        }

        for (size_t i = 0; i < errors.n; i++)
                if (errors.errors[i].line > 0)
                        fprintf(stderr, "%s:%u: %s\n", errors.errors[i].file, errors.errors[i].line,
                                errors.errors[i].message);
                else
                        fprintf(stderr, "%s: %s\n", errors.errors[i].file, errors.errors[i].message);
        return failed ? -EINVAL : 0;
}

/* A [Job] setting as agent.conf takes it: infinity, empty (0: systemd's default), or the number (in
 * units of 2^shift when it is a multiple). */
static void print_limit(const char *key, uint64_t v, unsigned shift, const char *suffix) {
        if (v == CONFIG_INFINITY)
                printf("%s=infinity\n", key);
        else if (v == 0)
                printf("%s=\n", key);
        else if (shift > 0 && v % (UINT64_C(1) << shift) == 0)
                printf("%s=%" PRIu64 "%s\n", key, v >> shift, suffix);
        else
                printf("%s=%" PRIu64 "\n", key, v);
}

static void print_config(const Config *c) {
        char a[64], b[64], f[64], jobs[DECIMAL_STR_MAX(unsigned)] = "infinity",
                                  log_size[DECIMAL_STR_MAX(uint64_t)] = "infinity";

        if (c->max_parallel_jobs > 0)
                snprintf(jobs, sizeof(jobs), "%u", c->max_parallel_jobs);
        if (c->max_step_log_size > 0)
                snprintf(log_size, sizeof(log_size), "%" PRIu64, c->max_step_log_size);
        printf("[Cancel]\nInterruptTimeoutSec=%s\nTerminateTimeoutSec=%s\nForceTerminateSec=%s\nSignalTarget=%s\n\n"
               "[Agent]\nMaxParallelJobs=%s\nMaxStepLogSize=%s\n",
                format_timespan(a, sizeof(a), c->interrupt_timeout_usec),
                format_timespan(b, sizeof(b), c->terminate_timeout_usec),
                format_timespan(f, sizeof(f), c->force_terminate_usec),
                signal_target_to_string(c->signal_target), jobs, log_size);
        printf("\n[Job]\n");
        print_limit("MemoryMax", c->job_memory_max, 20, "M");
        print_limit("MemoryHigh", c->job_memory_high, 20, "M");
        print_limit("TasksMax", c->job_tasks_max, 0, "");
        print_limit("CPUWeight", c->job_cpu_weight, 0, "");
        print_limit("IOWeight", c->job_io_weight, 0, "");
        printf("\n[Actions]\nMirror=%s\nNode16=%s\nNode20=%s\nNode24=%s\n", c->action_mirror, c->node16,
                c->node20, c->node24);
}

/* The steps' seccomp filter (README, "Steps are untrusted"): the policy read and built here, once, so
 * that a policy that does not parse, or names a system call this machine does not have, stops the
 * agent (and --check-config) with the reason, and no step runs without it. */
static int load_seccomp(void **ret, size_t *ret_len) {
        _cleanup_(seccomp_policy_freep) SeccompPolicy *p = NULL;
        _cleanup_free_ char *path = NULL, *message = NULL;
        int r;

        r = seccomp_policy_load(
                arg_config_dir, getenv("RUNNER_AGENT_DATA_DIR") ?: RUNNER_DATA_DIR, &p, &path, &message);
        if (r >= 0)
                r = seccomp_policy_compile(p, ret, ret_len, &message);
        if (r < 0) {
                errno = -r;
                if (arg_check_config)
                        fprintf(stderr, "Invalid seccomp policy: %s\n", message ?: strerror(-r));
                else
                        log_error("Invalid seccomp policy: %s; not starting.", message ?: strerror(-r));
                return r;
        }
        if (arg_check_config)
                printf("\n# seccomp policy: %s (%zu system calls denied, abi %s)\n", path, p->n_rules,
                        p->all_abis ? "all" : "native");
        return 0;
}

static int install_seccomp(Manager *m, const void *bpf, size_t len) {
        _cleanup_close_ int fd = open(m->runtime_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r;

        if (fd < 0)
                return -errno;
        r = write_file_atomic_at(fd, "seccomp.bpf", bpf, len, 0600);
        if (r < 0)
                return r;
        if (asprintf(&m->seccomp_path, "%s/seccomp.bpf", m->runtime_dir) < 0)
                return m->seccomp_path = NULL, -ENOMEM;
        return 0;
}

/* Is systemd restarting us (systemctl restart, try-restart, a package upgrade) rather than stopping
 * us? The job it runs for our unit when SIGTERM arrives says (README, "Stop or restart?"). Asked without
 * blocking the loop, which goes on serving meanwhile. Without a job (a signal sent by hand), or if
 * systemd cannot be asked or does not answer within STOP_QUERY_TIMEOUT_USEC, it is a stop: runs are
 * cancelled, never left without an agent. */
#define STOP_QUERY_TIMEOUT_USEC (5 * USEC_PER_SEC)

static void on_own_job_type(UnitQuery *q, int error, const char *type, void *userdata) {
        Manager *m = userdata;

        m->stop_query = unit_query_free(m->stop_query);
        if (error < 0) {
                log_warning_errno(error, "Cannot ask systemd why we are stopped, so stopping every run: %m");
                manager_begin_stop(m);
                return;
        }
        if (type &&
                (streq(type, "restart") || streq(type, "try-restart") || streq(type, "reload-or-restart") ||
                        streq(type, "try-reload-or-restart"))) {
                manager_hand_over(m);
                return;
        }
        log_info("Received SIGTERM (systemd job: %s): stopping every run.", type ?: "none");
        manager_begin_stop(m);
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        int r;

        if (m->stopping) {
                manager_begin_stop(m);
                return 0;
        }
        if (m->stop_query) {
                /* Still asking: SIGINT stops now, another SIGTERM waits for the answer. */
                if (si->ssi_signo == SIGTERM)
                        return 0;
                m->stop_query = unit_query_free(m->stop_query);
        }
        (void) sd_notify(false, "STOPPING=1");
        if (si->ssi_signo == SIGTERM) {
                r = unit_get_own_job_type_async(
                        m->systemd_bus, STOP_QUERY_TIMEOUT_USEC, on_own_job_type, m, &m->stop_query);
                if (r >= 0)
                        return 0;
                log_warning_errno(r, "Cannot ask systemd why we are stopped, so stopping every run: %m");
        }
        log_info("Received SIG%s: stopping every run.", sigabbrev_np((int) si->ssi_signo));
        manager_begin_stop(m);
        return 0;
}

/* After each iteration: once stopping and nothing is left, leave the loop. */
static int on_post(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        if (m->stopping && manager_stopped(m)) {
                manager_finish(m);
                return sd_event_exit(sd_event_source_get_event(s), 0);
        }
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(config_errors_done) ConfigErrors warnings = {};
        _cleanup_free_ void *bpf = NULL;
        size_t bpf_len = 0;
        Config config;
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        r = load_config(&config, &warnings);
        if (r < 0) {
                log_error("Invalid configuration in %s; not starting.", arg_config_dir);
                return EXIT_FAILURE;
        }
        for (size_t i = 0; i < warnings.n; i++)
                if (arg_check_config)
                        fprintf(stderr, "warning: %s\n", warnings.errors[i].message);
                else
                        log_warning("Configuration: %s", warnings.errors[i].message);
        if (arg_check_config)
                print_config(&config);
        if (load_seccomp(&bpf, &bpf_len) < 0)
                return EXIT_FAILURE;
        if (arg_check_config)
                return EXIT_SUCCESS;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "Failed to block signals: %m"), EXIT_FAILURE;

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m"), EXIT_FAILURE;
        (void) sd_event_set_watchdog(event, true);

        r = manager_new(event, &config, &m);
        if (r < 0)
                return EXIT_FAILURE;
        r = install_seccomp(m, bpf, bpf_len);
        if (r < 0)
                return log_error_errno(r, "Failed to write the steps' seccomp filter: %m"), EXIT_FAILURE;
        r = manager_connect(m);
        if (r < 0)
                return EXIT_FAILURE;
        r = manager_load_runs(m);
        if (r < 0)
                return log_error_errno(r, "Failed to load the earlier runs: %m"), EXIT_FAILURE;

        if (sd_event_add_signal(event, NULL, SIGTERM, on_stop_signal, m) < 0 ||
                sd_event_add_signal(event, NULL, SIGINT, on_stop_signal, m) < 0 ||
                sd_event_add_post(event, NULL, on_post, m) < 0)
                return log_error_errno(-ENOMEM, "Failed to set up the event loop: %m"), EXIT_FAILURE;

        log_info("runner-agent " PACKAGE_VERSION
                 " ready: %zu earlier runs, steps as job users (UIDs %u-%u), cgroup2 at %s.",
                m->n_runs, JOB_UID_MIN, JOB_UID_MIN + JOB_USERS - 1, m->cgroot);
        (void) sd_notify(false, "READY=1");
        manager_update_status(m);

        r = sd_event_loop(event);
        journal_stop();
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), EXIT_FAILURE;
        log_info("Every run is stopped; exiting.");
        return EXIT_SUCCESS;
}
