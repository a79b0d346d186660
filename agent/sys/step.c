/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "step.h"

struct StepProcess {
        PidRef shim;
        PidRef entry;
        int control_fd;
        ScopeJob *scope_job;
        sd_event_source *control_source;
        sd_event_source *child_source;
        StepCallbacks callbacks;
        void *userdata;
        bool reported; /* exited() or failed() was called */
        bool shim_gone;
        bool released; /* "go" was sent */
        bool aborted;  /* it must not start */
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

StepProcess *step_process_free(StepProcess *p) {
        if (!p)
                return NULL;
        p->scope_job = scope_job_free(p->scope_job);
        p->control_source = sd_event_source_disable_unref(p->control_source);
        p->child_source = sd_event_source_disable_unref(p->child_source);
        if (!p->shim_gone && pidref_is_set(&p->shim)) {
                siginfo_t si;
                /* It is our child and nobody else reaps it: without this it would stay a zombie. */
                (void) pidref_kill(&p->shim, SIGKILL);
                (void) pidref_reap(&p->shim, &si);
        }
        pidref_done(&p->shim);
        pidref_done(&p->entry);
        safe_close(p->control_fd);
        free(p);
        return NULL;
}

static void report_failed(StepProcess *p, int error, const char *message) {
        if (p->reported)
                return;
        p->reported = true;
        p->callbacks.failed(p, error, message, p->userdata);
}

static int on_control(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        StepProcess *p = userdata;
        union {
                struct cmsghdr cmsg;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        char text[64] = "";
        struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)
        };
        int received_fd = -EBADF, a, b;
        ssize_t n;

        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                n = 0;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                        c->cmsg_len == CMSG_LEN(sizeof(int)))
                        memcpy(&received_fd, CMSG_DATA(c), sizeof(int));

        if (n == 0) {
                /* The shim closed its end: it exited. The child source reports how. */
                p->control_source = sd_event_source_disable_unref(p->control_source);
                safe_close(received_fd);
                return 0;
        }
        text[n] = '\0';

        if (sscanf(text, "started %d", &a) == 1 && received_fd >= 0) {
                pidref_done(&p->entry);
                p->entry = (PidRef){ .pid = a, .fd = received_fd };
                if (p->callbacks.started)
                        p->callbacks.started(p, &p->entry, p->userdata);
                return 0;
        }
        safe_close(received_fd);
        if (sscanf(text, "failed %d", &a) == 1) {
                char msg[256];
                snprintf(msg, sizeof(msg), "runner-step failed to execute the step's command: %s",
                        strerror(a));
                report_failed(p, -a, msg);
        } else if (sscanf(text, "exited %d %d", &a, &b) == 2) {
                if (!p->reported) {
                        p->reported = true;
                        p->callbacks.exited(p, a, b, p->userdata);
                }
        }
        return 0;
}

static int on_shim_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        StepProcess *p = userdata;
        char msg[128];

        p->shim_gone = true;
        p->child_source = sd_event_source_disable_unref(p->child_source);
        if (p->reported)
                return 0;
        /* Its last message may still sit in the socket: read it before judging. */
        while (p->control_source && !p->reported)
                if (on_control(NULL, p->control_fd, EPOLLIN, p) < 0 || !p->control_source)
                        break;
        if (p->reported)
                return 0;
        if (si->si_code == CLD_EXITED)
                snprintf(msg, sizeof(msg),
                        "runner-step exited with status %d before the step's command ended", si->si_status);
        else
                snprintf(msg, sizeof(msg), "runner-step was killed by signal %d", si->si_status);
        report_failed(p, -EPROTO, msg);
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
                p->control_source = sd_event_source_disable_unref(p->control_source);
                p->control_fd = safe_close(p->control_fd);
                return;
        }
        if (error < 0) {
                snprintf(msg, sizeof(msg), "Failed to start scope: %s", message ?: strerror(-error));
                /* Closing the socket tells the held shim to give up. */
                p->control_source = sd_event_source_disable_unref(p->control_source);
                p->control_fd = safe_close(p->control_fd);
                report_failed(p, error, msg);
                return;
        }

        p->released = true;
        if (send(p->control_fd, "go", 2, MSG_NOSIGNAL | MSG_DONTWAIT) != 2) {
                r = -errno;
                snprintf(msg, sizeof(msg), "Failed to release runner-step: %s", strerror(-r));
                report_failed(p, r, msg);
        }
}

int step_process_abort(StepProcess *p) {
        if (p->released || p->reported)
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

                /* The agent blocks signals for its event loop; the shim starts clean. */
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                if (pair[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(pair[1], 3) < 0)
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
