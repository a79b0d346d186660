/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "run.h"
#include "step-commands.h"
#include "step-control.h"
#include "workflow-command.h"

#define QUEUE_MAX 4096U
/* What a message costs the socket's buffer beyond its bytes (the kernel's bookkeeping), generously. */
#define MASK_MESSAGE_OVERHEAD 2048U

/* GitHub's texts, so that logs read the same. */
#define DEPRECATED(cmd) \
        "The `" cmd \
        "` command is deprecated and will be disabled soon. Please upgrade to using Environment " \
        "Files. For more information see: " \
        "https://github.blog/changelog/2022-10-11-github-actions-deprecating-save-state-and-set-output-commands/"
#define DISABLED(cmd) \
        "The `" cmd \
        "` command is disabled. Please upgrade to using Environment Files or opt into unsecure " \
        "command execution by setting the `ACTIONS_ALLOW_UNSECURE_COMMANDS` environment variable to `true`. " \
        "For more information see: " \
        "https://github.blog/changelog/2020-10-01-github-actions-deprecating-set-env-and-add-path-commands/"

void step_commands_done(StepCommands *c) {
        free(c->stop_token);
        for (size_t i = 0; i < c->n_queue; i++)
                free(c->queue[i]);
        free(c->queue);
        mask_list_done(&c->given);
        c->stop_token = NULL;
        c->queue = NULL;
        c->n_queue = 0;
}

/* "##[KIND]TEXT\n" into the log. */
static void emit_marked(StepCommands *c, unsigned stream, const char *kind, const char *text, size_t len) {
        char head[32];
        int n = snprintf(head, sizeof(head), "##[%s]", kind);

        c->emit(c->userdata, stream, head, (size_t) n);
        c->emit(c->userdata, stream, text, len);
        c->emit(c->userdata, stream, "\n", 1);
}

/* A "mask" message for the agent; not queued (out of memory, or a flood beyond the queue): the agent
 * gets the value from the record only (give()). */
static void queue_mask(StepCommands *c, const char *value, size_t len) {
        char *m, **q;

        if (c->n_queue >= QUEUE_MAX) {
                c->unsent_masks++;
                return;
        }
        m = malloc(5 + len + 1);
        q = realloc(c->queue, (c->n_queue + 1) * sizeof(char *));
        if (!m || !q) {
                free(m);
                if (q)
                        c->queue = q;
                c->unsent_masks++;
                return;
        }
        memcpy(m, "mask ", 5);
        memcpy(m + 5, value, len);
        m[5 + len] = '\0';
        c->queue = q;
        c->queue[c->n_queue++] = m;
}

/* A value new to the step, for the job's later steps: into the record (kept at most as large as what a
 * job keeps: the agent would refuse more) and to the agent on the control socket. Values too long, too
 * late (after the exit status) or beyond a job's share are masked in this step only. */
static void give(StepCommands *c, const char *value, size_t len) {
        if (!c->started || len > STEP_CONTROL_MASK_MAX || c->given.n >= RUN_JOB_MASKS_MAX ||
                c->given_size + len > RUN_JOB_MASKS_SIZE_MAX || mask_list_add(&c->given, value, len) < 0) {
                c->dropped_masks++;
                return;
        }
        c->given_size += len;
        queue_mask(c, value, len);
}

/* Whether the control socket has room for a "mask" message of len bytes and still half its buffer
 * for "exited": the agent may be away (restarting) and read nothing for a while, and a flood of masks
 * must not leave the last report waiting for it. 0: room; -EAGAIN: not now (the socket says when,
 * POLLOUT: at a quarter); -ENOSPC: not even then (a small buffer): masked in this step only. */
static int mask_room(int fd, size_t len) {
        int outq = 0, sndbuf = 0;
        socklen_t sl = sizeof(sndbuf);
        size_t need = len + MASK_MESSAGE_OVERHEAD;

        if (ioctl(fd, SIOCOUTQ, &outq) < 0 || getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) < 0 ||
                outq < 0 || sndbuf <= 0)
                return 0; /* cannot tell: the send says */
        if ((size_t) outq + need <= (size_t) sndbuf / 2)
                return 0;
        return (size_t) outq <= (size_t) sndbuf / 4 ? -ENOSPC : -EAGAIN;
}

