/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Step-start overhead: from the decision to start a step to the entry process running, through
 * runner-agent's path (fork+exec runner-step, held; StartTransientUnit; JobRemoved; release;
 * clone3 of the entry), against plain fork+exec of the same entry and against `systemd-run --scope`
 * of it, interleaved in one run; then 100 steps started at once. The entry (bench-stamp) reports
 * when it ran through an inherited pipe. Needs root and a booted systemd (the test container).
 *
 *   bench-step-start RUNNER-STEP BENCH-STAMP [ITERATIONS]
 *
 * Exits 1 if a target is missed: p50 overhead at most 2 ms over fork+exec, and at least 3x faster
 * than systemd-run --scope. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "pidref.h"
#include "scope.h"
#include "step.h"

#define PARALLEL 100

static const char *arg_shim, *arg_stamp;
static int stamp_pipe[2];
static sd_event *event;
static UnitWatcher *watcher;
static unsigned serial;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* Reads one stamp: {id, ns}. */
static uint64_t read_stamp(uint64_t *ret_id) {
        uint64_t rec[2];
        ssize_t n;

        do
                n = read(stamp_pipe[0], rec, sizeof(rec));
        while (n < 0 && errno == EINTR);
        if (n != sizeof(rec)) {
                fprintf(stderr, "bench: short read from the stamp pipe\n");
                exit(2);
        }
        if (ret_id)
                *ret_id = rec[0];
        return rec[1];
}

static void reap(pid_t pid) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
}

static uint64_t run_fork_exec(void) {
        char fd[16], id[16];
        uint64_t t0;
        pid_t pid;

        snprintf(fd, sizeof(fd), "%d", stamp_pipe[1]);
        snprintf(id, sizeof(id), "%u", ++serial);
        t0 = now_ns();
        pid = fork();
        if (pid == 0) {
                execl(arg_stamp, arg_stamp, fd, id, (char *) NULL);
                _exit(127);
        }
        uint64_t t1 = read_stamp(NULL);
        reap(pid);
        return t1 - t0;
}

static uint64_t run_systemd_run(void) {
        char fd[16], id[16], unit[64];
        uint64_t t0;
        pid_t pid;

        snprintf(fd, sizeof(fd), "%d", stamp_pipe[1]);
        snprintf(id, sizeof(id), "%u", ++serial);
        snprintf(unit, sizeof(unit), "--unit=runner-bench-run-%u", serial);
        t0 = now_ns();
        pid = fork();
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 2);
                execlp("systemd-run", "systemd-run", "--scope", "--quiet", "--collect",
                        "--slice=runner-bench.slice", unit, arg_stamp, fd, id, (char *) NULL);
                _exit(127);
        }
        uint64_t t1 = read_stamp(NULL);
        reap(pid);
        return t1 - t0;
}

typedef struct Launch {
        StepProcess *p;
        bool done;
        uint64_t t0;
} Launch;

static void on_exited(StepProcess *p, int code, int sig, void *userdata) {
        ((Launch *) userdata)->done = true;
}

static void on_failed(StepProcess *p, int error, const char *message, void *userdata) {
        fprintf(stderr, "bench: step failed: %s\n", message);
        exit(2);
}

static const StepCallbacks callbacks = { .exited = on_exited, .failed = on_failed };

static void launch(Launch *l) {
        char fd[16], id[16], unit[64], log[64];
        char *argv[] = { (char *) arg_shim, log, (char *) "--", (char *) arg_stamp, fd, id, NULL };
        int r;

        snprintf(fd, sizeof(fd), "%d", stamp_pipe[1]);
        snprintf(id, sizeof(id), "%u", ++serial);
        snprintf(unit, sizeof(unit), "runner-bench-%u.scope", serial);
        snprintf(log, sizeof(log), "--log=/dev/null");
        l->t0 = now_ns();
        r = step_process_start(event, watcher,
                &(StepParams){ .shim_argv = argv, .unit = unit, .slice = "runner-bench.slice" }, &callbacks,
                l, &l->p);
        if (r < 0) {
                fprintf(stderr, "bench: step_process_start: %s\n", strerror(-r));
                exit(2);
        }
}

