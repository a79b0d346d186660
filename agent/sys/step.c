/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "step-control.h"
#include "step.h"

/* The most descriptors one control message may carry before it is a violation by that fact alone. */
#define STEP_CONTROL_MAX_FDS 8U

struct StepProcess {
        PidRef shim;
        PidRef entry;
        int control_fd;
        ScopeJob *scope_job;
        sd_event_source *control_source;
        sd_event_source *child_source; /* our child: reaped through sd-event */
        sd_event_source *shim_source;  /* adopted, not our child: its pidfd, readable once it exited */
        StepCallbacks callbacks;
        void *userdata;
        StepControlPhase phase;
        bool adopted;  /* from an earlier agent: the shim is not our child */
        bool reported; /* exited() or failed() was called */
        bool shim_gone;
        bool aborted; /* it must not start */
};

const PidRef *step_process_shim(const StepProcess *p) {
        return &p->shim;
}

const PidRef *step_process_entry(const StepProcess *p) {
        return pidref_is_set(&p->entry) ? &p->entry : NULL;
}

bool step_process_shim_gone(const StepProcess *p) {
        return p->shim_gone;
}

static StepProcess *step_process_done(StepProcess *p, bool kill_shim) {
        if (!p)
                return NULL;
        p->scope_job = scope_job_free(p->scope_job);
        p->control_source = sd_event_source_disable_unref(p->control_source);
        p->child_source = sd_event_source_disable_unref(p->child_source);
        p->shim_source = sd_event_source_disable_unref(p->shim_source);
        if (kill_shim && !p->shim_gone && pidref_is_set(&p->shim)) {
                (void) pidref_kill(&p->shim, SIGKILL);
                /* It is our child and nobody else reaps it: without this it would stay a zombie. An
                 * adopted one is PID 1's to reap. */
                if (!p->adopted) {
                        siginfo_t si;
                        (void) pidref_reap(&p->shim, &si);
                }
        }
        pidref_done(&p->shim);
        pidref_done(&p->entry);
        safe_close(p->control_fd);
        free(p);
        return NULL;
}

StepProcess *step_process_free(StepProcess *p) {
        return step_process_done(p, true);
}

StepProcess *step_process_release(StepProcess *p) {
        return step_process_done(p, false);
}

static void report_failed(StepProcess *p, int error, const char *message) {
        if (p->reported)
                return;
        p->reported = true;
        p->callbacks.failed(p, error, message, p->userdata);
}

/* Ends the control channel: nothing more is expected (or believed) from the shim. */
static void control_close(StepProcess *p) {
        p->control_source = sd_event_source_disable_unref(p->control_source);
        p->control_fd = safe_close(p->control_fd);
}

/* The shim broke the control protocol: the step fails, and nothing it says is believed any more. The
 * caller kills the step's scope (see StepCallbacks.failed). */
static void protocol_violation(StepProcess *p, const char *reason) {
        char msg[256];

        control_close(p);
        snprintf(msg, sizeof(msg),
                "runner-step broke the control protocol (%s); the step's result is unknown", reason);
        report_failed(p, -EPROTO, msg);
}

/* Is path DIR/leaf, for some DIR? Returns the length of DIR (0 if not). */
static size_t cgroup_leaf_parent(const char *path, const char *leaf) {
        size_t n = strlen(path), l = strlen(leaf);

        if (n <= l + 1 || path[n - l - 1] != '/' || !streq(path + n - l, leaf))
                return 0;
        return n - l - 1;
}

/* The pidfd attached to "started" must be the shim's child, in the leaf "payload" beside the shim's
 * "supervisor" of the same scope (README, "Cancellation"): a PID the shim names is believed only once the
 * kernel confirms it. A process that is gone already (the entry may exit and be reaped before this
 * runs) cannot be signalled through its pidfd, so it is harmless. */