bool step_commands_send_queue(StepCommands *c, int control_fd) {
        size_t sent = 0;

        while (sent < c->n_queue) {
                int r = mask_room(control_fd, strlen(c->queue[sent]));

                if (r == -EAGAIN)
                        break;
                if (r == -ENOSPC) {
                        c->unsent_masks++;
                        free(c->queue[sent++]);
                        continue;
                }
                if (send(control_fd, c->queue[sent], strlen(c->queue[sent]), MSG_DONTWAIT | MSG_NOSIGNAL) <
                        0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        /* The agent is gone (restarting): the value is masked here regardless. */
                }
                free(c->queue[sent++]);
        }
        if (sent > 0 && sent < c->n_queue) /* no queue yet is NULL: memmove() wants a pointer */
                memmove(c->queue, c->queue + sent, (c->n_queue - sent) * sizeof(char *));
        c->n_queue -= sent;
        return c->n_queue > 0;
}

static void add_mask(StepCommands *c, const WorkflowCommand *cmd) {
        const char *v = cmd->data;
        size_t len = cmd->data_len;
        int r;

        /* As GitHub: surrounding whitespace is not part of the value; a NUL cannot be in output
         * matching anyway and ends the value here. */
        len = strnlen(v, len);
        while (len > 0 && (*v == ' ' || *v == '\t'))
                v++, len--;
        while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
        if (len == 0)
                return;
        r = mask_list_add(c->masks, v, len);
        if (r < 0) {
                c->dropped_masks++;
                return;
        }
        if (r > 0) /* else masked already: a secret, or given before */
                give(c, v, len);
}

/* JSON string of s, masked. */
static void json_string(FILE *f, const MaskList *masks, const char *s, size_t len) {
        _cleanup_free_ char *m = NULL;
        size_t mlen;

        if (mask_string(masks, s, len, &m, &mlen) < 0) {
                fputs("\"\"", f);
                return;
        }
        fputc('"', f);
        for (size_t i = 0; i < mlen; i++) {
                unsigned char ch = (unsigned char) m[i];

                if (ch == '"' || ch == '\\')
                        fprintf(f, "\\%c", ch);
                else if (ch < 0x20 || ch == 0x7f)
                        fprintf(f, "\\u%04x", ch);
                else
                        fputc(ch, f);
        }
        fputc('"', f);
}

static void annotate(
        StepCommands *c, unsigned stream, const WorkflowCommand *cmd, const char *level, unsigned idx) {
        static const char *const numbers[] = { "line", "endLine", "col", "endColumn" };
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        const char *v;
        FILE *f;

        emit_marked(c, stream, level, cmd->data, strnlen(cmd->data, cmd->data_len));
        if (c->annotations_fd < 0 || c->counts[idx] >= STEP_ANNOTATIONS_PER_LEVEL)
                return;
        f = open_memstream(&text, &size);
        if (!f)
                return;
        fprintf(f, "{\"level\":\"%s\",\"message\":", level);
        json_string(f, c->masks, cmd->data, strnlen(cmd->data, cmd->data_len));
        if ((v = workflow_command_property(cmd, "file"))) {
                fputs(",\"file\":", f);
                json_string(f, c->masks, v, strlen(v));
        }
        if ((v = workflow_command_property(cmd, "title"))) {
                fputs(",\"title\":", f);
                json_string(f, c->masks, v, strlen(v));
        }
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++) {
                char *end;
                unsigned long n;

                v = workflow_command_property(cmd, numbers[i]);
                if (!v || *v < '1' || *v > '9')
                        continue;
                errno = 0;
                n = strtoul(v, &end, 10);
                if (errno == 0 && *end == '\0' && n <= 0x7fffffffUL)
                        fprintf(f, ",\"%s\":%lu", numbers[i], n);
        }
        fputs("}\n", f);
        if (fclose(f) != 0)
                return;
        /* One write(2) of a whole line: the agent reads complete lines only. */
        if (write(c->annotations_fd, text, size) == (ssize_t) size)
                c->counts[idx]++;
}

