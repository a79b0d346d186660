/* SPDX-License-Identifier: GPL-2.0-or-later */
/* runner-step: the shim between the agent and a step's entry process (README, "Running workflows").
 *
 * The agent forks and execs it, hands its PID to systemd for the step's scope, and holds it: the shim
 * waits on its control socket (fd 3) until the agent says the scope exists. Then it moves itself into
 * the scope's leaf cgroup "supervisor" and creates the entry process with clone3(CLONE_PIDFD |
 * CLONE_INTO_CGROUP) in the leaf "payload", as the step's user, with no_new_privs, in the working
 * directory;
 * sends the entry's pidfd to the agent (SCM_RIGHTS); copies the entry's stdout and stderr into the
 * step's log file at the pace the step writes them (step-log.c: complete, or with --max-log-size its
 * head and tail) and, through a queue a thread drains, into journald with the RUNNER_* fields
 * (step-journal.c: never at the step's expense); and records the exit status in a file a restarted
 * agent can read. It keeps copying output after the entry exited while background processes still
 * hold the pipes, so that they never get SIGPIPE. Every kill of the step's processes kills "payload"
 * first: the pipes then reach EOF, and the shim finishes the log and exits; only what is left after a
 * grace is killed with the rest of the scope (README, "Cancellation").
 *
 * Protocol on fd 3 (SOCK_SEQPACKET), one message a line of text:
 *   agent → shim  "go"                  the scope exists; anything else or EOF: exit without running
 *   shim → agent  "started PID"         with the entry's pidfd attached
 *   shim → agent  "failed ERRNO"        the entry could not be executed
 *   shim → agent  "exited CODE SIGNAL"  the entry ended (SIGNAL 0: exited with CODE)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-parse.h"
#include "fileio.h"
#include "macro.h"
#include "mask.h"
#include "step-commands.h"
#include "step-control.h"
#include "step-journal.h"
#include "step-log.h"
#include "workflow-command.h"

#define CONTROL_FD 3
/* Pipes as large as the kernel gives root (up to PIPE_SIZE_MAX; at least pipe-max-size, 1 MiB by
 * default) let the step write on while the shim is between reads; one read takes up to READ_SIZE. A
 * read holds the pipe's lock while it copies, and the step's writes wait for it: with reads of 256 KiB
 * or 1 MiB a step writing lines took longer than with 64 KiB (README, "Benchmarks"). */
#define PIPE_SIZE_MAX (8 * 1024 * 1024)
#define READ_SIZE (64U * 1024U)
/* A read that found less than BATCH_MIN bytes while one stream alone is busy: the shim naps
 * BATCH_NAP_NSEC before the next, so that a step writing fast in small pieces is copied a few large
 * reads at a time rather than one wakeup and three system calls a piece, which on a busy machine take
 * CPU time from the step (README, "Benchmarks"). The pipes hold far more than a nap's worth. */
#define BATCH_MIN READ_SIZE
#define BATCH_NAP_NSEC (250L * 1000L)
/* ... and only while the other stream has been closed or quiet this long: a nap while both write would
 * let a later piece of one overtake an earlier piece of the other. */
#define BATCH_QUIET_NSEC (10LL * 1000LL * 1000LL)
/* A stream that gave data again within this is writing on (a flood), not one line now and then. */
#define BATCH_STREAMING_NSEC (2LL * 1000LL * 1000LL)
/* Once both streams have written, the log takes each one's lines whole: a line not yet ended waits for
 * its newline, up to LINE_HOLD_MAX bytes and LINE_HOLD_NSEC (README, "Running workflows"). */
#define LINE_HOLD_MAX READ_SIZE
#define LINE_HOLD_NSEC (100LL * 1000LL * 1000LL)
/* How long the end of a step waits for journald to take the journal copy's queue (README, "Running
 * workflows"); what is left then is left out of the journal, and stated. */
#define JOURNAL_FLUSH_USEC (2U * 1000U * 1000U)
#define MAX_FIELDS 16U
#define MAX_BINDS 8U
#define ENV_MAX_SIZE (4U * 1024U * 1024U)
#define MOUNTINFO_MAX (16U * 1024U * 1024U)
#define CGROUP_FILE_MAX (64U * 1024U)
/* The masks' descriptor holds at most this (README, "Secrets": the run's secrets and their forms). */
#define MASKS_MAX_SIZE (16U * 1024U * 1024U)

static uid_t arg_uid = (uid_t) -1;
static gid_t arg_gid = (gid_t) -1;
static const char *arg_workdir = NULL;
static const char *arg_workdir_file = NULL;
static const char *arg_log = NULL;
static const char *arg_exit_status = NULL;
static const char *arg_masked_file = NULL;
static const char *arg_env_file = NULL;
static uint64_t arg_max_log_size = 0;
static int arg_masks_fd = -EBADF;
static int arg_stdin_fd = -EBADF;
static bool arg_debug = false;
static const char *arg_annotations = NULL;
static const char *arg_fields[MAX_FIELDS];
static size_t arg_n_fields = 0;
static const char *arg_binds[MAX_BINDS][2]; /* source, mount point */
static size_t arg_n_binds = 0;
static const char *arg_seccomp = NULL;
static bool arg_hide_processes = false;
static bool arg_private_ipc = false;
static struct sock_fprog seccomp_filter = {}; /* read from arg_seccomp before the entry exists */

/* The command line as parsed: a copy, as the original's memory becomes the process's title. */
static char **saved_argv = NULL;

/* journald records the sender's command line (_CMDLINE) with every entry of the journal copy, and a
 * field over its compression threshold (512 bytes) is stored compressed: systemd 252 (Debian 12) then
 * decompresses it for every entry it deduplicates against it, which made each entry cost it 45% more
 * CPU with runner-step's command line of 800 bytes (the paths and fields of a step) than with a short
 * one. So once the arguments are parsed, from a copy, their memory is overwritten with a short title:
 * /proc/PID/cmdline (ps, journald) reads "runner-step UNIT". */