static int verify_entry(StepProcess *p, int fd, pid_t claimed, PidRef *ret, const char **ret_reason) {
        _cleanup_free_ char *shim_cgroup = NULL, *entry_cgroup = NULL;
        PidRef e = PIDREF_NULL;
        pid_t ppid;
        size_t n;
        int r;

        r = pidref_from_pidfd(fd, &e);
        if (r == -EBADF) {
                *ret_reason = "the descriptor attached to 'started' is not a pidfd";
                return -EPROTO;
        }
        if (r == -ESRCH) {
                *ret = (PidRef){ .pid = claimed, .fd = fd };
                return 0;
        }
        if (r < 0) {
                *ret_reason = "the pidfd attached to 'started' could not be inspected";
                return -EPROTO;
        }
        if (e.pid != claimed) {
                *ret_reason = "'started' names another PID than the pidfd's";
                return -EPROTO;
        }
        r = pidref_get_ppid(&e, &ppid);
        if (r >= 0 && ppid != p->shim.pid) {
                *ret_reason = "the pidfd attached to 'started' is not runner-step's child";
                return -EPROTO;
        }
        if (r >= 0)
                r = cgroup_pidref_get_path(&p->shim, &shim_cgroup);
        if (r >= 0)
                r = cgroup_pidref_get_path(&e, &entry_cgroup);
        if (r >= 0) {
                n = cgroup_leaf_parent(shim_cgroup, STEP_CGROUP_SUPERVISOR);
                if (n == 0 || cgroup_leaf_parent(entry_cgroup, STEP_CGROUP_PAYLOAD) != n ||
                        strncmp(entry_cgroup, shim_cgroup, n) != 0) {
                        *ret_reason = "the pidfd attached to 'started' is of a process outside the "
                                      "payload cgroup of the step's scope";
                        return -EPROTO;
                }
        }
        if (r < 0 && r != -ESRCH) {
                *ret_reason = "the process of the pidfd attached to 'started' could not be inspected";
                return -EPROTO;
        }
        /* -ESRCH: it exited while we looked; it was the shim's child as far as we saw, and a pidfd of an
         * exited process reaches nobody. */
        *ret = e;
        return 0;
}

static int on_control(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        StepProcess *p = userdata;
        /* Room for more descriptors than the protocol allows, so that a message carrying too many is
         * seen as such (and each one closed) rather than cut short by the kernel. */
        union {
                struct cmsghdr cmsg;
                char buf[CMSG_SPACE(sizeof(int) * STEP_CONTROL_MAX_FDS)];
        } control = {};
        char text[STEP_CONTROL_MESSAGE_MAX + 1];
        struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)
        };
        int fds[STEP_CONTROL_MAX_FDS];
        size_t n_fds = 0;
        StepControlMessage m;
        StepControlPhase next;
        const char *reason = NULL;
        ssize_t n;

        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                n = 0;
        }
        /* Every descriptor received is ours to close, whatever the message says. */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                        int k;

                        memcpy(&k, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (n_fds < ELEMENTSOF(fds))
                                fds[n_fds++] = k;
                        else
                                safe_close(k);
                }
        }

        if (n == 0 && n_fds == 0 && !(mh.msg_flags & MSG_CTRUNC)) {
                /* The shim closed its end: it exited. The child source reports how. */
                control_close(p);
                return 0;
        }

        if (mh.msg_flags & MSG_CTRUNC)
                reason = "a message with more descriptors attached than the protocol has";
        else if (mh.msg_flags & MSG_TRUNC)
                reason = "a message longer than any the protocol has";
        else
                (void) step_control_parse(p->phase, text, (size_t) n, n_fds, &m, &next, &reason);
        if (!reason && m.type == STEP_CONTROL_MSG_STARTED) {
                PidRef e = PIDREF_NULL;

                if (verify_entry(p, fds[0], m.pid, &e, &reason) >= 0) {
                        fds[0] = -EBADF; /* now e's */
                        pidref_done(&p->entry);
                        p->entry = e;
                }
        }
        if (!reason && m.type == STEP_CONTROL_MSG_EXITED && pidref_wait_exit(&p->entry, 0) == 0)
                reason = "'exited' while the entry process still runs";
        for (size_t i = 0; i < n_fds; i++)
                safe_close(fds[i]);
        if (reason) {
                protocol_violation(p, reason);
                return 0;
        }

        p->phase = next;
        switch (m.type) {
        case STEP_CONTROL_MSG_STARTED:
                if (p->callbacks.started)
                        p->callbacks.started(p, &p->entry, p->userdata);
                break;
        case STEP_CONTROL_MSG_FAILED: {
                char msg[256];

                control_close(p);
                snprintf(msg, sizeof(msg), "runner-step failed to execute the step's command: %s",
                        strerror(m.error));
                report_failed(p, -m.error, msg);
                break;
        }
        case STEP_CONTROL_MSG_MASK:
                if (p->callbacks.mask)
                        p->callbacks.mask(p, m.value, m.value_len, p->userdata);
                break;
        case STEP_CONTROL_MSG_EXITED:
                /* Nothing more will come: the channel and the entry's pidfd are done with. */
                control_close(p);
                p->entry.fd = safe_close(p->entry.fd);
                if (!p->reported) {
                        p->reported = true;
                        p->callbacks.exited(p, m.code, m.signal, p->userdata);
                }
                break;
        }
        return 0;
}