static uint64_t run_agent_path(void) {
        Launch l = {};
        uint64_t t1;

        launch(&l);
        while (!l.done)
                if (sd_event_run(event, UINT64_MAX) < 0)
                        exit(2);
        t1 = read_stamp(NULL);
        /* The shim exits right after the entry: wait for it so no zombie piles up. */
        while (!step_process_shim_gone(l.p))
                if (sd_event_run(event, UINT64_MAX) < 0)
                        exit(2);
        step_process_free(l.p);
        return t1 - l.t0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p) {
        size_t i = (size_t) (p * (double) (n - 1) + 0.5);
        return (double) v[i] / 1e6;
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        size_t iterations = argc > 3 ? strtoul(argv[3], NULL, 10) : 200;
        uint64_t *fe, *ag, *sr, par[PARALLEL];
        Launch launches[PARALLEL] = {};
        double fe50, ag50, sr50, overhead;
        bool pass;
        int r;

        if (argc < 3) {
                fprintf(stderr, "usage: bench-step-start RUNNER-STEP BENCH-STAMP [ITERATIONS]\n");
                return 2;
        }
        if (geteuid() != 0 || access("/run/systemd/system", F_OK) < 0) {
                printf("1..0 # SKIP needs root and a booted systemd\n");
                return 77;
        }
        arg_shim = argv[1];
        arg_stamp = argv[2];
        /* The write end is inherited on purpose, through the shim and systemd-run alike. */
        if (pipe2(stamp_pipe, 0) < 0 || fcntl(stamp_pipe[0], F_SETFD, FD_CLOEXEC) < 0)
                return 2;

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if (sd_event_default(&event) < 0 || bus_open_systemd(&bus) < 0 ||
                sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL) < 0 ||
                unit_watcher_new(bus, &watcher) < 0) {
                fprintf(stderr, "bench: cannot connect to systemd\n");
                return 2;
        }

        fe = calloc(iterations, sizeof(uint64_t));
        ag = calloc(iterations, sizeof(uint64_t));
        sr = calloc(iterations, sizeof(uint64_t));
        if (!fe || !ag || !sr)
                return 2;

        /* Warm-up, then interleaved so that drift hits all three alike. */
        for (int i = 0; i < 5; i++) {
                (void) run_fork_exec();
                (void) run_agent_path();
                (void) run_systemd_run();
        }
        for (size_t i = 0; i < iterations; i++) {
                fe[i] = run_fork_exec();
                ag[i] = run_agent_path();
                sr[i] = run_systemd_run();
        }
        qsort(fe, iterations, sizeof(uint64_t), cmp_u64);
        qsort(ag, iterations, sizeof(uint64_t), cmp_u64);
        qsort(sr, iterations, sizeof(uint64_t), cmp_u64);

        /* 100 steps at once, as 100 parallel jobs would start them. */
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < PARALLEL; i++)
                launch(&launches[i]);
        for (size_t got = 0; got < PARALLEL;) {
                r = sd_event_run(event, UINT64_MAX);
                if (r < 0)
                        return 2;
                for (;;) {
                        struct timespec zero = {};
                        fd_set s;
                        FD_ZERO(&s);
                        FD_SET(stamp_pipe[0], &s);
                        if (pselect(stamp_pipe[0] + 1, &s, NULL, NULL, &zero, NULL) <= 0)
                                break;
                        par[got++] = read_stamp(NULL) - t0;
                        if (got == PARALLEL)
                                break;
                }
        }
        for (size_t i = 0; i < PARALLEL; i++) {
                while (!launches[i].done || !step_process_shim_gone(launches[i].p))
                        if (sd_event_run(event, UINT64_MAX) < 0)
                                return 2;
                step_process_free(launches[i].p);
        }
        qsort(par, PARALLEL, sizeof(uint64_t), cmp_u64);

        fe50 = pct(fe, iterations, 0.5);
        ag50 = pct(ag, iterations, 0.5);
        sr50 = pct(sr, iterations, 0.5);
        overhead = ag50 - fe50;
        pass = overhead <= 2.0 && sr50 / ag50 >= 3.0;

        printf("# step start: decision -> entry process running, %zu interleaved iterations each (ms)\n",
                iterations);
        printf("# %-34s %8s %8s %8s %8s\n", "method", "p50", "p90", "p99", "max");
        printf("# %-34s %8.3f %8.3f %8.3f %8.3f\n", "fork+exec (baseline)", fe50, pct(fe, iterations, 0.9),
                pct(fe, iterations, 0.99), pct(fe, iterations, 1));
        printf("# %-34s %8.3f %8.3f %8.3f %8.3f\n", "runner-agent (shim + scope)", ag50,
                pct(ag, iterations, 0.9), pct(ag, iterations, 0.99), pct(ag, iterations, 1));
        printf("# %-34s %8.3f %8.3f %8.3f %8.3f\n", "systemd-run --scope", sr50, pct(sr, iterations, 0.9),
                pct(sr, iterations, 0.99), pct(sr, iterations, 1));
        printf("# %-34s %8.3f %8.3f %8.3f %8.3f\n", "100 at once (runner-agent)", pct(par, PARALLEL, 0.5),
                pct(par, PARALLEL, 0.9), pct(par, PARALLEL, 0.99), pct(par, PARALLEL, 1));
        printf("# overhead over fork+exec at p50: %.3f ms (target <= 2 ms)\n", overhead);
        printf("# systemd-run --scope / runner-agent at p50: %.1fx (target >= 3x)\n", sr50 / ag50);
        printf("1..1\n%s 1 - step-start targets: p50 overhead %.3f ms, %.1fx faster than systemd-run --scope\n",
                pass ? "ok" : "not ok", overhead, sr50 / ag50);

        free(fe);
        free(ag);
        free(sr);
        unit_watcher_free(watcher);
        return pass ? 0 : 1;
}
