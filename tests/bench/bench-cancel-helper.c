/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The parts of bench-cancel.sh that a shell cannot time well:
 *
 *   sigwait FILE          a step's entry: appends "INT|TERM <CLOCK_REALTIME ns>" to FILE for each SIGINT
 *                         or SIGTERM it receives (taken with sigwaitinfo, so nothing runs in between),
 *                         and never ends on its own
 *   cancel RUN            prints CLOCK_REALTIME ns, then calls runner-agent's Cancel(RUN, false)
 *   recancel RUN RATE MS  calls Cancel(RUN, false) RATE times a second for MS milliseconds, without
 *                         waiting for answers (a run already being cancelled changes nothing, but the
 *                         agent saves its state before it answers); prints the calls sent
 *   count-writes DIR NAME MS
 *                         counts the files NAME renamed into DIR (an atomic write's last act) during MS
 *                         milliseconds, with inotify; prints the count
 *   probe PID MS          what the main thread of PID did during MS milliseconds: the ms it waited for a
 *                         CPU and the ms it ran (schedstat), then of samples taken every 2 ms, how many
 *                         found it on a CPU or waiting for one, in epoll_wait (idle), and in another
 *                         system call (blocked), with the most frequent such call's number
 *   cgkill N REPEAT       the baseline: a cgroup of its own with a shell and N sleeps in it, cgroup.kill,
 *                         then inotify until populated 0; prints the µs of each repetition
 *   baseline pgroup|entry SCRIPT READY GRACE_MS
 *                         the other runners' ways, re-implemented: runs SCRIPT with bash in a cgroup of
 *                         its own and a process group of its own, waits for the file READY and for
 *                         every kind of process of the adversarial tree (as bench-cancel.sh does), then
 *                         pgroup: SIGTERM to the process group, GRACE_MS, SIGKILL to it (GitLab Runner,
 *                         Buildkite); entry: SIGINT, GRACE_MS, SIGTERM, GRACE_MS, SIGKILL to the
 *                         entry's PID only (actions/runner); after another GRACE_MS prints how many
 *                         processes of the tree are still alive (once the count holds still: a busy
 *                         machine may be slow to finish off the killed ones), then kills them with
 *                         cgroup.kill.
 *
 * Needs root and a cgroup2 hierarchy it may create cgroups in (the test container). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static _Noreturn void die(const char *what) {
        fprintf(stderr, "bench-cancel-helper: %s: %s\n", what, strerror(errno));
        exit(2);
}

static _Noreturn void cmd_sigwait(const char *file) {
        sigset_t set;
        int fd;

        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                die("sigprocmask");
        fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
                die(file);
        dprintf(fd, "READY %d\n", (int) getpid());
        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(&set, &si);
                uint64_t t = now_ns(CLOCK_REALTIME);

                if (sig < 0)
                        continue;
                dprintf(fd, "%s %" PRIu64 "\n", sig == SIGINT ? "INT" : "TERM", t);
        }
}

static int cmd_cancel(const char *run) {
        sd_bus *bus = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t id = strtoull(run, NULL, 10);
        uint64_t t;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return fprintf(stderr, "bus: %s\n", strerror(-r)), 2;
        /* Connected first: what is timed is the request, not the connection. */
        r = sd_bus_call_method(bus, "io.runneragent.Agent1", "/io/runneragent/Agent1",
                "io.runneragent.Agent1", "GetRun", &error, NULL, "t", id);
        sd_bus_error_free(&error);
        t = now_ns(CLOCK_REALTIME);
        r = sd_bus_call_method(bus, "io.runneragent.Agent1", "/io/runneragent/Agent1",
                "io.runneragent.Agent1", "Cancel", &error, NULL, "tb", id, 0);
        if (r < 0)
                return fprintf(stderr, "Cancel: %s\n", error.message ?: strerror(-r)), 2;
        printf("%" PRIu64 "\n", t);
        sd_bus_unref(bus);
        return 0;
}