/* The shim is gone; how it ended is in si if we reaped it, unknown (NULL) if it was adopted. */
static void shim_gone(StepProcess *p, const siginfo_t *si) {
        char msg[128];

        p->shim_gone = true;
        p->child_source = sd_event_source_disable_unref(p->child_source);
        p->shim_source = sd_event_source_disable_unref(p->shim_source);
        /* Its PID stays for is-this-the-shim questions, the descriptor goes (a job may have many
         * finished steps). */
        p->shim.fd = safe_close(p->shim.fd);
        if (p->reported)
                return;
        /* Its last message may still sit in the socket: read it before judging. */
        while (p->control_source && !p->reported)
                if (on_control(NULL, p->control_fd, EPOLLIN, p) < 0 || !p->control_source)
                        break;
        if (p->reported)
                return;
        if (!si)
                snprintf(msg, sizeof(msg), "runner-step ended before the step's command did");
        else if (si->si_code == CLD_EXITED)
                snprintf(msg, sizeof(msg),
                        "runner-step exited with status %d before the step's command ended", si->si_status);
        else
                snprintf(msg, sizeof(msg), "runner-step was killed by signal %d", si->si_status);
        report_failed(p, -EPROTO, msg);
}

static int on_shim_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        shim_gone(userdata, si);
        return 0;
}

static int on_adopted_shim_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        shim_gone(userdata, NULL);
        return 0;
}

static void on_scope(ScopeJob *job, int error, const char *message, void *userdata) {
        StepProcess *p = userdata;
        char msg[512];
        int r;

        p->scope_job = scope_job_free(p->scope_job);
        if (p->aborted) {
                /* Cancelled while the scope was being created: closing the socket makes the held
                 * shim exit without starting anything, and its exit is reported as usual. It was
                 * not reaped before now, so the PID systemd was given could not be recycled. */
                control_close(p);
                return;
        }
        if (error < 0) {
                snprintf(msg, sizeof(msg), "Failed to start scope: %s", message ?: strerror(-error));
                /* Closing the socket tells the held shim to give up. */
                control_close(p);
                report_failed(p, error, msg);
                return;
        }

        p->phase = STEP_CONTROL_RELEASED;
        if (send(p->control_fd, "go", 2, MSG_NOSIGNAL | MSG_DONTWAIT) != 2) {
                r = -errno;
                snprintf(msg, sizeof(msg), "Failed to release runner-step: %s", strerror(-r));
                report_failed(p, r, msg);
        }
}

int step_process_abort(StepProcess *p) {
        if (p->phase != STEP_CONTROL_HELD || p->reported)
                return 0;
        /* Not released and nothing reported: the scope's job is still pending, and on_scope() will
         * see the flag. */
        p->aborted = true;
        return 1;
}

