/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The verbs of runnerctl that talk to runner-agent over D-Bus: run, status, list, logs, cancel. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "alloc-util.h"
#include "escape.h"
#include "fileio.h"
#include "json-util.h"
#include "macro.h"
#include "runnerctl.h"
#include "workflow.h"

#define INTERFACE "io.runneragent.Agent1"

static bool colors(void) {
        static int cached = -1;
        if (cached < 0)
                cached = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
        return cached;
}

static const char *color_for(const char *conclusion) {
        if (!colors() || !conclusion)
                return "";
        if (streq(conclusion, "success"))
                return "\033[0;32m";
        if (streq(conclusion, "failure"))
                return "\033[0;31m";
        if (streq(conclusion, "cancelled"))
                return "\033[0;33m";
        return "\033[0;90m";
}

static const char *color_off(const char *conclusion) {
        return colors() && conclusion ? "\033[0m" : "";
}

/* Prints why a call to the agent failed, in words a user can act on, and returns the error as the
 * verbs map it to an exit status: -EACCES when the bus policy or the agent itself refused the caller
 * (both say org.freedesktop.DBus.Error.AccessDenied), -EHOSTDOWN when the agent is not running, r
 * otherwise. The bus's own message names match rules and bus ids; --verbose adds it. */
int agent_error(const char *what, int r, const sd_bus_error *e) {
        bool set = e && sd_bus_error_is_set(e);
        _cleanup_free_ char *message = set && e->message ? escape_for_terminal(e->message) : NULL;
        int ret;

        if (set && sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED)) {
                fprintf(stderr,
                        "runnerctl: access denied: only root and members of the group runner-admin "
                        "may use runner-agent\n");
                ret = -EACCES;
        } else if (set && sd_bus_error_has_name(e, SD_BUS_ERROR_LIMITS_EXCEEDED)) {
                fprintf(stderr,
                        "runnerctl: the system bus refused this client: too many connections or requests at "
                        "once; try again when fewer are waiting\n");
                ret = r;
        } else if (set &&
                sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                fprintf(stderr, "runnerctl: runner-agent is not running (systemctl start runner-agent)\n");
                ret = -EHOSTDOWN;
        } else {
                if (set && strneq(e->name, INTERFACE ".Error.", STRLEN(INTERFACE ".Error.")))
                        /* The agent's own errors are sentences written for the user. */
                        fprintf(stderr, "runnerctl: %s\n", strna(message));
                else if (set)
                        fprintf(stderr, "runnerctl: %s: %s\n", what, message ?: e->name);
                else
                        fprintf(stderr, "runnerctl: %s: %s\n", what, strerror(-r));
                /* Only the two refusals above get their own exit statuses. */
                ret = IN_SET(r, -EACCES, -EHOSTDOWN) ? -EIO : r;
        }

        if (arg_verbose && set)
                fprintf(stderr, "runnerctl: %s: %s: %s\n", what, e->name, strna(message));
        return ret;
}

/* The exit status for r: 0, or an error that agent_error(), bad_reply() or connect_bus() printed. */
int exit_status(int r) {
        if (r >= 0)
                return 0;
        if (r == -EACCES)
                return EXIT_ACCESS_DENIED;
        if (r == -EHOSTDOWN)
                return EXIT_AGENT_UNREACHABLE;
        return EXIT_FAILED;
}

int bad_reply(const char *what, int r) {
        fprintf(stderr, "runnerctl: %s: cannot read the agent's reply: %s\n", what, strerror(-r));
        return r;
}

int connect_bus(sd_bus **ret) {
        int r = sd_bus_open_system(ret);
        if (r < 0) {
                fprintf(stderr, "runnerctl: cannot connect to the system bus: %s\n", strerror(-r));
                return -EHOSTDOWN;
        }
        return 0;
}

static int get_run(sd_bus *bus, uint64_t id, json_object **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        int r;

        r = sd_bus_call_method(
                bus, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE, "GetRun", &error, &reply, "t", id);
        if (r < 0)
                return agent_error("GetRun", r, &error);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return bad_reply("GetRun", r);
        *ret = json_tokener_parse(text);
        return *ret ? 0 : bad_reply("GetRun", -EBADMSG);
}