static char **copy_argv(int argc, char *argv[]) {
        char **copy = calloc((size_t) argc + 1, sizeof(char *));

        if (!copy)
                return NULL;
        for (int i = 0; i < argc; i++) {
                copy[i] = strdup(argv[i]);
                if (!copy[i])
                        return NULL; /* the process fails; nothing to free it for */
        }
        return copy;
}

/* The value of --field=NAME=VALUE, or NULL. */
static const char *field_value(const char *name) {
        size_t n = strlen(name);

        for (size_t i = 0; i < arg_n_fields; i++)
                if (strneq(arg_fields[i], name, n) && arg_fields[i][n] == '=')
                        return arg_fields[i] + n + 1;
        return NULL;
}

static void set_title(int argc, char *argv[], const char *unit) {
        char *start = argv[0], *end = argv[0] + strlen(argv[0]) + 1;

        /* The arguments' strings lie one after the other; only that stretch is overwritten. */
        for (int i = 1; i < argc && argv[i] == end; i++)
                end = argv[i] + strlen(argv[i]) + 1;
        memset(start, 0, (size_t) (end - start));
        /* Two arguments, as a command line has them (a space inside one is quoted). */
        snprintf(start, (size_t) (end - start), "runner-step%c%s", '\0', unit ?: "");
}

static int64_t now_nsec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void help(void) {
        printf("%s [OPTIONS...] -- COMMAND [ARGUMENT...]\n\n"
               "Runs one step of a runner-agent job. Started and held by runner-agent, which passes its\n"
               "control socket as fd 3; not meant to be run by hand.\n\n"
               "  -h --help                 Show this help\n"
               "     --version             Show the version\n"
               "     --user=UID:GID        Run the command as this user and group\n"
               "     --workdir=DIR         Run the command in DIR\n"
               "     --workdir-file=FILE   Run the command in the directory FILE names (all of it):\n"
               "                           a directory in no command line\n"
               "     --env-file=FILE       The command's environment: NAME=VALUE entries, each\n"
               "                           ended by a NUL byte\n"
               "     --log=FILE            Append the command's stdout and stderr to FILE\n"
               "     --max-log-size=BYTES  Keep the log within BYTES (K, M, G: 1024-based): beyond it, its\n"
               "                           first 90%% and last 10%% with a line saying what was cut\n"
               "                           (0: unlimited, the default)\n"
               "     --exit-status=FILE    Record the exit status in FILE (written atomically)\n"
               "     --masked-file=FILE    Before the exit status, record the values the step masked\n"
               "                           with ::add-mask:: for the agent in FILE (written atomically,\n"
               "                           0600; each ended by a NUL byte), for an agent that restarts\n"
               "                           after this has exited\n"
               "     --masks-fd=FD         Mask these values as *** in the log and the journal copy:\n"
               "                           FD holds them, each ended by a NUL byte\n"
               "     --stdin-fd=FD         The command's standard input (default /dev/null)\n"
               "     --debug               Keep ::debug:: lines (ACTIONS_STEP_DEBUG)\n"
               "     --annotations=FILE    Append the step's ::error::, ::warning:: and ::notice::\n"
               "                           annotations to FILE, one JSON object a line\n"
               "     --field=NAME=VALUE    Add this journal field to every output line (up to %u)\n"
               "     --bind=SRC:DST        Bind SRC over DST in a mount namespace of the command's own\n"
               "                           (up to %u; both absolute)\n"
               "     --hide-processes      Mount a /proc there that shows the command only its\n"
               "                           user's processes (hidepid=invisible)\n"
               "     --private-ipc         Run the command in an IPC namespace of its own (System V\n"
               "                           IPC and POSIX message queues)\n"
               "     --seccomp=FILE        Load this seccomp BPF program (raw struct sock_filter\n"
               "                           instructions) into the command before executing it\n",
                program_invocation_short_name, MAX_FIELDS, MAX_BINDS);
}