int step_process_start(sd_event *event, UnitWatcher *watcher, const StepParams *params,
        const StepCallbacks *callbacks, void *userdata, StepProcess **ret) {
        _cleanup_(step_process_freep) StepProcess *p = NULL;
        _cleanup_close_pair_ int pair[2] = { -EBADF, -EBADF };
        int r;

        if (!event || !watcher || !params || !params->shim_argv || !params->shim_argv[0] || !callbacks ||
                !callbacks->exited || !callbacks->failed || !ret)
                return -EINVAL;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->shim = PIDREF_NULL;
        p->entry = PIDREF_NULL;
        p->control_fd = -EBADF;
        p->callbacks = *callbacks;
        p->userdata = userdata;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;

        r = pidref_fork(&p->shim);
        if (r < 0)
                return r;
        if (r == 0) {
                sigset_t none;
                int masks = -EBADF, in = -EBADF;

                /* The agent blocks signals for its event loop; the shim starts clean. */
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                /* Out of the way of fds 3 to 5 first. */
                if (params->masks_fd > 0 && (masks = fcntl(params->masks_fd, F_DUPFD_CLOEXEC, 6)) < 0)
                        _exit(127);
                if (params->stdin_fd > 0 && (in = fcntl(params->stdin_fd, F_DUPFD_CLOEXEC, 6)) < 0)
                        _exit(127);
                if (pair[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(pair[1], 3) < 0)
                        _exit(127);
                if (masks >= 0 && dup2(masks, 4) < 0)
                        _exit(127);
                if (in >= 0 && dup2(in, 5) < 0)
                        _exit(127);
                execv(params->shim_argv[0], params->shim_argv);
                _exit(127);
        }
        pair[1] = safe_close(pair[1]);
        p->control_fd = TAKE_FD(pair[0]);

        /* From here the shim is ours until reaped: the child source does that, or step_process_free(). */
        r = sd_event_add_child_pidfd(event, &p->child_source, p->shim.fd, WEXITED, on_shim_exit, p);
        if (r < 0)
                return r;
        r = sd_event_add_io(event, &p->control_source, p->control_fd, EPOLLIN, on_control, p);
        if (r < 0)
                return r;

        r = scope_start(watcher,
                &(ScopeParams){
                        .unit = params->unit,
                        .slice = params->slice,
                        .description = params->description,
                        .pid = &p->shim,
                },
                on_scope, p, &p->scope_job);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(p);
        return 0;
}

int step_process_adopt(sd_event *event, int control_fd, PidRef *shim, PidRef *entry,
        const StepCallbacks *callbacks, void *userdata, StepProcess **ret) {
        _cleanup_(step_process_freep) StepProcess *p = NULL;
        int r;

        if (!event || control_fd < 0 || !pidref_is_set(shim) || !callbacks || !callbacks->exited ||
                !callbacks->failed || !ret)
                return -EINVAL;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->adopted = true;
        p->callbacks = *callbacks;
        p->userdata = userdata;
        p->control_fd = control_fd;
        p->shim = TAKE_PIDREF(*shim);
        p->entry = entry ? TAKE_PIDREF(*entry) : PIDREF_NULL;
        /* Only adopted once 'started' was received (the descriptors are stored then): what may come
         * now is 'exited'. */
        p->phase = STEP_CONTROL_STARTED;

        r = sd_event_add_io(event, &p->shim_source, p->shim.fd, EPOLLIN, on_adopted_shim_exit, p);
        if (r < 0) {
                p->control_fd = -EBADF; /* the caller's on failure */
                return r;
        }
        r = sd_event_add_io(event, &p->control_source, p->control_fd, EPOLLIN, on_control, p);
        if (r < 0) {
                p->control_fd = -EBADF;
                return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

void step_process_drain(int control_fd, const StepCallbacks *callbacks, void *userdata) {
        StepProcess p = {
                .shim = PIDREF_NULL,
                .entry = PIDREF_NULL,
                .control_fd = control_fd,
                .callbacks = *callbacks,
                .userdata = userdata,
                .phase = STEP_CONTROL_STARTED,
                .adopted = true,
                .reported = true, /* the exit file says how it ended: no exited() or failed() */
        };

        /* Only what is there: a shim that lives on (background processes hold its pipes) may keep its
         * end open. on_control() closes ours at 'exited', at the end, or at a message out of turn. */
        while (p.control_fd >= 0) {
                struct pollfd pfd = { .fd = p.control_fd, .events = POLLIN };

                if (poll(&pfd, 1, 0) <= 0)
                        break;
                (void) on_control(NULL, p.control_fd, EPOLLIN, &p);
        }
        safe_close(p.control_fd);
}

int step_process_control_fd(const StepProcess *p) {
        return p->control_fd;
}