static const char *jstr(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !v)
                return NULL;
        return json_object_get_string(v);
}

static json_object *jget(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int exit_code_for(const char *conclusion) {
        if (conclusion && streq(conclusion, "success"))
                return 0;
        if (conclusion && streq(conclusion, "cancelled"))
                return EXIT_RUN_CANCELLED;
        return EXIT_FAILED;
}

/* Replaces every string in o, at any depth, by its escape_for_terminal() form: the tables print names,
 * ids, messages and sources of a workflow, and this way none of them is missed. Keys are left alone;
 * the tables print none that a workflow chose. */
static int escape_json_strings(json_object *o) {
        int r;

        switch (json_object_get_type(o)) {
        case json_type_string: {
                _cleanup_free_ char *e = escape_for_terminal_length(
                        json_object_get_string(o), (size_t) json_object_get_string_len(o));
                if (!e || json_object_set_string(o, e) == 0)
                        return -ENOMEM;
                return 0;
        }
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++) {
                        r = escape_json_strings(json_object_array_get_idx(o, i));
                        if (r < 0)
                                return r;
                }
                return 0;
        case json_type_object: {
                json_object_object_foreach(o, key, value) {
                        (void) key;
                        r = escape_json_strings(value);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        default:
                return 0;
        }
}

/* ---- following a run ---- */

typedef struct LogStream {
        char *job;
        unsigned step;
        int fd;
        sd_event_source *watch;
        bool finished; /* printed to its end */
} LogStream;

typedef struct Follower {
        sd_bus *bus;
        sd_event *event;
        uint64_t id;
        const char *job_filter;
        unsigned step_filter; /* 0: all */
        bool print_logs;
        bool live;
        LogStream *streams;
        size_t n_streams, allocated;
        const LogStream *last_printed;
        char *conclusion; /* set once the run completed */
        int error;
} Follower;

static void follower_done(Follower *f) {
        for (size_t i = 0; i < f->n_streams; i++) {
                free(f->streams[i].job);
                safe_close(f->streams[i].fd);
                sd_event_source_disable_unref(f->streams[i].watch);
        }
        free(f->streams);
        free(f->conclusion);
}

static LogStream *stream_get(Follower *f, const char *job, unsigned step) {
        for (size_t i = 0; i < f->n_streams; i++)
                if (f->streams[i].step == step && streq(f->streams[i].job, job))
                        return &f->streams[i];
        return NULL;
}

static void stream_copy(Follower *f, LogStream *s) {
        char buf[65536];
        ssize_t n;

        while ((n = read(s->fd, buf, sizeof(buf))) > 0) {
                if (f->last_printed != s && (f->n_streams > 1 || !f->job_filter)) {
                        _cleanup_free_ char *job = escape_for_terminal(s->job);
                        printf("%s==> job %s, step %u <==%s\n", colors() ? "\033[1m" : "", strna(job),
                                s->step, colors() ? "\033[0m" : "");
                        f->last_printed = s;
                }
                /* The step's own output, as it wrote it (as cat of the log file would print it). */
                fwrite(buf, 1, (size_t) n, stdout);
        }
        fflush(stdout);
}

static int on_log_modified(sd_event_source *src, const struct inotify_event *ev, void *userdata) {
        Follower *f = userdata;
        LogStream *s = NULL;

        for (size_t i = 0; i < f->n_streams; i++)
                if (f->streams[i].watch == src)
                        s = &f->streams[i];
        if (s && s->fd >= 0)
                stream_copy(f, s);
        return 0;
}

static bool wanted(Follower *f, const char *job, unsigned step) {
        if (!f->print_logs)
                return false;
        if (f->job_filter && !streq(f->job_filter, job))
                return false;
        return f->step_filter == 0 || f->step_filter == step;
}

/* Opens the step's log (once) and prints what is there; completed: to its end, and stops watching. */
static void follow_step(Follower *f, const char *job, unsigned step, bool completed) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        LogStream *s;
        int fd, r;

        if (!wanted(f, job, step))
                return;
        s = stream_get(f, job, step);
        if (s && s->finished)
                return;
        if (!s) {
                r = sd_bus_call_method(f->bus, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE, "OpenLog",
                        &error, &reply, "tsu", f->id, job, step);
                if (r < 0) {
                        /* Not written yet: the next change of the step tries again. */
                        if (!sd_bus_error_has_name(&error, INTERFACE ".Error.NoSuchLog"))
                                (void) agent_error("OpenLog", r, &error);
                        return;
                }
                r = sd_bus_message_read(reply, "h", &fd);
                if (r < 0)
                        return;
                if (array_grow((void **) &f->streams, &f->allocated, f->n_streams + 1, sizeof(LogStream)) <
                        0) {
                        f->error = -ENOMEM;
                        return;
                }
                s = &f->streams[f->n_streams++];
                *s = (LogStream){ .job = strdup(job), .step = step, .fd = fcntl(fd, F_DUPFD_CLOEXEC, 3) };
                if (!s->job || s->fd < 0) {
                        f->error = -ENOMEM;
                        return;
                }
                if (f->live && !completed) {
                        char path[64];
                        snprintf(path, sizeof(path), "/proc/self/fd/%d", s->fd);
                        r = sd_event_add_inotify(f->event, &s->watch, path, IN_MODIFY, on_log_modified, f);
                        if (r < 0)
                                fprintf(stderr, "runnerctl: cannot watch the log of step %u: %s\n", step,
                                        strerror(-r));
                }
        }
        stream_copy(f, s);
        if (completed) {
                s->finished = true;
                s->watch = sd_event_source_disable_unref(s->watch);
                s->fd = safe_close(s->fd);
        }
}

static void follow_run_json(Follower *f, json_object *run) {
        json_object *jobs = jget(run, "jobs");

        for (size_t i = 0; jobs && i < json_object_array_length(jobs); i++) {
                json_object *job = json_object_array_get_idx(jobs, i), *steps = jget(job, "steps");
                for (size_t k = 0; steps && k < json_object_array_length(steps); k++) {
                        json_object *step = json_object_array_get_idx(steps, k);
                        const char *status = jstr(step, "status");
                        if (!jstr(step, "unit") || !status || streq(status, "queued"))
                                continue;
                        follow_step(f, jstr(job, "id"), (unsigned) json_object_get_int(jget(step, "number")),
                                streq(status, "completed"));
                }
        }
        if (streq(jstr(run, "status") ?: "", "completed") && !f->conclusion) {
                f->conclusion = strdup(jstr(run, "conclusion") ?: "failure");
                if (!f->conclusion)
                        f->error = -ENOMEM;
        }
}

static int on_step_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Follower *f = userdata;
        const char *job, *status, *conclusion;
        uint64_t id;
        uint32_t step;

        if (f->id == 0 || sd_bus_message_read(m, "tsuss", &id, &job, &step, &status, &conclusion) < 0 ||
                id != f->id)
                return 0;
        if (!streq(status, "queued"))
                follow_step(f, job, step, streq(status, "completed"));
        return 0;
}