static int cmd_count_writes(const char *dir, const char *name, unsigned ms) {
        int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        uint64_t end;
        unsigned n = 0;

        if (ifd < 0 || inotify_add_watch(ifd, dir, IN_MOVED_TO) < 0)
                die(dir);
        end = now_ns(CLOCK_MONOTONIC) + (uint64_t) ms * 1000000ULL;
        for (;;) {
                char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
                uint64_t t = now_ns(CLOCK_MONOTONIC);
                ssize_t len;

                if (t >= end)
                        break;
                sleep_ms((unsigned) ((end - t) / 1000000ULL < 20 ? (end - t) / 1000000ULL + 1 : 20));
                while ((len = read(ifd, buf, sizeof(buf))) > 0)
                        for (char *p = buf; p < buf + len;) {
                                struct inotify_event *ev = (struct inotify_event *) p;
                                if (ev->len > 0 && strcmp(ev->name, name) == 0)
                                        n++;
                                p += sizeof(*ev) + ev->len;
                        }
        }
        printf("%u\n", n);
        return 0;
}

static void schedstat(pid_t pid, uint64_t *run_ns, uint64_t *wait_ns) {
        char path[64];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int) pid, (int) pid);
        f = fopen(path, "re");
        if (!f || fscanf(f, "%" SCNu64 " %" SCNu64, run_ns, wait_ns) != 2)
                die(path);
        fclose(f);
}

static int cmd_probe(pid_t pid, unsigned ms) {
        uint64_t run0, wait0, run1, wait1, end;
        unsigned total = 0, running = 0, idle = 0, other = 0, counts[512] = {};
        char path[64];
        int top = -1;

        snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int) pid, (int) pid);
        schedstat(pid, &run0, &wait0);
        end = now_ns(CLOCK_MONOTONIC) + (uint64_t) ms * 1000000ULL;
        while (now_ns(CLOCK_MONOTONIC) < end) {
                char buf[256];
                ssize_t n;
                int fd = open(path, O_RDONLY | O_CLOEXEC);

                if (fd < 0)
                        die(path);
                n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (n > 0) {
                        buf[n] = '\0';
                        total++;
                        if (strncmp(buf, "running", 7) == 0)
                                running++;
                        else {
                                int nr = atoi(buf);
                                /* epoll_wait, epoll_pwait, epoll_pwait2 (x86-64) */
                                if (nr == 232 || nr == 281 || nr == 441)
                                        idle++;
                                else {
                                        other++;
                                        if (nr >= 0 && nr < 512 &&
                                                ++counts[nr] > (top >= 0 ? counts[top] : 0))
                                                top = nr;
                                }
                        }
                }
                sleep_ms(2);
        }
        schedstat(pid, &run1, &wait1);
        printf("%.1f %.1f %u %u %u %u %d\n", (double) (wait1 - wait0) / 1e6, (double) (run1 - run0) / 1e6,
                total, running, idle, other, top);
        return 0;
}

static int cmd_recancel(const char *run, unsigned rate, unsigned ms) {
        sd_bus *bus = NULL;
        uint64_t id = strtoull(run, NULL, 10), start, next;
        unsigned n = 0;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return fprintf(stderr, "bus: %s\n", strerror(-r)), 2;
        start = next = now_ns(CLOCK_MONOTONIC);
        while (next < start + (uint64_t) ms * 1000000ULL) {
                sd_bus_message *m = NULL;
                uint64_t t = now_ns(CLOCK_MONOTONIC);

                if (t < next)
                        sleep_ms((unsigned) ((next - t) / 1000000ULL));
                /* On schedule, not after the last answer: the rate is the load's, whatever the agent
                 * does with it (the renames counted beside say what it did). */
                r = sd_bus_message_new_method_call(bus, &m, "io.runneragent.Agent1",
                        "/io/runneragent/Agent1", "io.runneragent.Agent1", "Cancel");
                if (r >= 0)
                        r = sd_bus_message_append(m, "tb", id, 0);
                if (r >= 0)
                        r = sd_bus_message_set_expect_reply(m, 0);
                if (r >= 0)
                        r = sd_bus_send(bus, m, NULL);
                if (r >= 0)
                        r = sd_bus_flush(bus);
                sd_bus_message_unref(m);
                n += r >= 0;
                next += 1000000000ULL / rate;
        }
        printf("%u\n", n);
        sd_bus_unref(bus);
        return 0;
}

