/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A held child is put into its own transient scope; released, it leaves a double-forked setsid daemon
 * and a process that ignores SIGINT, SIGTERM and SIGHUP in its own process group. Killing the scope's
 * cgroup must leave none of them alive, and systemd must then collect the scope. Then runner-step's
 * layout (README, Cancellation): a supervisor in the scope's "supervisor" copying from a process in its
 * "payload"; cgroup_kill_staged() must kill the payload first, let the supervisor read to EOF and exit,
 * and kill a supervisor that stays only after its grace. Run against the real systemd, D-Bus and
 * cgroup2; the lines starting with "# " narrate what happens. */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* cmocka.h needs <setjmp.h>, <stdarg.h>, <stddef.h> and <stdint.h> before it */
#include <cmocka.h>

#include "cgroup.h"
#include "fileio.h"
#include "macro.h"
#include "pidref.h"
#include "scope.h"

#define WAIT_USEC (20 * USEC_PER_SEC)
#define N_REPORTS 3 /* the held child, the setsid daemon, the signal-ignoring process */

typedef struct Ctx {
        sd_event *event;
        sd_bus *bus;
        UnitWatcher *watcher;
        char *cgroot;
        unsigned serial;
} Ctx;

static _printf_(1, 2) void narrate(const char *fmt, ...) {
        va_list ap;

        fputs("# ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

static int on_wait_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        *(bool *) userdata = true;
        return 0;
}

/* Runs the event loop until *flag is set; fails the test after timeout. */
static void run_until(Ctx *ctx, const bool *flag, const char *what) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *timer = NULL;
        bool timed_out = false;

        assert_int_equal(sd_event_add_time_relative(ctx->event, &timer, CLOCK_MONOTONIC, WAIT_USEC, 0,
                                 on_wait_timeout, &timed_out),
                0);
        while (!*flag && !timed_out)
                assert_true(sd_event_run(ctx->event, UINT64_MAX) >= 0);
        if (!*flag)
                fail_msg("timed out after %llus waiting for %s",
                        (unsigned long long) (WAIT_USEC / USEC_PER_SEC), what);
}

typedef struct ScopeResult {
        bool done;
        int error;
        char message[256];
} ScopeResult;

static void on_scope_done(ScopeJob *job, int error, const char *message, void *userdata) {
        ScopeResult *res = userdata;

        res->done = true;
        res->error = error;
        snprintf(res->message, sizeof(res->message), "%s", message ?: "");
}

static void on_empty(sd_event_source *s, void *userdata) {
        *(bool *) userdata = true;
}

static int on_unit_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        *(bool *) userdata = true;
        return 0;
}

static void report_self(int fd) {
        pid_t pid = getpid();

        /* A pid_t is far below PIPE_BUF, so concurrent reports never interleave. */
        if (write(fd, &pid, sizeof(pid)) != sizeof(pid))
                _exit(EXIT_FAILURE);
}

/* The held child: waits for the go byte, then builds the tree and stays. */
static _Noreturn void child_main(int go_fd, int report_fd) {
        pid_t pid;
        char b;

        if (read(go_fd, &b, 1) != 1)
                _exit(EXIT_FAILURE); /* the test gave up on us */

        /* A daemon the classic way: fork, setsid, fork again, first child exits. The grandchild is
         * reparented away from us and leaves our session and process group. */
        pid = fork();
        if (pid < 0)
                _exit(EXIT_FAILURE);
        if (pid == 0) {
                if (setsid() < 0)
                        _exit(EXIT_FAILURE);
                pid = fork();
                if (pid < 0)
                        _exit(EXIT_FAILURE);
                if (pid == 0) {
                        report_self(report_fd);
                        for (;;)
                                pause();
                }
                _exit(EXIT_SUCCESS);
        }
        if (waitpid(pid, NULL, 0) != pid)
                _exit(EXIT_FAILURE);

        /* A process that shrugs off every polite signal, in a process group of its own. */
        pid = fork();
        if (pid < 0)
                _exit(EXIT_FAILURE);
        if (pid == 0) {
                signal(SIGTERM, SIG_IGN);
                signal(SIGINT, SIG_IGN);
                signal(SIGHUP, SIG_IGN);
                if (setpgid(0, 0) < 0)
                        _exit(EXIT_FAILURE);
                report_self(report_fd);
                for (;;)
                        pause();
        }

        report_self(report_fd);
        for (;;)
                pause();
}