static int on_run_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Follower *f = userdata;
        _cleanup_(json_object_putp) json_object *run = NULL;
        const char *status, *conclusion;
        uint64_t id;

        if (f->id == 0 || sd_bus_message_read(m, "tss", &id, &status, &conclusion) < 0 || id != f->id)
                return 0;
        if (!streq(status, "completed"))
                return 0;
        /* A last look: steps whose final change we have not seen yet are printed to their end. */
        if (get_run(f->bus, f->id, &run) >= 0)
                follow_run_json(f, run);
        return 0;
}

static int follower_subscribe(Follower *f) {
        int r;

        r = sd_bus_match_signal(f->bus, NULL, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE, "StepChanged",
                on_step_changed, f);
        if (r >= 0)
                r = sd_bus_match_signal(f->bus, NULL, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE,
                        "RunChanged", on_run_changed, f);
        if (r == -ENOBUFS)
                /* org.freedesktop.DBus.Error.LimitsExceeded: dbus-daemon allows one user 256 connections. */
                fprintf(stderr,
                        "runnerctl: the system bus refused this client: too many connections or requests at "
                        "once (org.freedesktop.DBus.Error.LimitsExceeded); try again when fewer are waiting\n");
        else if (r < 0)
                fprintf(stderr, "runnerctl: failed to subscribe to the agent's signals: %s\n", strerror(-r));
        return r;
}