static int parse_size(const char *s, uint64_t *ret) {
        unsigned long long v;
        unsigned shift = 0;
        char *end;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -errno;
        if (*end && end[1] == '\0')
                switch (*end) {
                case 'K':
                        shift = 10;
                        end++;
                        break;
                case 'M':
                        shift = 20;
                        end++;
                        break;
                case 'G':
                        shift = 30;
                        end++;
                        break;
                default:
                        break;
                }
        if (*end || v > (UINT64_MAX >> shift))
                return -EINVAL;
        *ret = (uint64_t) v << shift;
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_USER,
                ARG_WORKDIR,
                ARG_WORKDIR_FILE,
                ARG_ENV_FILE,
                ARG_LOG,
                ARG_EXIT_STATUS,
                ARG_MASKED_FILE,
                ARG_MAX_LOG_SIZE,
                ARG_FIELD,
                ARG_MASKS_FD,
                ARG_STDIN_FD,
                ARG_DEBUG,
                ARG_ANNOTATIONS,
                ARG_BIND,
                ARG_HIDE_PROCESSES,
                ARG_PRIVATE_IPC,
                ARG_SECCOMP,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "user", required_argument, NULL, ARG_USER },
                { "workdir", required_argument, NULL, ARG_WORKDIR },
                { "workdir-file", required_argument, NULL, ARG_WORKDIR_FILE },
                { "env-file", required_argument, NULL, ARG_ENV_FILE },
                { "log", required_argument, NULL, ARG_LOG },
                { "exit-status", required_argument, NULL, ARG_EXIT_STATUS },
                { "masked-file", required_argument, NULL, ARG_MASKED_FILE },
                { "max-log-size", required_argument, NULL, ARG_MAX_LOG_SIZE },
                { "field", required_argument, NULL, ARG_FIELD },
                { "masks-fd", required_argument, NULL, ARG_MASKS_FD },
                { "stdin-fd", required_argument, NULL, ARG_STDIN_FD },
                { "debug", no_argument, NULL, ARG_DEBUG },
                { "annotations", required_argument, NULL, ARG_ANNOTATIONS },
                { "bind", required_argument, NULL, ARG_BIND },
                { "seccomp", required_argument, NULL, ARG_SECCOMP },
                { "hide-processes", no_argument, NULL, ARG_HIDE_PROCESSES },
                { "private-ipc", no_argument, NULL, ARG_PRIVATE_IPC },
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
                case ARG_USER: {
                        unsigned u, g;
                        char end;
                        if (sscanf(optarg, "%u:%u%c", &u, &g, &end) != 2) {
                                fprintf(stderr, "runner-step: --user wants UID:GID, got '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg_uid = u;
                        arg_gid = g;
                        break;
                }
                case ARG_WORKDIR:
                        arg_workdir = optarg;
                        break;
                case ARG_WORKDIR_FILE:
                        arg_workdir_file = optarg;
                        break;
                case ARG_ENV_FILE:
                        arg_env_file = optarg;
                        break;
                case ARG_LOG:
                        arg_log = optarg;
                        break;
                case ARG_EXIT_STATUS:
                        arg_exit_status = optarg;
                        break;
                case ARG_MASKED_FILE:
                        arg_masked_file = optarg;
                        break;
                case ARG_MAX_LOG_SIZE:
                        if (parse_size(optarg, &arg_max_log_size) < 0) {
                                fprintf(stderr, "runner-step: --max-log-size wants BYTES, got '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_FIELD:
                        if (arg_n_fields >= MAX_FIELDS || !strchr(optarg, '=')) {
                                fprintf(stderr, "runner-step: bad or too many --field: '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg_fields[arg_n_fields++] = optarg;
                        break;
                case ARG_MASKS_FD: {
                        unsigned fd;
                        char end;
                        if (sscanf(optarg, "%u%c", &fd, &end) != 1 || fd <= CONTROL_FD || fd > 1024) {
                                fprintf(stderr,
                                        "runner-step: --masks-fd wants a descriptor above 3, got '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        arg_masks_fd = (int) fd;
                        break;
                }
                case ARG_STDIN_FD: {
                        unsigned fd;
                        char end;
                        if (sscanf(optarg, "%u%c", &fd, &end) != 1 || fd <= CONTROL_FD || fd > 1024) {
                                fprintf(stderr,
                                        "runner-step: --stdin-fd wants a descriptor above 3, got '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        arg_stdin_fd = (int) fd;
                        /* Not for the shim's other children, nor left open in the shim's fds. */
                        (void) fcntl(arg_stdin_fd, F_SETFD, FD_CLOEXEC);
                        break;
                }
                case ARG_DEBUG:
                        arg_debug = true;
                        break;
                case ARG_ANNOTATIONS:
                        arg_annotations = optarg;
                        break;
                case ARG_SECCOMP:
                        arg_seccomp = optarg;
                        break;
                case ARG_HIDE_PROCESSES:
                        arg_hide_processes = true;
                        break;
                case ARG_PRIVATE_IPC:
                        arg_private_ipc = true;
                        break;
                case ARG_BIND: {
                        char *colon = strchr(optarg, ':');

                        if (arg_n_binds >= MAX_BINDS || !colon || optarg[0] != '/' || colon[1] != '/') {
                                fprintf(stderr, "runner-step: bad or too many --bind: '%s'\n", optarg);
                                return -EINVAL;
                        }
                        *colon = '\0';
                        arg_binds[arg_n_binds][0] = optarg;
                        arg_binds[arg_n_binds++][1] = colon + 1;
                        break;
                }
                default:
                        return -EINVAL;
                }

        if (optind >= argc) {
                fprintf(stderr, "runner-step: no command given\n");
                return -EINVAL;
        }
        return 1;
}

static int send_message(const char *text, int fd) {
        struct iovec iov = { .iov_base = (void *) text, .iov_len = strlen(text) };
        union {
                struct cmsghdr cmsg;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd >= 0) {
                struct cmsghdr *cmsg;

                mh.msg_control = &control;
                mh.msg_controllen = sizeof(control);
                cmsg = CMSG_FIRSTHDR(&mh);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
        }
        /* The agent may be gone (restarting); the step goes on regardless. */
        return sendmsg(CONTROL_FD, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Blocks until the agent says the scope exists. */
static int wait_for_go(void) {
        char buf[16];
        ssize_t n;

        do
                n = recv(CONTROL_FD, buf, sizeof(buf), 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n != 2 || memcmp(buf, "go", 2) != 0)
                return -ECANCELED;
        return 0;
}

/* --workdir-file: the directory's name may come from a secret, and a command line is anyone's to
 * read (README, "Secrets"). */
static int read_workdir(char **ret) {
        char *text = NULL;
        ssize_t len;

        if (!arg_workdir_file)
                return 0;
        len = read_full_file_at(AT_FDCWD, arg_workdir_file, PATH_MAX, &text);
        if (len < 0)
                return (int) len;
        if (len == 0 || memchr(text, '\0', (size_t) len)) {
                free(text);
                return -EINVAL;
        }
        *ret = text;
        return 0;
}

static int read_env(char ***ret) {
        _cleanup_free_ char *text = NULL;
        char **env;
        size_t n = 0, k = 0;
        ssize_t len;

        if (!arg_env_file) {
                *ret = calloc(1, sizeof(char *));
                return *ret ? 0 : -ENOMEM;
        }
        len = read_full_file_at(AT_FDCWD, arg_env_file, ENV_MAX_SIZE, &text);
        if (len < 0)
                return (int) len;
        for (ssize_t i = 0; i < len; i++)
                n += text[i] == '\0';
        env = calloc(n + 1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        for (ssize_t i = 0; i < len; i += (ssize_t) strlen(text + i) + 1)
                if (text[i] != '\0' && !(env[k++] = strdup(text + i)))
                        return -ENOMEM; /* the process exits right after */
        *ret = env;
        return 0;
}

/* The job's own /tmp, /var/tmp, /dev/shm and home (README, "Steps are untrusted"), as PrivateTmp= does:
 * a mount namespace of the entry's, set up while it is still root, whose mounts do not propagate back
 * to the machine. Every step of the job binds the same directories, so the job sees one of each.
 * With --private-ipc, an IPC namespace of the step's own (systemd's PrivateIPC=): another job's System
 * V IPC objects and POSIX message queues are not there, and the step's own end with it. */
static int private_mounts(void) {
        if (arg_private_ipc && unshare(CLONE_NEWIPC) < 0)
                return -errno;
        if (arg_n_binds == 0 && !arg_hide_processes && !arg_private_ipc)
                return 0;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return -errno;
        for (size_t i = 0; i < arg_n_binds; i++)
                if (mount(arg_binds[i][0], arg_binds[i][1], NULL, MS_BIND | MS_REC, NULL) < 0)
                        return -errno;
        /* A /proc of its own that shows the step only its user's processes (systemd's
         * ProtectProc=invisible): another job's command lines are none of its business. */
        if (arg_hide_processes &&
                mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible") < 0)
                return -errno;
        /* The new IPC namespace's message queues where ls looks for them; mq_open(3) needs no mount. A
         * machine without /dev/mqueue has nothing to show. */
        if (arg_private_ipc &&
                mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
                errno != ENOENT)
                return -errno;
        return 0;
}

/* The steps' seccomp filter, built by the agent (README, "Steps are untrusted"): read before the entry
 * exists, loaded by it last, after no_new_privs and just before exec. */
static int read_seccomp(void) {
        char *text = NULL;
        int len;

        if (!arg_seccomp)
                return 0;
        len = read_full_file_at(AT_FDCWD, arg_seccomp, BPF_MAXINSNS * sizeof(struct sock_filter), &text);
        if (len < 0)
                return len;
        if (len == 0 || (size_t) len % sizeof(struct sock_filter) != 0) {
                free(text);
                return -EBADMSG;
        }
        seccomp_filter = (struct sock_fprog){ .len = (unsigned short) ((size_t) len /
                                                      sizeof(struct sock_filter)),
                .filter = (struct sock_filter *) text };
        return 0;
}

/* The entry process: never returns. */
_Noreturn static void run_entry(char **argv, char **env, int out_fd, int err_fd, int report_fd) {
        sigset_t all;
        int r = 0, null_fd;

        /* What the shim ignores and blocks must not carry over to the step. */
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) signal(sig, SIG_DFL);
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);

        null_fd = arg_stdin_fd >= 0 ? arg_stdin_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
                dup2(err_fd, STDERR_FILENO) < 0)
                r = -errno;
        /* The step gets its stdio and nothing else: above all not the control socket, through which it
         * could speak for the shim to the root agent. Close-on-exec rather than closed, so that the
         * report pipe still carries an exec failure; if the kernel cannot do that, the step does not
         * run. */
        if (r == 0 && close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                r = -errno;
        if (r == 0)
                r = private_mounts();
        if (r == 0 && arg_gid != (gid_t) -1 &&
                (setgroups(0, NULL) < 0 || setresgid(arg_gid, arg_gid, arg_gid) < 0))
                r = -errno;
        if (r == 0 && arg_uid != (uid_t) -1 && setresuid(arg_uid, arg_uid, arg_uid) < 0)
                r = -errno;
        if (r == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                r = -errno;
        if (r == 0 && arg_workdir && chdir(arg_workdir) < 0)
                r = -errno;
        if (r == 0 && seccomp_filter.filter &&
                syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &seccomp_filter) < 0)
                r = -errno;
        if (r == 0) {
                /* PATH for the lookup is the step's own. */
                environ = env;
                execvp(argv[0], argv);
                r = -errno;
        }
        (void) !write(report_fd, &r, sizeof(r));
        _exit(127);
}

/* The step's scope is delegated (README, "Cancellation"): the shim moves itself into its leaf
 * "supervisor" and creates the entry directly in the leaf "payload", so that every process of the step
 * is in "payload" from its first instruction on, and the agent can kill them all while the shim stays
 * to copy what they wrote up to their last byte. Both directories are root's: the step's user can
 * neither leave "payload" nor make cgroups of its own. Only leaves hold processes, as the kernel wants
 * wherever controllers are enabled. Returns the open "payload" directory. */
static int enter_supervisor(void) {
        _cleanup_free_ char *mountinfo = NULL, *self = NULL, *root = NULL, *path = NULL, *full = NULL;
        _cleanup_close_ int scope_fd = -EBADF, supervisor_fd = -EBADF;
        int r, payload_fd;

        r = read_full_file_at(AT_FDCWD, "/proc/self/mountinfo", MOUNTINFO_MAX, &mountinfo);
        if (r >= 0)
                r = mountinfo_find_cgroup2(mountinfo, &root);
        if (r >= 0)
                r = read_full_file_at(AT_FDCWD, "/proc/self/cgroup", CGROUP_FILE_MAX, &self);
        if (r >= 0)
                r = proc_cgroup_find_unified(self, &path);
        if (r < 0)
                return r;
        if (asprintf(&full, "%s%s", root, path) < 0)
                return -ENOMEM;
        scope_fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (scope_fd < 0)
                return -errno;
        /* Made by no one else: the scope is new, and only root can write in it. */
        if (mkdirat(scope_fd, "supervisor", 0755) < 0 || mkdirat(scope_fd, "payload", 0755) < 0)
                return -errno;
        supervisor_fd = openat(scope_fd, "supervisor", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (supervisor_fd < 0)
                return -errno;
        r = write_string_file_at(supervisor_fd, "cgroup.procs", "0");
        if (r < 0)
                return r;
        payload_fd = openat(scope_fd, "payload", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return payload_fd < 0 ? -errno : payload_fd;
}

static pid_t clone_pidfd(int cgroup_fd, int *ret_pidfd) {
        struct clone_args args = {
                .flags = CLONE_PIDFD | CLONE_INTO_CGROUP,
                .pidfd = (uint64_t) (uintptr_t) ret_pidfd,
                .exit_signal = SIGCHLD,
                .cgroup = (uint64_t) cgroup_fd,
        };

        return (pid_t) syscall(SYS_clone3, &args, sizeof(args));
}

/* The directories of --exit-status= and --masked-file=, opened before the step runs, and the files'
 * names in them. */
static int exit_dir_fd = -EBADF, masked_dir_fd = -EBADF;
static const char *exit_name = NULL, *masked_name = NULL;

static int open_dir_of(const char *path, int *ret_fd, const char **ret_name) {
        _cleanup_free_ char *dir = NULL;
        const char *slash;

        if (!path)
                return 0;
        slash = strrchr(path, '/');
        if (!slash || slash[1] == '\0')
                return -EINVAL;
        dir = strndup(path, (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;
        *ret_fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*ret_fd < 0)
                return -errno;
        *ret_name = slash + 1;
        return 0;
}

/* The values masked for the agent so far, where a restarted agent finds them once this has exited and
 * systemd has dropped the control socket with what it held (README, "Workflow commands"). Written
 * before the exit status: an agent that finds that finds these complete. */
static bool record_masked(const StepCommands *commands) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        if (masked_dir_fd < 0)
                return false;
        if (commands->given.n == 0)
                return true;
        r = mask_list_serialize(&commands->given, &text, &len);
        if (r >= 0) {
                r = write_file_atomic_at(masked_dir_fd, masked_name, text, len, 0600);
                explicit_bzero(text, len);
        }
        if (r < 0)
                fprintf(stderr, "runner-step: failed to record the masked values in %s: %s\n",
                        arg_masked_file, strerror(-r));
        return r >= 0;
}

static void record_exit(const siginfo_t *si, int *ret_code, int *ret_signal) {
        char text[64];
        int r;

        *ret_code = si->si_code == CLD_EXITED ? si->si_status : -1;
        *ret_signal = si->si_code == CLD_EXITED ? 0 : si->si_status;
        if (exit_dir_fd < 0)
                return;
        snprintf(text, sizeof(text), "exit_code=%d\nexit_signal=%d\n", *ret_code, *ret_signal);
        r = write_file_atomic_at(exit_dir_fd, exit_name, text, strlen(text), 0640);
        if (r < 0)
                fprintf(stderr, "runner-step: failed to record the exit status in %s: %s\n", arg_exit_status,
                        strerror(-r));
}

/* A stream's last line, not yet ended, held back from the log once the other stream has written. */
typedef struct LineHold {
        char *buf; /* LINE_HOLD_MAX, allocated when first needed */
        size_t len;
        int64_t since; /* when the line began to wait */
} LineHold;

typedef struct Copier {
        int fds[_JOURNAL_STREAM_MAX]; /* the pipes' read ends, O_NONBLOCK; -EBADF once at EOF */
        char *buf;
        MaskList masks;
        MaskFilter filters[_JOURNAL_STREAM_MAX];      /* per stream: a value split between reads is masked */
        CommandScanner scanners[_JOURNAL_STREAM_MAX]; /* per stream: workflow commands, line by line */
        StepCommands commands;
        StepLog log;
        JournalCopy *journal;
        int64_t last_data[_JOURNAL_STREAM_MAX]; /* when each stream last gave data; INT64_MIN / 2: never */
        LineHold holds[_JOURNAL_STREAM_MAX];
} Copier;

/* A log that cannot be written (a full disk) is told once, to the agent's journal through the shim's
 * stderr and in the journal copy; the step goes on. */
static void report_log_error(Copier *c, int r) {
        char text[1024];

        snprintf(text, sizeof(text),
                "runner-step: cannot write to the log %s: %s; the step goes on, and its log ends after %" PRIu64
                " bytes",
                arg_log, strerror(-r), c->log.size);
        fprintf(stderr, "%s\n", text);
        journal_copy_message(c->journal, LOG_ERR, text);
}

/* Bytes to the log; a log that cannot be written is reported, and the step goes on. */
static void log_write(Copier *c, const char *data, size_t len) {
        int r = step_log_write(&c->log, data, len);
        if (r < 0)
                report_log_error(c, r);
}

/* Whether the other stream than i is open and has written. */
static bool other_writes(const Copier *c, unsigned i) {
        unsigned o = 1 - i;

        return c->fds[o] >= 0 && c->last_data[o] != INT64_MIN / 2;
}

/* What stream i held back goes to the log. */
static void release_line(Copier *c, unsigned i) {
        LineHold *h = &c->holds[i];

        if (h->len > 0)
                log_write(c, h->buf, h->len);
        h->len = 0;
}

/* Bytes of stream i to the log. Once the other stream has written too, the last line of what came, if
 * it has no newline yet, waits for the rest (up to LINE_HOLD_MAX bytes and LINE_HOLD_NSEC, or until
 * this stream ends): the other stream's lines go before or after it, never into its middle. One
 * stream alone goes as it comes. */
static void log_stream(Copier *c, unsigned i, const char *data, size_t len) {
        LineHold *h = &c->holds[i];
        const char *end = data + len, *nl;

        if (data[len - 1] == '\n' || !other_writes(c, i)) {
                release_line(c, i);
                log_write(c, data, len);
                return;
        }
        nl = memrchr(data, '\n', len);
        if (nl) {
                release_line(c, i);
                log_write(c, data, (size_t) (nl + 1 - data));
                data = nl + 1;
        }
        if (!h->buf) {
                h->buf = malloc(LINE_HOLD_MAX);
                if (!h->buf) {
                        log_write(c, data, (size_t) (end - data));
                        return;
                }
        }
        if (h->len + (size_t) (end - data) > LINE_HOLD_MAX) {
                /* Too long a line to wait for: it goes as it is. */
                release_line(c, i);
                log_write(c, data, (size_t) (end - data));
                return;
        }
        if (h->len == 0)
                h->since = now_nsec();
        memcpy(h->buf + h->len, data, (size_t) (end - data));
        h->len += (size_t) (end - data);
}

/* Milliseconds until the first held line has waited LINE_HOLD_NSEC (-1: none waits), for poll(). */
static int hold_timeout(const Copier *c) {
        int64_t first = INT64_MAX, left;

        for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++)
                if (c->holds[i].len > 0)
                        first = MIN(first, c->holds[i].since);
        if (first == INT64_MAX)
                return -1;
        left = first + LINE_HOLD_NSEC - now_nsec();
        return left <= 0 ? 0 : (int) (left / 1000000) + 1;
}

/* Bytes of stream i to the log and the journal copy, masked (README, "Secrets"). Without values to
 * mask, the bytes go as they are: no per-byte work. eof: the stream ends (what the filter held back
 * comes out). */
static void copy_out(Copier *c, unsigned i, const char *data, size_t len, bool eof) {
        MaskFilter *f = &c->filters[i];
        int r;

        if (len == 0 && !eof)
                return; /* nothing: above all no automaton built for it after a new ::add-mask:: */
        if (!mask_filter_idle(f)) {
                r = mask_filter_feed(f, data, len, eof);
                if (r < 0) {
                        /* Out of memory: nothing may go out unmasked. */
                        data = "[runner-step: output lost: out of memory while masking]\n";
                        len = strlen(data);
                } else {
                        data = f->out;
                        len = f->out_len;
                }
        }
        if (len > 0) {
                log_stream(c, i, data, len);
                journal_copy_feed(c->journal, i, data, len);
        }
        if (eof)
                release_line(c, i);
}

static void emit_output(void *userdata, unsigned stream, const char *data, size_t len) {
        copy_out(userdata, stream, data, len, false);
}

typedef struct StreamRef {
        Copier *c;
        unsigned stream;
} StreamRef;

static void scanned_output(void *userdata, const char *data, size_t len) {
        StreamRef *ref = userdata;
        copy_out(ref->c, ref->stream, data, len, false);
}

static void scanned_line(void *userdata, const char *data, size_t len) {
        StreamRef *ref = userdata;
        step_commands_line(&ref->c->commands, ref->stream, data, len);
}

static const CommandScannerOps scanner_ops = { .output = scanned_output, .line = scanned_line };

/* Bytes of stream i through the workflow commands' scanner, then masked to the log (eof: the stream
 * ends, or is settled for now). */
static void process(Copier *c, unsigned i, const char *data, size_t len, bool eof) {
        StreamRef ref = { c, i };

        if (command_scanner_feed(&c->scanners[i], data, len, eof, &scanner_ops, &ref) < 0)
                copy_out(c, i, "[runner-step: output lost: out of memory]\n",
                        STRLEN("[runner-step: output lost: out of memory]\n"), false);
        if (eof)
                copy_out(c, i, NULL, 0, true);
}

/* Returns the bytes copied, 0 at EOF, -EAGAIN when nothing is there now. */
static ssize_t pump(Copier *c, unsigned i) {
        ssize_t n;

        do
                n = read(c->fds[i], c->buf, READ_SIZE);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
                return -EAGAIN;
        if (n <= 0) {
                /* EOF, or an error no retry would mend: the stream is done with. */
                process(c, i, NULL, 0, true);
                journal_copy_end_stream(c->journal, i);
                c->fds[i] = safe_close(c->fds[i]);
                return 0;
        }
        c->last_data[i] = now_nsec();
        process(c, i, c->buf, (size_t) n, false);
        return n;
}

/* The largest pipe the kernel gives: root may go beyond pipe-max-size. */
static void grow_pipe(int fd) {
        for (int size = PIPE_SIZE_MAX; size >= 64 * 1024; size /= 2)
                if (fcntl(fd, F_SETPIPE_SZ, size) >= 0)
                        return;
}

/* The masks from --masks-fd; the descriptor is closed: the step must not inherit it. */
static int read_masks(MaskList *l) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = arg_masks_fd;
        ssize_t len;
        int r;

        if (fd < 0)
                return 0;
        arg_masks_fd = -EBADF;
        len = read_full_fd(fd, MASKS_MAX_SIZE, &text);
        if (len < 0)
                return (int) len;
        r = mask_list_parse(text, (size_t) len, l);
        explicit_bzero(text, (size_t) len);
        return r;
}

/* After the entry exited: everything it wrote is in the pipes by now. Bounded (the largest pipe twice
 * over), as background processes may write on. */
static void drain(Copier *c) {
        for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++)
                for (unsigned k = 0; k < 2 * PIPE_SIZE_MAX / READ_SIZE && c->fds[i] >= 0; k++)
                        if (pump(c, i) <= 0)
                                break;
}

/* The log as it stands complete on disk, the journal copy sent (or its gap stated). */
static void settle(Copier *c) {
        int r;

        /* A stream still open (background processes hold it) keeps what the filter and the command
         * scanner held back: it may be the start of a value whose rest comes later, and going out
         * now would let the two pieces stand together in the log. It goes out at the stream's end,
         * which every kill brings about first (payload is killed before the shim). A line held back
         * from the log while the other stream wrote goes now: the log is complete as it stands. */
        for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++)
                release_line(c, i);
        r = step_log_finish(&c->log);
        if (r < 0)
                report_log_error(c, r);
        if (c->log.fd >= 0)
                (void) fdatasync(c->log.fd);
        journal_copy_flush(c->journal, JOURNAL_FLUSH_USEC);
}

int main(int argc, char *argv[]) {
        _cleanup_close_pair_ int out_pipe[2] = { -EBADF, -EBADF }, err_pipe[2] = { -EBADF, -EBADF },
                                 report[2] = { -EBADF, -EBADF };
        _cleanup_close_ int log_fd = -EBADF, pidfd = -EBADF, payload_fd = -EBADF;
        _cleanup_free_ char *buf = NULL, *workdir = NULL;
        Copier c = {
                .fds = { -EBADF, -EBADF },
                .log = STEP_LOG_NULL,
                .last_data = { INT64_MIN / 2, INT64_MIN / 2 },
        };
        char **env = NULL, msg[64];
        bool exited = false, stuck;
        pid_t pid;
        int r, child_error = 0;
        ssize_t n;

        saved_argv = copy_argv(argc, argv);
        if (!saved_argv) {
                fprintf(stderr, "runner-step: out of memory\n");
                return EXIT_FAILURE;
        }
        r = parse_argv(argc, saved_argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        set_title(argc, argv, field_value("RUNNER_UNIT"));
        argv = saved_argv;

        /* The shim outlives polite signals meant for the step (SignalTarget=cgroup sends them to every
         * process of the scope); only the kill of the cgroup ends it early. */
        (void) signal(SIGPIPE, SIG_IGN);
        (void) signal(SIGINT, SIG_IGN);
        (void) signal(SIGTERM, SIG_IGN);
        (void) signal(SIGHUP, SIG_IGN);

        /* fd 3 is for us alone: it must not survive into anything we exec. */
        if (fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC) < 0) {
                fprintf(stderr, "runner-step: no control socket on fd %d: %m\n", CONTROL_FD);
                return EXIT_FAILURE;
        }

        r = open_dir_of(arg_exit_status, &exit_dir_fd, &exit_name);
        if (r < 0) {
                fprintf(stderr, "runner-step: cannot open the directory of %s: %s\n", arg_exit_status,
                        strerror(-r));
                return EXIT_FAILURE;
        }
        r = open_dir_of(arg_masked_file, &masked_dir_fd, &masked_name);
        if (r < 0) /* the socket still carries the values: only a restart may lose some */
                fprintf(stderr,
                        "runner-step: cannot open the directory of %s, the values masked go unrecorded: %s\n",
                        arg_masked_file, strerror(-r));

        r = read_masks(&c.masks);
        if (r < 0) {
                fprintf(stderr, "runner-step: failed to read the masks: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++) {
                mask_filter_init(&c.filters[i], &c.masks);
                command_scanner_init(&c.scanners[i]);
        }
        c.commands = (StepCommands){ .masks = &c.masks,
                .debug = arg_debug,
                .annotations_fd = -EBADF,
                .emit = emit_output,
                .userdata = &c };

        r = read_env(&env);
        if (r < 0) {
                fprintf(stderr, "runner-step: failed to read %s: %s\n", arg_env_file, strerror(-r));
                return EXIT_FAILURE;
        }
        r = read_seccomp();
        if (r < 0) {
                fprintf(stderr, "runner-step: failed to read the seccomp filter %s: %s\n", arg_seccomp,
                        r == -EBADMSG ? "not a BPF program" : strerror(-r));
                return EXIT_FAILURE;
        }
        r = read_workdir(&workdir);
        if (r < 0) {
                fprintf(stderr, "runner-step: failed to read %s: %s\n", arg_workdir_file, strerror(-r));
                return EXIT_FAILURE;
        }
        if (workdir)
                arg_workdir = workdir;

        buf = malloc(READ_SIZE);
        if (!buf || journal_copy_new(arg_fields, arg_n_fields, arg_log, &c.journal) < 0) {
                fprintf(stderr, "runner-step: out of memory\n");
                return EXIT_FAILURE;
        }
        c.buf = buf;

        for (char **e = env; *e; e++)
                if (strncmp(*e, "GITHUB_OUTPUT=", 14) == 0)
                        c.commands.output_path = *e + 14;

        r = wait_for_go();
        if (r < 0)
                return EXIT_FAILURE; /* the agent gave up on this step (its scope failed) */

        if (arg_annotations) {
                c.commands.annotations_fd = open(
                        arg_annotations, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
                if (c.commands.annotations_fd < 0)
                        fprintf(stderr, "runner-step: failed to open %s: %m\n", arg_annotations);
        }

        if (arg_log) {
                /* Read back too: the tail of a cut log is moved (step-log.c). */
                log_fd = open(arg_log, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
                if (log_fd < 0)
                        fprintf(stderr, "runner-step: failed to open %s: %m\n", arg_log);
        }
        if (step_log_init(&c.log, TAKE_FD(log_fd), arg_log, arg_max_log_size) < 0) {
                fprintf(stderr, "runner-step: out of memory\n");
                return EXIT_FAILURE;
        }

        if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0 ||
                pipe2(report, O_CLOEXEC) < 0) {
                snprintf(msg, sizeof(msg), "failed %d", errno);
                (void) send_message(msg, -1);
                return EXIT_FAILURE;
        }
        /* Best effort: the step writes on while the shim is between reads. */
        grow_pipe(out_pipe[0]);
        grow_pipe(err_pipe[0]);

        payload_fd = enter_supervisor();
        if (payload_fd < 0) {
                fprintf(stderr, "runner-step: cannot set up the cgroups of the step's scope: %s\n",
                        strerror(-payload_fd));
                snprintf(msg, sizeof(msg), "failed %d", -payload_fd);
                (void) send_message(msg, -1);
                return EXIT_FAILURE;
        }

        pid = clone_pidfd(payload_fd, &pidfd);
        if (pid < 0) {
                snprintf(msg, sizeof(msg), "failed %d", errno);
                (void) send_message(msg, -1);
                return EXIT_FAILURE;
        }
        if (pid == 0)
                run_entry(argv + optind, env, out_pipe[1], err_pipe[1], report[1]);

        out_pipe[1] = safe_close(out_pipe[1]);
        err_pipe[1] = safe_close(err_pipe[1]);
        report[1] = safe_close(report[1]);
        arg_stdin_fd = safe_close(arg_stdin_fd);

        /* EOF: the exec succeeded (the pipe is O_CLOEXEC); an int: it failed with that -errno. */
        do
                n = read(report[0], &child_error, sizeof(child_error));
        while (n < 0 && errno == EINTR);
        if (n == sizeof(child_error) && child_error < 0) {
                char line[512];
                int len = snprintf(line, sizeof(line), "runner-step: failed to execute %s: %s\n",
                        argv[optind], strerror(-child_error));

                log_write(&c, line, (size_t) MIN(len, (int) sizeof(line) - 1));
                line[strcspn(line, "\n")] = '\0';
                journal_copy_message(c.journal, LOG_ERR, line);
                snprintf(msg, sizeof(msg), "failed %d", -child_error);
                (void) send_message(msg, -1);
        } else {
                snprintf(msg, sizeof(msg), "started %d", (int) pid);
                (void) send_message(msg, pidfd);
                c.commands.started = true;
                journal_copy_start(c.journal);
        }

        c.fds[JOURNAL_STDOUT] = TAKE_FD(out_pipe[0]);
        c.fds[JOURNAL_STDERR] = TAKE_FD(err_pipe[0]);
        for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++)
                (void) fcntl(c.fds[i], F_SETFL, O_NONBLOCK);

        for (;;) {
                struct pollfd p[4] = {
                        { .fd = c.fds[JOURNAL_STDOUT], .events = POLLIN },
                        { .fd = c.fds[JOURNAL_STDERR], .events = POLLIN },
                        { .fd = exited ? -1 : pidfd, .events = POLLIN },
                        /* "mask" messages the socket did not take: never waited for otherwise. */
                        { .fd = c.commands.n_queue > 0 ? CONTROL_FD : -1, .events = POLLOUT },
                };

                if (p[0].fd < 0 && p[1].fd < 0 && exited)
                        break;
                if (poll(p, ELEMENTSOF(p), hold_timeout(&c)) < 0) {
                        if (errno == EINTR)
                                continue;
                        return EXIT_FAILURE;
                }
                /* Whatever is ready, in the order of the streams: what the pipes allow of the order in
                 * which the step wrote to both. */
                ssize_t got[_JOURNAL_STREAM_MAX] = {};
                bool streaming[_JOURNAL_STREAM_MAX] = {};
                int64_t t = now_nsec(), before[_JOURNAL_STREAM_MAX];
                /* A stream with data waiting has written, before the other's read: a line of the
                 * other cut by that read waits for its end (log_stream()). */
                for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++) {
                        before[i] = c.last_data[i];
                        if (p[i].revents & POLLIN)
                                c.last_data[i] = t;
                }
                for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++)
                        if (p[i].revents) {
                                got[i] = pump(&c, i);
                                if (got[i] > 0)
                                        streaming[i] = t - before[i] < BATCH_STREAMING_NSEC;
                        }
                for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++)
                        if (c.holds[i].len > 0 && now_nsec() - c.holds[i].since >= LINE_HOLD_NSEC)
                                release_line(&c, i);
                /* One stream writing on and on in small pieces, the other closed or quiet for a while:
                 * let the pieces gather. Not at a stream's first piece, nor while both write, whose
                 * order the reads keep as far as the pipes allow. */
                for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++) {
                        unsigned o = 1 - i;

                        if (!exited && !p[3].revents && streaming[i] && got[i] < (ssize_t) BATCH_MIN &&
                                got[o] <= 0 && !p[o].revents &&
                                (c.fds[o] < 0 || t - c.last_data[o] > BATCH_QUIET_NSEC)) {
                                (void) nanosleep(&(struct timespec){ .tv_nsec = BATCH_NAP_NSEC }, NULL);
                                break;
                        }
                }

                if (p[3].revents)
                        (void) step_commands_send_queue(&c.commands, CONTROL_FD);

                if (p[2].revents) {
                        siginfo_t si = {};
                        int code, sig;
                        bool recorded;

                        if (waitid((idtype_t) P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0) {
                                if (errno == EINTR)
                                        continue;
                                return EXIT_FAILURE;
                        }
                        exited = true;
                        /* Output the entry wrote just before exiting goes first. */
                        drain(&c);
                        settle(&c);
                        recorded = record_masked(&c.commands);
                        record_exit(&si, &code, &sig);
                        /* Values masked so far go before "exited"; after it the protocol has no room for
                         * them: what the socket does not take now reaches the agent through the record
                         * only, or without one is masked in this step only. */
                        if (step_commands_send_queue(&c.commands, CONTROL_FD))
                                c.commands.unsent_masks += c.commands.n_queue;
                        if (!recorded)
                                c.commands.dropped_masks += c.commands.unsent_masks;
                        c.commands.started = false;
                        if (c.commands.dropped_masks > 0)
                                fprintf(stderr,
                                        "runner-step: %lu value(s) of ::add-mask:: are masked in this step only (longer than %u bytes, or neither the agent's socket nor the record took them)\n",
                                        c.commands.dropped_masks, STEP_CONTROL_MASK_MAX);
                        snprintf(msg, sizeof(msg), "exited %d %d", code, sig);
                        (void) send_message(msg, -1);
                }
        }

        /* What background processes wrote after the entry's exit. */
        settle(&c);
        step_log_done(&c.log);
        for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++)
                free(c.holds[i].buf);
        c.journal = journal_copy_free(c.journal, &stuck);
        if (stuck)
                _exit(EXIT_SUCCESS); /* a thread inside journald: nothing may run after it */
        return EXIT_SUCCESS;
}