static void read_reports(int fd, pid_t pids[static N_REPORTS]) {
        size_t got = 0;

        while (got < N_REPORTS * sizeof(pid_t)) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t k;

                assert_int_equal(poll(&pfd, 1, (int) (WAIT_USEC / USEC_PER_MSEC)), 1);
                k = read(fd, (char *) pids + got, N_REPORTS * sizeof(pid_t) - got);
                assert_true(k > 0);
                got += (size_t) k;
        }
}

static void start_scope(Ctx *ctx, const char *unit, const PidRef *pid, ScopeResult *res) {
        _cleanup_(scope_job_freep) ScopeJob *job = NULL;
        ScopeParams params = {
                .unit = unit,
                .slice = "runner.slice",
                .description = "runner-agent scope self-test",
                .pid = pid,
        };

        *res = (ScopeResult){};
        assert_int_equal(scope_start(ctx->watcher, &params, on_scope_done, res, &job), 0);
        run_until(ctx, &res->done, "JobRemoved");
}

static bool unit_exists(Ctx *ctx, const char *unit) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(ctx->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager", "GetUnit", &error, &reply, "s", unit);
        if (r >= 0)
                return true;
        if (!sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit"))
                fail_msg("GetUnit(%s): %s", unit, error.message);
        return false;
}

/* The whole scenario, with the kill done by kill_fn. */
static void scope_kill_scenario(Ctx *ctx, int (*kill_fn)(int cgroup_fd), const char *how) {
        _cleanup_close_pair_ int go[2] = { -EBADF, -EBADF }, report[2] = { -EBADF, -EBADF },
                                 canary[2] = { -EBADF, -EBADF };
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *removed_slot = NULL;
        _cleanup_(sd_event_source_unrefp) sd_event_source *watch = NULL;
        _cleanup_free_ char *unit = NULL, *path = NULL, *expected_suffix = NULL, *rule = NULL;
        _cleanup_close_ int cgfd = -EBADF;
        PidRef child = PIDREF_NULL, other = PIDREF_NULL, procs[N_REPORTS - 1] = { PIDREF_NULL, PIDREF_NULL };
        pid_t pids[N_REPORTS];
        ScopeResult res;
        bool empty = false, removed = false;
        unsigned n_procs = 0, n_procs_after = 0;
        uint64_t t0, t1;
        siginfo_t si;
        size_t k = 0;
        char b;
        int r;

        assert_int_equal(pipe2(go, O_CLOEXEC), 0);
        assert_int_equal(pipe2(report, O_CLOEXEC), 0);
        /* Every process of the tree inherits the write end; EOF on the read end means all are gone. */
        assert_int_equal(pipe2(canary, O_CLOEXEC), 0);

        assert_true(asprintf(&unit, "runner-selftest-%d-%u.scope", (int) getpid(), ++ctx->serial) > 0);
        assert_true(asprintf(&expected_suffix, "/runner.slice/%s", unit) > 0);

        /* Listen for the scope's removal before it can possibly happen. */
        assert_true(asprintf(&rule,
                            "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop."
                            "systemd1.Manager',member='UnitRemoved',arg0='%s'",
                            unit) > 0);
        assert_true(sd_bus_add_match(ctx->bus, &removed_slot, rule, on_unit_removed, &removed) >= 0);

        r = pidref_fork(&child);
        assert_true(r >= 0);
        if (r == 0) {
                safe_close(go[1]);
                safe_close(report[0]);
                safe_close(canary[0]);
                child_main(go[0], report[1]);
        }
        go[0] = safe_close(go[0]);
        report[1] = safe_close(report[1]);
        canary[1] = safe_close(canary[1]);

        t0 = now_usec();
        start_scope(ctx, unit, &child, &res);
        t1 = now_usec();
        if (res.error < 0)
                fail_msg("StartTransientUnit(%s) failed: %d %s", unit, res.error, res.message);
        narrate("[%s] %s started for held child %d in %.1f ms (JobRemoved: done)", how, unit,
                (int) child.pid, (double) (t1 - t0) / 1000.0);

        assert_int_equal(cgroup_pidref_get_path(&child, &path), 0);
        narrate("[%s] child %d is in %s", how, (int) child.pid, path);
        assert_true(strlen(path) >= strlen(expected_suffix));
        assert_string_equal(path + strlen(path) - strlen(expected_suffix), expected_suffix);

        /* A second scope of the same name must be refused with systemd's reason, not hang. */
        r = pidref_fork(&other);
        assert_true(r >= 0);
        if (r == 0) {
                pause();
                _exit(EXIT_SUCCESS);
        }
        start_scope(ctx, unit, &other, &res);
        assert_true(res.error < 0);
        narrate("[%s] a second %s is refused: %s", how, unit, res.message);
        assert_true(strlen(res.message) > 0);
        assert_int_equal(pidref_kill(&other, SIGKILL), 0);
        assert_int_equal(pidref_reap(&other, &si), 0);
        pidref_done(&other);

        /* Release the child and learn who it spawned. */
        assert_int_equal(write(go[1], "x", 1), 1);
        read_reports(report[0], pids);

        for (size_t i = 0; i < N_REPORTS; i++) {
                _cleanup_free_ char *p = NULL;

                if (pids[i] == child.pid)
                        continue;
                assert_true(k < ELEMENTSOF(procs));
                assert_int_equal(pidref_set_pid(&procs[k], pids[i]), 0);
                assert_int_equal(cgroup_pidref_get_path(&procs[k], &p), 0);
                assert_string_equal(p, path);
                narrate("[%s] descendant %d: session %d, process group %d, cgroup %s", how, (int) pids[i],
                        (int) getsid(pids[i]), (int) getpgid(pids[i]), p);
                k++;
        }
        assert_int_equal(k, N_REPORTS - 1);

        cgfd = cgroup_open(ctx->cgroot, path);
        assert_true(cgfd >= 0);
        assert_int_equal(cgroup_count_processes(cgfd, &n_procs), 0);
        assert_int_equal(n_procs, N_REPORTS);

        t0 = now_usec();
        r = kill_fn(cgfd);
        if (r < 0)
                fail_msg("%s: %s", how, strerror(-r));
        assert_int_equal(cgroup_watch_empty(ctx->event, cgfd, on_empty, &empty, &watch), 0);
        run_until(ctx, &empty, "cgroup.events to say populated 0");
        t1 = now_usec();
        narrate("[%s] killed %u processes; populated 0 after %.2f ms", how, n_procs,
                (double) (t1 - t0) / 1000.0);

        /* Nothing survives: each process's pidfd says it exited, the child was SIGKILLed, and no
         * holder of the canary pipe is left. */
        for (size_t i = 0; i < ELEMENTSOF(procs); i++) {
                assert_int_equal(pidref_wait_exit(&procs[i], (int) (WAIT_USEC / USEC_PER_MSEC)), 1);
                pidref_done(&procs[i]);
        }
        assert_int_equal(pidref_reap(&child, &si), 0);
        assert_int_equal(si.si_code, CLD_KILLED);
        assert_int_equal(si.si_status, SIGKILL);
        pidref_done(&child);
        {
                struct pollfd pfd = { .fd = canary[0], .events = POLLIN };

                assert_int_equal(poll(&pfd, 1, (int) (WAIT_USEC / USEC_PER_MSEC)), 1);
                assert_int_equal(read(canary[0], &b, 1), 0);
        }
        r = cgroup_count_processes(cgfd, &n_procs_after);
        assert_true(r == -ENOENT || r == -ENODEV || (r == 0 && n_procs_after == 0));
        narrate("[%s] survivors: 0 (all pidfds readable, child reaped with SIGKILL, canary pipe at EOF)",
                how);

        /* systemd notices the empty cgroup itself and collects the scope. */
        run_until(ctx, &removed, "UnitRemoved");
        assert_false(unit_exists(ctx, unit));
        narrate("[%s] %s is gone (UnitRemoved)", how, unit);
}

static void test_cgroup_kill(void **state) {
        scope_kill_scenario(*state, cgroup_kill, "cgroup.kill");
}

static void test_kill_by_freezing(void **state) {
        scope_kill_scenario(*state, cgroup_kill_by_freezing, "freeze+kill+thaw");
}

/* The supervisor: told its scope's directory, it makes the two leaves, moves itself into "supervisor"
 * and forks a payload process into "payload" that holds a pipe and ignores every polite signal. It reads
 * that pipe to EOF (the payload is dead), says so on drained_fd, and then exits or, if stay, hangs on. */
static _Noreturn void supervisor_main(int go_fd, int report_fd, int drained_fd, bool stay) {
        _cleanup_close_ int scope_fd = -EBADF;
        char dir[4096] = "", b;
        int p[2];
        ssize_t n;
        pid_t pid;

        n = read(go_fd, dir, sizeof(dir) - 1);
        if (n <= 0)
                _exit(EXIT_FAILURE);
        scope_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (scope_fd < 0 || mkdirat(scope_fd, "supervisor", 0755) < 0 ||
                mkdirat(scope_fd, "payload", 0755) < 0 ||
                write_string_file_at(scope_fd, "supervisor/cgroup.procs", "0") < 0 || pipe(p) < 0)
                _exit(EXIT_FAILURE);
        signal(SIGTERM, SIG_IGN);
        pid = fork();
        if (pid < 0)
                _exit(EXIT_FAILURE);
        if (pid == 0) {
                signal(SIGINT, SIG_IGN);
                signal(SIGHUP, SIG_IGN);
                close(p[0]);
                if (write_string_file_at(scope_fd, "payload/cgroup.procs", "0") < 0)
                        _exit(EXIT_FAILURE);
                report_self(report_fd);
                for (;;)
                        pause();
        }
        close(p[1]);
        report_self(report_fd);
        while ((n = read(p[0], &b, 1)) != 0)
                if (n < 0 && errno != EINTR)
                        _exit(EXIT_FAILURE);
        if (write(drained_fd, "d", 1) != 1)
                _exit(EXIT_FAILURE);
        while (stay)
                pause();
        _exit(EXIT_SUCCESS);
}

static void staged_kill_scenario(Ctx *ctx, bool stay, uint64_t grace_usec) {
        _cleanup_close_pair_ int go[2] = { -EBADF, -EBADF }, report[2] = { -EBADF, -EBADF },
                                 drained[2] = { -EBADF, -EBADF };
        _cleanup_(sd_event_source_unrefp) sd_event_source *watch = NULL;
        _cleanup_free_ char *unit = NULL, *path = NULL, *dir = NULL, *sup_path = NULL, *pay_path = NULL;
        _cleanup_close_ int cgfd = -EBADF;
        const char *how = stay ? "staged, supervisor stays" : "staged";
        PidRef child = PIDREF_NULL, payload = PIDREF_NULL;
        pid_t pids[2];
        ScopeResult res;
        bool empty = false;
        uint64_t t0, t1;
        siginfo_t si;
        char b;
        int r;

        assert_int_equal(pipe2(go, O_CLOEXEC), 0);
        assert_int_equal(pipe2(report, O_CLOEXEC), 0);
        assert_int_equal(pipe2(drained, O_CLOEXEC | O_NONBLOCK), 0);
        assert_true(asprintf(&unit, "runner-selftest-%d-%u.scope", (int) getpid(), ++ctx->serial) > 0);

        r = pidref_fork(&child);
        assert_true(r >= 0);
        if (r == 0) {
                safe_close(go[1]);
                safe_close(report[0]);
                safe_close(drained[0]);
                supervisor_main(go[0], report[1], drained[1], stay);
        }
        go[0] = safe_close(go[0]);
        report[1] = safe_close(report[1]);
        drained[1] = safe_close(drained[1]);

        start_scope(ctx, unit, &child, &res);
        if (res.error < 0)
                fail_msg("StartTransientUnit(%s) failed: %d %s", unit, res.error, res.message);
        assert_int_equal(cgroup_pidref_get_path(&child, &path), 0);
        assert_true(asprintf(&dir, "%s%s", ctx->cgroot, path) > 0);
        assert_int_equal(write(go[1], dir, strlen(dir)), (ssize_t) strlen(dir));

        /* Both report once in place: the payload first or the supervisor first. */
        {
                size_t got = 0;

                while (got < sizeof(pids)) {
                        struct pollfd pfd = { .fd = report[0], .events = POLLIN };
                        ssize_t k;

                        assert_int_equal(poll(&pfd, 1, (int) (WAIT_USEC / USEC_PER_MSEC)), 1);
                        k = read(report[0], (char *) pids + got, sizeof(pids) - got);
                        assert_true(k > 0);
                        got += (size_t) k;
                }
        }
        assert_int_equal(pidref_set_pid(&payload, pids[0] == child.pid ? pids[1] : pids[0]), 0);
        assert_int_equal(cgroup_pidref_get_path(&payload, &pay_path), 0);
        path = mfree(path);
        assert_int_equal(cgroup_pidref_get_path(&child, &sup_path), 0);
        narrate("[%s] supervisor %d in %s, payload %d in %s", how, (int) child.pid, sup_path,
                (int) payload.pid, pay_path);
        assert_true(strlen(sup_path) > strlen("/supervisor"));
        assert_string_equal(sup_path + strlen(sup_path) - strlen("/supervisor"), "/supervisor");
        assert_true(strlen(pay_path) > strlen("/payload"));
        assert_string_equal(pay_path + strlen(pay_path) - strlen("/payload"), "/payload");

        cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(cgfd >= 0);
        t0 = now_usec();
        assert_int_equal(
                cgroup_kill_staged(ctx->event, cgfd, "payload", grace_usec, on_empty, &empty, &watch), 0);
        assert_false(empty);
        run_until(ctx, &empty, "the scope to be empty");
        t1 = now_usec();

        /* The payload was killed; the supervisor read its pipe to the end before anything happened to
         * it. */
        assert_int_equal(pidref_wait_exit(&payload, 0), 1);
        pidref_done(&payload);
        assert_int_equal(read(drained[0], &b, 1), 1);
        assert_int_equal(pidref_reap(&child, &si), 0);
        pidref_done(&child);
        if (!stay) {
                narrate("[%s] the supervisor drained its pipe and exited by itself %.1f ms after the kill "
                        "(grace %.0f ms)",
                        how, (double) (t1 - t0) / 1000.0, (double) grace_usec / 1000.0);
                assert_int_equal(si.si_code, CLD_EXITED);
                assert_int_equal(si.si_status, 0);
                assert_true(t1 - t0 < grace_usec);
        } else {
                narrate("[%s] the supervisor drained its pipe, stayed, and was killed %.1f ms after the kill "
                        "(grace %.0f ms: at least that, at most twice)",
                        how, (double) (t1 - t0) / 1000.0, (double) grace_usec / 1000.0);
                assert_int_equal(si.si_code, CLD_KILLED);
                assert_int_equal(si.si_status, SIGKILL);
                assert_true(t1 - t0 >= grace_usec);
                assert_true(t1 - t0 < 2 * grace_usec + 500 * USEC_PER_MSEC);
        }
}

static void test_kill_staged(void **state) {
        staged_kill_scenario(*state, false, 5 * USEC_PER_SEC);
}

static void test_kill_staged_grace(void **state) {
        staged_kill_scenario(*state, true, 400 * USEC_PER_MSEC);
}

static void test_watch_already_empty(void **state) {
        Ctx *ctx = *state;
        _cleanup_(sd_event_source_unrefp) sd_event_source *watch = NULL;
        _cleanup_close_ int cgfd = -EBADF;
        bool empty = false;

        /* runner.slice is empty once the scenarios above are done: the watch must say so from the
         * loop, without any change to cgroup.events to wake it. */
        cgfd = cgroup_open(ctx->cgroot, "/runner.slice");
        assert_true(cgfd >= 0);
        assert_int_equal(cgroup_watch_empty(ctx->event, cgfd, on_empty, &empty, &watch), 0);
        assert_false(empty); /* never from inside the call */
        run_until(ctx, &empty, "an already empty cgroup to be reported");
}

/* A cgroup that is gone before it is watched is empty; one emptied and removed at once, within the
 * 20 ms in which the kernel holds back a second cgroup.events change (the first was its filling), never
 * says "populated 0": the watch must learn it from the removal. Rounds that were slower than that pass
 * by the plain change, so a few are run. */
static void test_watch_removed(void **state) {
        Ctx *ctx = *state;
        _cleanup_free_ char *dir = NULL;
        int r;

        assert_true(asprintf(&dir, "%s/runner.slice/runner-selftest-%d.removed", ctx->cgroot,
                            (int) getpid()) > 0);

        {
                _cleanup_(sd_event_source_unrefp) sd_event_source *watch = NULL;
                _cleanup_close_ int fd = -EBADF;
                bool empty = false;

                assert_int_equal(mkdir(dir, 0755), 0);
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(fd >= 0);
                assert_int_equal(rmdir(dir), 0);
                assert_int_equal(cgroup_watch_empty(ctx->event, fd, on_empty, &empty, &watch), 0);
                assert_false(empty);
                run_until(ctx, &empty, "a removed cgroup to be reported empty");
                watch = sd_event_source_unref(watch);

                /* Killing it has nothing to do, and is no error. */
                empty = false;
                assert_int_equal(cgroup_kill_staged(
                                         ctx->event, fd, "payload", USEC_PER_SEC, on_empty, &empty, &watch),
                        0);
                run_until(ctx, &empty, "a removed cgroup, killed, to be reported empty");
                narrate("a cgroup removed before it was watched or killed is reported empty");
        }

        for (unsigned round = 0; round < 10; round++) {
                _cleanup_(sd_event_source_unrefp) sd_event_source *watch = NULL;
                _cleanup_close_ int fd = -EBADF;
                _cleanup_free_ char *pid = NULL;
                PidRef child = PIDREF_NULL;
                bool empty = false;
                uint64_t t0, t1, t2;
                siginfo_t si;

                assert_int_equal(mkdir(dir, 0755), 0);
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(fd >= 0);
                r = pidref_fork(&child);
                assert_true(r >= 0);
                if (r == 0) {
                        pause();
                        _exit(EXIT_SUCCESS);
                }
                assert_true(asprintf(&pid, "%d", (int) child.pid) > 0);
                t0 = now_usec();
                assert_int_equal(write_string_file_at(fd, "cgroup.procs", pid), 0);
                assert_int_equal(cgroup_watch_empty(ctx->event, fd, on_empty, &empty, &watch), 0);
                assert_int_equal(cgroup_kill(fd), 0);
                assert_int_equal(pidref_reap(&child, &si), 0);
                assert_int_equal(si.si_status, SIGKILL);
                pidref_done(&child);
                assert_int_equal(rmdir(dir), 0);
                t1 = now_usec();
                run_until(ctx, &empty, "a cgroup emptied and removed at once to be reported empty");
                t2 = now_usec();
                narrate("round %u: filled, killed and removed in %.2f ms; reported empty %.2f ms later",
                        round, (double) (t1 - t0) / 1000.0, (double) (t2 - t1) / 1000.0);
        }
}

static _Noreturn void on_alarm(int sig) {
        static const char msg[] = "ERROR: the event loop stopped dispatching (spinning inside libsystemd)\n";

        (void) !write(STDOUT_FILENO, msg, sizeof(msg) - 1);
        _exit(EXIT_FAILURE);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        *(bool *) userdata = true;
        return 0;
}

/* Waits on a plain inotify fd of our own until it has seen each of the wanted masks: the kernel queues an
 * event to every watch of an inode at once, so the loop's own watches have it too by then. */
static void wait_inotify(int fd, const uint32_t *wanted, size_t n) {
        bool seen[8] = {};
        size_t left = n;

        assert_true(n <= ELEMENTSOF(seen));
        while (left > 0) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                union {
                        struct inotify_event ev;
                        char raw[4096];
                } buf;
                ssize_t k;

                assert_int_equal(poll(&pfd, 1, (int) (WAIT_USEC / USEC_PER_MSEC)), 1);
                k = read(fd, &buf, sizeof(buf));
                assert_true(k > 0);
                for (char *p = buf.raw; p < buf.raw + k;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;

                        for (size_t i = 0; i < n; i++)
                                if (!seen[i] && (ev->mask & wanted[i])) {
                                        seen[i] = true;
                                        left--;
                                }
                        p += sizeof(*ev) + ev->len;
                }
        }
}

