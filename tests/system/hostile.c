/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A hostile workflow's tools, for test-hostile.sh. Two personalities:
 *
 *   hostile step MODE [ARG...]   run by a step (as the step's user): attacks whatever sockets the
 *                                step inherited, as a step could if it inherited the shim's control
 *                                socket
 *       forge-exit               sends "exited 0 0" (a forged success)
 *       signal PID...            sends "started PID" with pidfd_open(PID), for each PID
 *       flood N                  sends N messages, each with two descriptors attached
 *     It prints how many sockets it found, and exits 0.
 *
 *   hostile --user=… … -- CMD    in place of runner-step (RUNNER_STEP_PATH=): a compromised shim. It
 *                                waits for "go" like the real one, then breaks the protocol as the
 *                                step's name (--field=RUNNER_STEP_NAME=) says:
 *       flood                    2000 messages "exited 0 0", each with two descriptors attached
 *       forge-pid:PID            "started PID" with pidfd_open(PID) (a process that is not its child)
 *       not-pidfd                "started 1" with /dev/null attached
 *       early-exit               starts CMD as its child, sends its real pidfd, then "exited 0 0"
 *                                while CMD still runs
 *       outside-payload          starts CMD as its child but in its own cgroup, not in the scope's
 *                                "payload", and reports it honestly otherwise
 *       anything else            behaves: moves itself into the scope's "supervisor", starts CMD in
 *                                its "payload" and reports it honestly
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int send_fds(int sock, const char *text, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr cmsg;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } control = {};
        struct iovec iov = { .iov_base = (void *) text, .iov_len = strlen(text) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n_fds > 0) {
                struct cmsghdr *c;

                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
}

static int flood(int sock, unsigned n) {
        int fds[2];
        unsigned sent = 0;

        fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        for (unsigned i = 0; i < n; i++)
                if (send_fds(sock, "exited 0 0", fds, 2) >= 0)
                        sent++;
        return (int) sent;
}

static int signal_pid(int sock, const char *pid_text) {
        char text[64];
        int fd, r;

        fd = pidfd_open((pid_t) atoi(pid_text), 0);
        if (fd < 0)
                return -errno;
        snprintf(text, sizeof(text), "started %s", pid_text);
        r = send_fds(sock, text, &fd, 1);
        close(fd);
        return r;
}

static int step_main(int argc, char *argv[]) {
        unsigned sockets = 0;

        if (argc < 3)
                return 2;
        for (int fd = 3; fd < 1024; fd++) {
                struct stat st;

                if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
                        continue;
                sockets++;
                if (strcmp(argv[2], "forge-exit") == 0)
                        (void) send_fds(fd, "exited 0 0", NULL, 0);
                else if (strcmp(argv[2], "signal") == 0)
                        for (int i = 3; i < argc; i++)
                                (void) signal_pid(fd, argv[i]);
                else if (strcmp(argv[2], "flood") == 0 && argc > 3)
                        printf("sent %d messages on fd %d\n", flood(fd, (unsigned) atoi(argv[3])), fd);
        }
        printf("hostile step: %u inherited sockets\n", sockets);
        return 0;
}

/* The scope's cgroup directory, from /proc/self/cgroup while the shim is still in it. */
static char scope_dir[4096];

static int write_in_scope(const char *file, const char *text) {
        char path[sizeof(scope_dir) + 64];
        int fd, r = 0;

        snprintf(path, sizeof(path), "%s/%s", scope_dir, file);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (write(fd, text, strlen(text)) < 0)
                r = -errno;
        close(fd);
        return r;
}

/* runner-step's layout (README, Cancellation): the shim in "supervisor", the step in "payload". */
static int enter_supervisor(void) {
        char line[sizeof(scope_dir) - 64], path[sizeof(scope_dir) + 64];
        FILE *f = fopen("/proc/self/cgroup", "re");

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "0::", 3) == 0) {
                        line[strcspn(line, "\n")] = '\0';
                        snprintf(scope_dir, sizeof(scope_dir), "/sys/fs/cgroup%s", line + 3);
                }
        fclose(f);
        snprintf(path, sizeof(path), "%s/supervisor", scope_dir);
        if (mkdir(path, 0755) < 0)
                return -errno;
        snprintf(path, sizeof(path), "%s/payload", scope_dir);
        if (mkdir(path, 0755) < 0)
                return -errno;
        return write_in_scope("supervisor/cgroup.procs", "0");
}

/* The compromised shim: fd 3 is its control socket, as for runner-step. */
static int shim_main(int argc, char *argv[]) {
        const char *mode = "", *prefix = "--field=RUNNER_STEP_NAME=";
        char **cmd = NULL, buf[16], text[64];
        int pidfd = -1, status, moved[2];
        pid_t pid;

        for (int i = 1; i < argc; i++) {
                if (strncmp(argv[i], prefix, strlen(prefix)) == 0)
                        mode = argv[i] + strlen(prefix);
                if (strcmp(argv[i], "--") == 0) {
                        cmd = argv + i + 1;
                        break;
                }
        }
        if (!cmd || !cmd[0])
                return 2;
        if (recv(3, buf, sizeof(buf), 0) != 2)
                return 1;

        if (strcmp(mode, "flood") == 0) {
                flood(3, 2000);
                pause(); /* until the job's end kills the scope */
                return 0;
        }
        if (strncmp(mode, "forge-pid:", 10) == 0) {
                (void) signal_pid(3, mode + 10);
                pause();
                return 0;
        }
        if (strcmp(mode, "not-pidfd") == 0) {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                (void) send_fds(3, "started 1", &fd, 1);
                pause();
                return 0;
        }

        if (strcmp(mode, "outside-payload") != 0 && enter_supervisor() < 0)
                return 1;
        /* The child says when it is where it belongs (payload, or not): "started" must not race its
         * move, or the agent would see it outside payload for the wrong reason. */
        if (pipe2(moved, O_CLOEXEC) < 0)
                return 1;
        pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);

                if (strcmp(mode, "outside-payload") != 0 && write_in_scope("payload/cgroup.procs", "0") < 0)
                        _exit(127);
                (void) !write(moved[1], "m", 1);
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
                close(3);
                execvp(cmd[0], cmd);
                _exit(127);
        }
        close(moved[1]);
        (void) !read(moved[0], buf, 1);
        pidfd = pidfd_open(pid, 0);
        snprintf(text, sizeof(text), "started %d", (int) pid);
        (void) send_fds(3, text, &pidfd, 1);
        if (strcmp(mode, "early-exit") == 0) {
                (void) send_fds(3, "exited 0 0", NULL, 0);
                pause();
                return 0;
        }
        if (waitpid(pid, &status, 0) < 0)
                return 1;
        snprintf(text, sizeof(text), "exited %d %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                WIFEXITED(status) ? 0 : WTERMSIG(status));
        (void) send_fds(3, text, NULL, 0);
        return 0;
}

int main(int argc, char *argv[]) {
        if (argc > 1 && strcmp(argv[1], "step") == 0)
                return step_main(argc, argv);
        return shim_main(argc, argv);
}