/* Subscribed first, then synchronised with GetRun: no change falls between the two. */
static int follower_run(Follower *f) {
        _cleanup_(json_object_putp) json_object *run = NULL;
        int r;

        r = get_run(f->bus, f->id, &run);
        if (r < 0)
                return r;
        follow_run_json(f, run);

        while (!f->conclusion && f->error == 0) {
                r = sd_event_run(f->event, UINT64_MAX);
                if (r < 0) {
                        fprintf(stderr, "runnerctl: %s\n", strerror(-r));
                        return r;
                }
        }
        return f->error;
}

static int follower_init(Follower *f, sd_bus *bus) {
        int r;

        f->bus = bus;
        r = sd_event_default(&f->event);
        if (r >= 0)
                r = sd_bus_attach_event(bus, f->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                fprintf(stderr, "runnerctl: %s\n", strerror(-r));
        return r;
}

/* ---- verbs ---- */

/* The loader's lines, as `runnerctl validate` prints them; they quote the workflow's text. */
static void print_escaped_lines(const char *text) {
        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\n");
                _cleanup_free_ char *e = escape_for_terminal_length(p, n);

                fprintf(stderr, "%s\n", strna(e));
                p += n;
                if (*p == '\n')
                        p++;
        }
}

static int append_assignments(sd_bus_message *m, const char *key, char **l, size_t n) {
        int r;

        if (n == 0)
                return 0;
        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a{ss}");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{ss}");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *name = strndup(l[i], strcspn(l[i], "="));

                r = name ? sd_bus_message_append(m, "{ss}", name, l[i] + strlen(name) + 1) : -ENOMEM;
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* SubmitWithOptions()'s a{sv} (README, "D-Bus API"). */
static int append_options(sd_bus_message *m, const RunSource *src) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_event)
                r = sd_bus_message_append(m, "{sv}", "event_name", "s", arg_event);
        if (r >= 0 && arg_event_json)
                r = sd_bus_message_append(m, "{sv}", "event", "s", arg_event_json);
        if (r >= 0)
                r = append_assignments(m, "inputs", arg_inputs, arg_n_inputs);
        if (r >= 0)
                r = append_assignments(m, "vars", arg_vars, arg_n_vars);
        if (r >= 0 && src->sha)
                r = sd_bus_message_append(m, "{sv}", "sha", "s", src->sha);
        if (r >= 0 && src->ref)
                r = sd_bus_message_append(m, "{sv}", "ref", "s", src->ref);
        if (r >= 0 && src->repository)
                r = sd_bus_message_append(m, "{sv}", "repository", "s", src->repository);
        if (r >= 0 && src->fd >= 0)
                r = sd_bus_message_append(
                        m, "{sv}{sv}", "source", "h", src->fd, "source_format", "s", src->format);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* Submit(), SubmitWithSecrets() with the secrets given (README, "Secrets"), or SubmitWithOptions()
 * with a source or contexts. */
static int submit(sd_bus *bus, const char *source, const char *text, const RunSource *src,
        sd_bus_error *error, sd_bus_message **reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        bool options = src->fd >= 0 || src->sha || arg_event || arg_event_json || arg_n_inputs > 0 ||
                arg_n_vars > 0;
        int r;

        if (arg_n_secrets == 0 && !options)
                return sd_bus_call_method(bus, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE, "Submit", error,
                        reply, "ss", source, text);
        r = sd_bus_message_new_method_call(bus, &m, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE,
                options ? "SubmitWithOptions" : "SubmitWithSecrets");
        if (r >= 0)
                r = sd_bus_message_sensitive(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", source, text);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{ss}");
        for (size_t i = 0; r >= 0 && i < arg_n_secrets; i++) {
                _cleanup_free_ char *name = strndup(arg_secrets[i], strcspn(arg_secrets[i], "="));

                r = name ? sd_bus_message_append(m, "{ss}", name, arg_secrets[i] + strlen(name) + 1)
                         : -ENOMEM;
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0 && options)
                r = append_options(m, src);
        if (r < 0)
                return sd_bus_error_set_errno(error, r);
        return sd_bus_call(bus, m, 0, error, reply);
}