/* A process of our own, moved into the cgroup. */
static void fill(int cgroup_fd, PidRef *ret) {
        _cleanup_free_ char *pid = NULL;
        pid_t parent = getpid();
        int r;

        r = pidref_fork(ret);
        assert_true(r >= 0);
        if (r == 0) {
                /* Not outliving a test that gave up: it would hold the test's output open. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(EXIT_FAILURE);
                pause();
                _exit(EXIT_SUCCESS);
        }
        assert_true(asprintf(&pid, "%d", (int) ret->pid) > 0);
        assert_int_equal(write_string_file_at(cgroup_fd, "cgroup.procs", pid), 0);
}

static void unfill(PidRef *p) {
        siginfo_t si;

        assert_int_equal(pidref_kill(p, SIGKILL), 0);
        assert_int_equal(pidref_reap(p, &si), 0);
        pidref_done(p);
}

/* The caller may hold a watch long after it fired (a run's slice until the run is freed). Changes that
 * come later, to the cgroup (filled again) and to its parent (a sibling removed), must not stop the
 * loop: libsystemd before v258 spins on an inotify event that no enabled source of its inode wants. */
static void test_watch_after_fired(void **state) {
        Ctx *ctx = *state;
        _cleanup_(sd_event_source_unrefp) sd_event_source *watch = NULL, *tick = NULL;
        _cleanup_free_ char *dir = NULL, *sibling = NULL, *events = NULL, *parent = NULL;
        _cleanup_close_ int fd = -EBADF, ifd = -EBADF;
        const uint32_t wanted[] = { IN_MODIFY, IN_DELETE };
        PidRef child = PIDREF_NULL;
        bool empty = false, ticked = false;

        assert_true(asprintf(&parent, "%s/runner.slice", ctx->cgroot) > 0);
        assert_true(asprintf(&dir, "%s/runner-selftest-%d.fired", parent, (int) getpid()) > 0);
        assert_true(asprintf(&sibling, "%s/runner-selftest-%d.sibling", parent, (int) getpid()) > 0);
        assert_true(asprintf(&events, "%s/cgroup.events", dir) > 0);
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(mkdir(sibling, 0755), 0);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);

        /* Fired by the change of cgroup.events, as after a kill. */
        fill(fd, &child);
        assert_int_equal(cgroup_watch_empty(ctx->event, fd, on_empty, &empty, &watch), 0);
        unfill(&child);
        run_until(ctx, &empty, "the cgroup to be reported empty");

        ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        assert_true(ifd >= 0);
        assert_true(inotify_add_watch(ifd, events, IN_MODIFY) >= 0);
        assert_true(inotify_add_watch(ifd, parent, IN_DELETE) >= 0);
        fill(fd, &child);
        assert_int_equal(rmdir(sibling), 0);
        wait_inotify(ifd, wanted, ELEMENTSOF(wanted));
        narrate("after the watch fired: the cgroup was filled again and a sibling removed");

        signal(SIGALRM, on_alarm);
        alarm(10);
        assert_int_equal(sd_event_add_time_relative(ctx->event, &tick, CLOCK_MONOTONIC, 50 * USEC_PER_MSEC,
                                 0, on_tick, &ticked),
                0);
        run_until(ctx, &ticked, "a 50 ms timer");
        alarm(0);
        narrate("the loop went on dispatching");

        unfill(&child);
        watch = sd_event_source_unref(watch);
        assert_int_equal(rmdir(dir), 0);
}

static int setup(void **state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Ctx *ctx = calloc(1, sizeof(Ctx));
        int r;

        if (!ctx)
                return -1;
        if (sd_event_default(&ctx->event) < 0 || sd_bus_open_system(&ctx->bus) < 0 ||
                sd_bus_attach_event(ctx->bus, ctx->event, SD_EVENT_PRIORITY_NORMAL) < 0 ||
                unit_watcher_new(ctx->bus, &ctx->watcher) < 0)
                return -1;
        r = cgroup_get_root(&ctx->cgroot);
        if (r < 0)
                return -1;
        /* Without a subscription systemd does not broadcast UnitRemoved. */
        r = sd_bus_call_method(ctx->bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager", "Subscribe", &error, NULL, NULL);
        if (r < 0) {
                fprintf(stderr, "Subscribe failed: %s\n", error.message);
                return -1;
        }
        narrate("cgroup2 is mounted at %s", ctx->cgroot);
        *state = ctx;
        return 0;
}

static int teardown(void **state) {
        Ctx *ctx = *state;

        unit_watcher_free(ctx->watcher);
        sd_bus_flush_close_unref(ctx->bus);
        sd_event_unref(ctx->event);
        free(ctx->cgroot);
        free(ctx);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cgroup_kill),
                cmocka_unit_test(test_kill_by_freezing),
                cmocka_unit_test(test_kill_staged),
                cmocka_unit_test(test_kill_staged_grace),
                cmocka_unit_test(test_watch_already_empty),
                cmocka_unit_test(test_watch_removed),
                cmocka_unit_test(test_watch_after_fired),
        };
        _cleanup_free_ char *root = NULL;

        if (geteuid() != 0 || access("/run/systemd/system", F_OK) < 0 || cgroup_get_root(&root) < 0) {
                fprintf(stderr,
                        "needs root, systemd as PID 1 and cgroup2; run it through tests/container/run\n");
                return 77;
        }

        return cmocka_run_group_tests(tests, setup, teardown);
}