static void write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text))
                die(path);
        close(fd);
}

static unsigned count_procs(const char *cg) {
        char path[512], buf[64];
        unsigned n = 0;
        FILE *f;

        snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
        f = fopen(path, "re");
        if (!f)
                return 0;
        while (fgets(buf, sizeof(buf), f))
                n++;
        fclose(f);
        return n;
}

static bool populated(const char *cg) {
        char path[512], buf[256];
        bool p = true;
        FILE *f;

        snprintf(path, sizeof(path), "%s/cgroup.events", cg);
        f = fopen(path, "re");
        if (!f)
                return false;
        while (fgets(buf, sizeof(buf), f))
                if (strncmp(buf, "populated ", 10) == 0)
                        p = buf[10] == '1';
        fclose(f);
        return p;
}

/* cgroup.kill, then inotify on cgroup.events until populated 0; returns the µs in between. */
static uint64_t kill_and_wait(const char *cg) {
        char path[512];
        int ifd = inotify_init1(IN_CLOEXEC);
        uint64_t t0;

        snprintf(path, sizeof(path), "%s/cgroup.events", cg);
        if (ifd < 0 || inotify_add_watch(ifd, path, IN_MODIFY) < 0)
                die("inotify");
        snprintf(path, sizeof(path), "%s/cgroup.kill", cg);
        t0 = now_ns(CLOCK_MONOTONIC);
        write_file(path, "1");
        while (populated(cg)) {
                char ev[4096];
                if (read(ifd, ev, sizeof(ev)) < 0 && errno != EINTR)
                        die("read inotify");
        }
        close(ifd);
        return (now_ns(CLOCK_MONOTONIC) - t0) / 1000;
}

/* Forks a child that joins cg and runs argv; the child's PID. */
static pid_t spawn_in(const char *cg, bool own_pgroup, char *const argv[]) {
        pid_t pid = fork();

        if (pid < 0)
                die("fork");
        if (pid == 0) {
                char path[512], self[32];
                sigset_t none;

                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
                snprintf(self, sizeof(self), "%d", (int) getpid());
                write_file(path, self);
                if (own_pgroup)
                        setpgid(0, 0);
                execvp(argv[0], argv);
                _exit(127);
        }
        if (own_pgroup)
                setpgid(pid, pid);
        return pid;
}

static void make_cgroup(char *cg, size_t size, const char *name) {
        char root[256] = "/sys/fs/cgroup";

        snprintf(cg, size, "%s/%s-%d", root, name, (int) getpid());
        if (mkdir(cg, 0755) < 0 && errno != EEXIST)
                die(cg);
}

static int cmd_cgkill(unsigned n, unsigned repeat) {
        for (unsigned r = 0; r < repeat; r++) {
                char cg[512], script[128];
                pid_t pid;

                make_cgroup(cg, sizeof(cg), "bench-cgkill");
                snprintf(script, sizeof(script), "for i in $(seq %u); do sleep 1000 & done; wait", n);
                pid = spawn_in(cg, false, (char *const[]){ (char *) "bash", (char *) "-c", script, NULL });
                while (count_procs(cg) < n + 1)
                        sleep_ms(20);
                printf("%" PRIu64 "\n", kill_and_wait(cg));
                fflush(stdout);
                waitpid(pid, NULL, 0);
                while (rmdir(cg) < 0 && errno == EBUSY)
                        sleep_ms(5);
        }
        return 0;
}

/* Is a process whose command line starts with the words of want (NUL-separated) in the cgroup? */
static bool cgroup_runs(const char *cg, const char *want, size_t want_len) {
        char path[PATH_MAX], buf[64];
        bool found = false;
        FILE *f;

        snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
        f = fopen(path, "re");
        if (!f)
                return false;
        while (!found && fgets(buf, sizeof(buf), f)) {
                char cmdline[256];
                ssize_t n;
                int fd;

                snprintf(path, sizeof(path), "/proc/%d/cmdline", atoi(buf));
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                n = read(fd, cmdline, sizeof(cmdline));
                close(fd);
                found = n >= (ssize_t) want_len && memcmp(cmdline, want, want_len) == 0;
        }
        fclose(f);
        return found;
}