int verb_run(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *text = NULL, *source = NULL, *conclusion = NULL;
        _cleanup_(run_source_done) RunSource src = { .fd = -EBADF };
        const char *path = argv[1];
        bool wait = arg_wait || arg_follow;
        Follower f = {};
        int c, r;

        r = read_workflow_file(path, &text);
        if (r < 0)
                return EXIT_FAILED;
        /* A D-Bus string cannot carry it. */
        if (memchr(text, 0, (size_t) r)) {
                _cleanup_free_ char *e = escape_for_terminal(path);
                fprintf(stderr, "%s: the file contains a NUL byte\n", strna(e));
                return EXIT_FAILED;
        }
        source = realpath(path, NULL);
        if (run_source_make(source ?: path, arg_source, arg_no_source, &src) < 0)
                return EXIT_FAILED;

        r = connect_bus(&bus);
        if (r < 0)
                return exit_status(r);
        if (wait) {
                f.print_logs = arg_follow;
                f.live = arg_follow;
                if (follower_init(&f, bus) < 0 || follower_subscribe(&f) < 0) {
                        follower_done(&f);
                        return EXIT_FAILED;
                }
        }

        r = submit(bus, source ?: path, text, &src, &error, &reply);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, INTERFACE ".Error.InvalidWorkflow"))
                        print_escaped_lines(error.message);
                else
                        r = agent_error("Submit", r, &error);
                follower_done(&f);
                sd_event_unref(f.event);
                return exit_status(r);
        }
        r = sd_bus_message_read(reply, "t", &f.id);
        if (r < 0) {
                (void) bad_reply("Submit", r);
                follower_done(&f);
                sd_event_unref(f.event);
                return EXIT_FAILED;
        }
        printf("%" PRIu64 "\n", f.id);
        fflush(stdout);
        if (!wait)
                return 0;

        r = follower_run(&f);
        if (r >= 0) {
                conclusion = escape_for_terminal(f.conclusion);
                fprintf(stderr, "Run %" PRIu64 " concluded %s%s%s.\n", f.id, color_for(f.conclusion),
                        strna(conclusion), color_off(f.conclusion));
        }
        c = r < 0 ? exit_status(r) : exit_code_for(f.conclusion);
        follower_done(&f);
        sd_bus_detach_event(bus);
        sd_event_unref(f.event);
        return c;
}

/* A step's ::error:: and friends: "error a.c:3:5: title: message". */
static void print_annotations(json_object *list) {
        for (size_t i = 0; list && i < json_object_array_length(list); i++) {
                json_object *a = json_object_array_get_idx(list, i);
                const char *level = jstr(a, "level"),
                           *color = level && streq(level, "error") ? "failure" : NULL;

                printf("%-16s %-4s   %s%s%s ", "", "", color_for(color), strna(level), color_off(color));
                if (jstr(a, "file")) {
                        printf("%s", jstr(a, "file"));
                        if (jstr(a, "line"))
                                printf(":%s", jstr(a, "line"));
                        if (jstr(a, "line") && jstr(a, "col"))
                                printf(":%s", jstr(a, "col"));
                        printf(": ");
                }
                if (jstr(a, "title"))
                        printf("%s: ", jstr(a, "title"));
                printf("%s\n", strna(jstr(a, "message")));
        }
}

/* "concurrency" of a run or job: the group it waits for (pending) or holds (README, "Concurrency
 * groups"). */
static void print_group(const char *indent, json_object *o) {
        json_object *c = jget(o, "concurrency"), *pending = c ? jget(c, "pending") : NULL;

        if (!c || !jstr(c, "group"))
                return;
        if (pending && json_object_get_boolean(pending))
                printf("%spending: waits for concurrency group '%s'\n", indent, jstr(c, "group"));
        else
                printf("%sconcurrency group '%s'\n", indent, jstr(c, "group"));
}