/* ::set-output: NAME<<DELIMITER lines appended to $GITHUB_OUTPUT, as a step would write them. */
static void set_output(StepCommands *c, unsigned stream, const WorkflowCommand *cmd) {
        const char *name = workflow_command_property(cmd, "name");
        _cleanup_free_ char *text = NULL;
        uint8_t rnd[16];
        char delim[64];
        struct stat st;
        int fd, len, k;

        emit_marked(c, stream, "warning", DEPRECATED("set-output"), STRLEN(DEPRECATED("set-output")));
        if (!name || !*name || !c->output_path)
                return;
        if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t) sizeof(rnd))
                return;
        k = snprintf(delim, sizeof(delim), "ghadelimiter_");
        for (size_t i = 0; i < sizeof(rnd); i++)
                k += snprintf(delim + k, sizeof(delim) - (size_t) k, "%02x", rnd[i]);
        len = asprintf(&text, "%s<<%s\n%.*s\n%s\n", name, delim, (int) strnlen(cmd->data, cmd->data_len),
                cmd->data, delim);
        if (len < 0) {
                text = NULL;
                return;
        }
        /* The step's own file, in the agent's directory it cannot change: no symlink followed, and
         * it must still be the regular file the agent made. */
        fd = open(c->output_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
                (void) !write(fd, text, (size_t) len);
        close(fd);
}

void step_commands_line(StepCommands *c, unsigned stream, const char *line, size_t len) {
        WorkflowCommand cmd = {};
        int r;

        if (c->stop_token) {
                if (workflow_command_is_resume(line, len, c->stop_token, strlen(c->stop_token))) {
                        free(c->stop_token);
                        c->stop_token = NULL;
                } else
                        c->emit(c->userdata, stream, line, len);
                return;
        }
        r = workflow_command_parse(line, len, &cmd);
        if (r <= 0) {
                c->emit(c->userdata, stream, line, len);
                return;
        }
        switch (cmd.type) {
        case WORKFLOW_COMMAND_ADD_MASK:
                add_mask(c, &cmd);
                break;
        case WORKFLOW_COMMAND_ERROR:
                annotate(c, stream, &cmd, "error", 0);
                break;
        case WORKFLOW_COMMAND_WARNING:
                annotate(c, stream, &cmd, "warning", 1);
                break;
        case WORKFLOW_COMMAND_NOTICE:
                annotate(c, stream, &cmd, "notice", 2);
                break;
        case WORKFLOW_COMMAND_DEBUG:
                if (c->debug)
                        emit_marked(c, stream, "debug", cmd.data, strnlen(cmd.data, cmd.data_len));
                break;
        case WORKFLOW_COMMAND_GROUP:
                emit_marked(c, stream, "group", cmd.data, strnlen(cmd.data, cmd.data_len));
                break;
        case WORKFLOW_COMMAND_ENDGROUP:
                emit_marked(c, stream, "endgroup", "", 0);
                break;
        case WORKFLOW_COMMAND_STOP_COMMANDS:
                if (cmd.data_len == 0 || memchr(cmd.data, '\0', cmd.data_len)) {
#define BAD_TOKEN "Invalid stop-commands token: it must not be empty"
                        emit_marked(c, stream, "error", BAD_TOKEN, STRLEN(BAD_TOKEN));
                } else {
                        free(c->stop_token);
                        c->stop_token = TAKE_PTR(cmd.data);
                }
                break;
        case WORKFLOW_COMMAND_SET_OUTPUT:
                set_output(c, stream, &cmd);
                break;
        case WORKFLOW_COMMAND_SAVE_STATE:
                /* State is for an action's post step; a run: step has none, as on GitHub. */
                emit_marked(
                        c, stream, "warning", DEPRECATED("save-state"), STRLEN(DEPRECATED("save-state")));
                break;
        case WORKFLOW_COMMAND_SET_ENV:
                emit_marked(c, stream, "error", DISABLED("set-env"), STRLEN(DISABLED("set-env")));
                break;
        case WORKFLOW_COMMAND_ADD_PATH:
                emit_marked(c, stream, "error", DISABLED("add-path"), STRLEN(DISABLED("add-path")));
                break;
        default:
                c->emit(c->userdata, stream, line, len);
        }
        workflow_command_done(&cmd);
}