/* The adversarial tree has grown, as lib.sh's adversarial_tree_grown says it (without the stopped
 * sleep). */
static bool tree_grown(const char *cg) {
        /* argv[0] and argv[1] as /proc/PID/cmdline has them ("\000" is three octal digits at most). */
#define ARGV(s) \
        { s, sizeof(s) - 1 }
        static const struct {
                const char *argv;
                size_t len;
        } want[] = { ARGV("sleep\0001001"), ARGV("sleep\0001002"), ARGV("sleep\0001003"),
                ARGV("reexec-1005"), ARGV("sleep\0001006") };
#undef ARGV

        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                if (!cgroup_runs(cg, want[i].argv, want[i].len))
                        return false;
        return true;
}

/* The number of processes once it has held still for 500 ms (at most 10 s). */
static unsigned count_settled(const char *cg) {
        unsigned last = count_procs(cg), same = 0;

        for (unsigned i = 0; i < 100 && same < 5; i++) {
                unsigned now;

                sleep_ms(100);
                now = count_procs(cg);
                same = now == last ? same + 1 : 0;
                last = now;
        }
        return last;
}

static int cmd_baseline(const char *how, const char *script, const char *ready, unsigned grace) {
        char cg[512];
        unsigned survivors;
        pid_t pid;

        make_cgroup(cg, sizeof(cg), "bench-baseline");
        unlink(ready);
        pid = spawn_in(cg, true, (char *const[]){ (char *) "bash", (char *) script, NULL });
        /* Polls, as bench-cancel.sh's wait_for does: bounded far above what the tree needs. */
        for (unsigned waited = 0; access(ready, F_OK) < 0 || !tree_grown(cg); waited += 10) {
                if (waited > 60000) {
                        fprintf(stderr, "bench-cancel-helper: the adversarial tree did not grow\n");
                        (void) kill_and_wait(cg);
                        return 2;
                }
                sleep_ms(10);
        }

        if (strcmp(how, "pgroup") == 0) {
                kill(-pid, SIGTERM);
                sleep_ms(grace);
                kill(-pid, SIGKILL);
        } else {
                kill(pid, SIGINT);
                sleep_ms(grace);
                kill(pid, SIGTERM);
                sleep_ms(grace);
                kill(pid, SIGKILL);
        }
        waitpid(pid, NULL, 0);
        sleep_ms(grace);
        survivors = count_settled(cg);
        printf("%u\n", survivors);
        (void) kill_and_wait(cg);
        while (rmdir(cg) < 0 && errno == EBUSY)
                sleep_ms(5);
        return 0;
}

int main(int argc, char *argv[]) {
        if (argc == 3 && strcmp(argv[1], "sigwait") == 0)
                cmd_sigwait(argv[2]);
        if (argc == 3 && strcmp(argv[1], "cancel") == 0)
                return cmd_cancel(argv[2]);
        if (argc == 5 && strcmp(argv[1], "recancel") == 0)
                return cmd_recancel(argv[2], (unsigned) atoi(argv[3]), (unsigned) atoi(argv[4]));
        if (argc == 5 && strcmp(argv[1], "count-writes") == 0)
                return cmd_count_writes(argv[2], argv[3], (unsigned) atoi(argv[4]));
        if (argc == 4 && strcmp(argv[1], "probe") == 0)
                return cmd_probe((pid_t) atoi(argv[2]), (unsigned) atoi(argv[3]));
        if (argc == 4 && strcmp(argv[1], "cgkill") == 0)
                return cmd_cgkill((unsigned) atoi(argv[2]), (unsigned) atoi(argv[3]));
        if (argc == 6 && strcmp(argv[1], "baseline") == 0)
                return cmd_baseline(argv[2], argv[3], argv[4], (unsigned) atoi(argv[5]));
        fprintf(stderr, "usage: see the comment at the top of bench-cancel-helper.c\n");
        return 2;
}