/* run has had its strings escaped (escape_json_strings()). */
static void print_status_table(json_object *run) {
        json_object *jobs = jget(run, "jobs");
        const char *conclusion = jstr(run, "conclusion");

        printf("Run %s (%s, %s): %s%s%s%s%s\n", jstr(run, "id"), jstr(run, "name") ?: "-",
                jstr(run, "source"), jstr(run, "status"), conclusion ? ", " : "", color_for(conclusion),
                conclusion ?: "", color_off(conclusion));
        print_group("  ", run);
        if (jstr(run, "cancel_reason"))
                printf("  cancelled by %s (reason: %s%s%s)\n", jstr(run, "cancelled_by") ?: "-",
                        jstr(run, "cancel_reason"), jstr(run, "cancel_cause") ? ", caused by run " : "",
                        jstr(run, "cancel_cause") ?: "");
        if (jstr(run, "started_at"))
                printf("  started %s%s%s\n", jstr(run, "started_at"),
                        jstr(run, "completed_at") ? ", completed " : "", jstr(run, "completed_at") ?: "");
        printf("\n%-16s %-4s %-24s %-12s %-10s %-10s %s\n", "JOB", "STEP", "NAME", "STATUS", "OUTCOME",
                "CONCLUSION", "UNIT");
        for (size_t i = 0; jobs && i < json_object_array_length(jobs); i++) {
                json_object *job = json_object_array_get_idx(jobs, i), *steps = jget(job, "steps");
                const char *jc = jstr(job, "conclusion");

                printf("%-16s %-4s %-24.24s %-12s %-10s %s%-10s%s %s\n", jstr(job, "id"), "-",
                        jstr(job, "name") ?: jstr(job, "id"), jstr(job, "status"),
                        jstr(job, "outcome") ?: "-", color_for(jc), jc ?: "-", color_off(jc),
                        jstr(job, "slice"));
                for (size_t k = 0; steps && k < json_object_array_length(steps); k++) {
                        json_object *s = json_object_array_get_idx(steps, k);
                        const char *sc = jstr(s, "conclusion");
                        printf("%-16s %-4s %-24.24s %-12s %-10s %s%-10s%s %s\n", "", jstr(s, "number"),
                                jstr(s, "name") ?: jstr(s, "id"), jstr(s, "status"),
                                jstr(s, "outcome") ?: "-", color_for(sc), sc ?: "-", color_off(sc),
                                jstr(s, "unit") ?: "-");
                        if (jstr(s, "message"))
                                printf("%-16s %-4s   %s\n", "", "", jstr(s, "message"));
                        print_annotations(jget(s, "annotations"));
                }
                if (jstr(job, "message"))
                        printf("%-16s %-4s   %s\n", "", "", jstr(job, "message"));
                print_group("                        ", job);
                if (jstr(job, "cancel_reason"))
                        printf("%-16s %-4s   cancelled (reason: %s%s%s)\n", "", "",
                                jstr(job, "cancel_reason"),
                                !jstr(job, "cancel_cause") ? ""
                                        : streq(jstr(job, "cancel_reason"), "concurrency")
                                        ? ", caused by run "
                                        : ", caused by ",
                                jstr(job, "cancel_cause") ?: "");
        }
}

static int list_runs(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(json_object_putp) json_object *list = NULL;
        const char *text;
        int r;

        r = sd_bus_call_method(
                bus, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE, "ListRuns", &error, &reply, NULL);
        if (r < 0)
                return agent_error("ListRuns", r, &error);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return bad_reply("ListRuns", r);
        list = json_tokener_parse(text);
        if (!list)
                return bad_reply("ListRuns", -EBADMSG);
        if (arg_json) {
                puts(json_object_to_json_string_ext(
                        list, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                return 0;
        }
        r = escape_json_strings(list);
        if (r < 0) {
                fprintf(stderr, "runnerctl: %s\n", strerror(-r));
                return r;
        }
        printf("%-6s %-12s %-10s %-25s %-24s %s\n", "RUN", "STATUS", "CONCLUSION", "CREATED", "NAME",
                "SOURCE");
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *run = json_object_array_get_idx(list, i), *group = NULL, *pending = NULL;
                const char *c = jstr(run, "conclusion"), *status = jstr(run, "status");

                /* A run waiting for its concurrency group (README, "Concurrency groups") */
                if (json_object_object_get_ex(run, "concurrency", &group) &&
                        json_object_object_get_ex(group, "pending", &pending) &&
                        json_object_get_boolean(pending))
                        status = "pending";
                printf("%-6s %-12s %s%-10s%s %-25s %-24.24s %s\n", jstr(run, "id"), status, color_for(c),
                        c ?: "-", color_off(c), jstr(run, "created_at") ?: "-", jstr(run, "name") ?: "-",
                        jstr(run, "source"));
        }
        printf("\n%zu run%s listed.\n", json_object_array_length(list),
                json_object_array_length(list) == 1 ? "" : "s");
        return 0;
}

int verb_cancel(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint64_t id;
        int r, changed;

        if (parse_run_id(argv[1], &id) < 0)
                return EXIT_USAGE;
        r = connect_bus(&bus);
        if (r < 0)
                return exit_status(r);
        r = sd_bus_call_method(bus, RUNNER_BUS_NAME, RUNNER_BUS_PATH, INTERFACE, "Cancel", &error, &reply,
                "tb", id, (int) arg_force);
        if (r < 0)
                return exit_status(agent_error("Cancel", r, &error));
        r = sd_bus_message_read(reply, "b", &changed);
        if (r < 0)
                return exit_status(bad_reply("Cancel", r));
        if (!changed)
                printf("Run %" PRIu64 " is being cancelled already.\n", id);
        else if (arg_force)
                printf("Run %" PRIu64 ": everything still running was killed.\n", id);
        else
                printf("Cancelling run %" PRIu64 ".\n", id);
        return 0;
}

int verb_status(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(json_object_putp) json_object *run = NULL;
        uint64_t id;
        int r;

        if (argc > 1 && parse_run_id(argv[1], &id) < 0)
                return EXIT_USAGE;
        r = connect_bus(&bus);
        if (r < 0)
                return exit_status(r);
        if (argc == 1)
                return exit_status(list_runs(bus));
        r = get_run(bus, id, &run);
        if (r < 0)
                return exit_status(r);
        if (arg_json) {
                puts(json_object_to_json_string_ext(
                        run, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                return 0;
        }
        r = escape_json_strings(run);
        if (r < 0) {
                fprintf(stderr, "runnerctl: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        print_status_table(run);
        return 0;
}

int verb_list(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = connect_bus(&bus);
        if (r < 0)
                return exit_status(r);
        return exit_status(list_runs(bus));
}

int verb_logs(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(json_object_putp) json_object *run = NULL;
        Follower f = { .print_logs = true };
        int r;

        if (parse_run_id(argv[1], &f.id) < 0)
                return EXIT_USAGE;
        if (argc >= 3)
                f.job_filter = argv[2];
        if (argc >= 4) {
                char *end;
                unsigned long v;

                errno = 0;
                v = strtoul(argv[3], &end, 10);
                if (errno != 0 || end == argv[3] || *end || v == 0 || v > UINT32_MAX || argv[3][0] == '-') {
                        _cleanup_free_ char *e = escape_for_terminal(argv[3]);
                        usage_error("'%s' is not a step number", strna(e));
                        return EXIT_USAGE;
                }
                f.step_filter = (unsigned) v;
        }
        r = connect_bus(&bus);
        if (r < 0)
                return exit_status(r);

        if (!arg_follow) {
                r = get_run(bus, f.id, &run);
                if (r < 0)
                        return exit_status(r);
                f.bus = bus;
                follow_run_json(&f, run);
                follower_done(&f);
                return 0;
        }

        f.live = true;
        if (follower_init(&f, bus) < 0 || follower_subscribe(&f) < 0) {
                follower_done(&f);
                return EXIT_FAILED;
        }
        r = follower_run(&f);
        follower_done(&f);
        sd_bus_detach_event(bus);
        sd_event_unref(f.event);
        return r < 0 ? exit_status(r) : 0;
}
