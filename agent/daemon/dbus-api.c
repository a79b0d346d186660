/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "action-name.h"
#include "action-store.h"
#include "dbus-api.h"
#include "log.h"
#include "run-options.h"
#include "worker.h"
#include "workflow.h"

#define INTERFACE "io.runneragent.Agent1"
#define ERROR_INVALID_WORKFLOW INTERFACE ".Error.InvalidWorkflow"
#define ERROR_NO_SUCH_RUN INTERFACE ".Error.NoSuchRun"
#define ERROR_NO_SUCH_LOG INTERFACE ".Error.NoSuchLog"
#define ERROR_NOT_RUNNING INTERFACE ".Error.NotRunning"
#define ERROR_BUSY INTERFACE ".Error.Busy"
#define ERROR_INVALID_ACTION INTERFACE ".Error.InvalidAction"
#define ERROR_NO_SUCH_ACTION INTERFACE ".Error.NoSuchAction"
#define ERROR_ACTION_FAILED INTERFACE ".Error.ActionFailed"

/* Who may use the agent is decided without blocking the loop (README, "Running workflows"): the
 * caller's UID comes from the bus daemon by an asynchronous call, and for anyone but root, NSS (which
 * may ask a network directory) is asked on the worker thread. Only then does the method run. */

typedef int (*method_body_t)(sd_bus_message *m, Manager *manager, const char *by, sd_bus_error *error);

typedef struct Authorization Authorization;
struct Authorization {
        Manager *manager;
        Authorization *prev, *next; /* in manager->authorizations */
        sd_bus_slot *slot;          /* GetConnectionUnixUser in flight */
        sd_bus_message *message;
        method_body_t body;
        bool root_only; /* changes what every user's jobs run (README, "Actions") */
        uid_t uid;
        gid_t admin_gid;
        bool allowed;
        char *name; /* "root (UID 0)", "alice (UID 1000)" */
};

static Authorization *authorization_free(Authorization *a) {
        if (!a)
                return NULL;
        if (a->prev)
                a->prev->next = a->next;
        else if (a->manager->authorizations == a)
                a->manager->authorizations = a->next;
        if (a->next)
                a->next->prev = a->prev;
        sd_bus_slot_unref(a->slot);
        sd_bus_message_unref(a->message);
        free(a->name);
        free(a);
        return NULL;
}

/* A call the agent can no longer carry out: it is handing over to the next agent, or exiting. */
static int busy_error(Manager *m, sd_bus_error *error) {
        return sd_bus_error_set(error, ERROR_BUSY,
                m->handing_over ? "runner-agent is restarting; try again in a moment."
                                : "runner-agent is stopping; try again once it is started again.");
}

static void authorization_busy(Authorization *a) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        (void) busy_error(a->manager, &error);
        r = sd_bus_reply_method_error(a->message, &error);
        if (r < 0)
                log_warning_errno(r, "Failed to answer a D-Bus call: %m");
        authorization_free(a);
}

/* Runs the method now that the caller is known, and answers for it if it failed. */
static void authorization_done(Authorization *a) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (!a->allowed)
                r = sd_bus_error_setf(&error, SD_BUS_ERROR_ACCESS_DENIED,
                        "Only root and members of runner-admin may use runner-agent (caller UID %u).",
                        a->uid);
        else if (a->root_only && a->uid != 0)
                r = sd_bus_error_setf(&error, SD_BUS_ERROR_ACCESS_DENIED,
                        "Only root may change the action store: its actions run in every user's jobs (caller UID %u).",
                        a->uid);
        else if (!a->name)
                r = -ENOMEM;
        else if (a->manager->handing_over || a->manager->bus_closing)
                /* Answered late (the agent is restarting or leaving): what it would change might not
                 * reach the next agent. */
                r = busy_error(a->manager, &error);
        else
                r = a->body(a->message, a->manager, a->name, &error);
        if (r < 0) {
                if (sd_bus_error_is_set(&error))
                        r = sd_bus_reply_method_error(a->message, &error);
                else
                        r = sd_bus_reply_method_errno(a->message, r, NULL);
                if (r < 0)
                        log_warning_errno(r, "Failed to answer a D-Bus call: %m");
        }
        authorization_free(a);
}

/* On the worker: is uid a member of runner-admin? Membership is the user's, from NSS, as the bus
 * policy's <policy group=> and polkit's unix-group see it, not the caller's current supplementary
 * groups (the bus does not pass those on). */
static int lookup_user(void *data) {
        Authorization *a = data;
        struct passwd pwbuf, *pw = NULL;
        char buf[16384];
        gid_t groups[256];
        int n = ELEMENTSOF(groups);

        if (getpwuid_r(a->uid, &pwbuf, buf, sizeof(buf), &pw) != 0 || !pw)
                return 0;
        if (asprintf(&a->name, "%s (UID %u)", pw->pw_name, a->uid) < 0)
                a->name = NULL;
        if (pw->pw_gid == a->admin_gid)
                a->allowed = true;
        /* More than 256 groups: not worth a retry loop for an access check. */
        else if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) >= 0)
                for (int i = 0; i < n && !a->allowed; i++)
                        a->allowed = groups[i] == a->admin_gid;
        return 0;
}

static void looked_up(int r, void *data) {
        Authorization *a = data;

        if (a->allowed && !a->name && asprintf(&a->name, "UID %u", a->uid) < 0)
                a->name = NULL;
        authorization_done(a);
}

static int on_caller_uid(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Authorization *a = userdata;
        uint32_t uid;
        int r;

        a->slot = sd_bus_slot_unref(a->slot);
        r = sd_bus_message_is_method_error(reply, NULL) ? -EIO : sd_bus_message_read(reply, "u", &uid);
        if (r < 0) {
                (void) sd_bus_reply_method_errorf(
                        a->message, SD_BUS_ERROR_ACCESS_DENIED, "Cannot determine the caller's user.");
                authorization_free(a);
                return 0;
        }
        a->uid = uid;
        if (uid == 0) {
                a->allowed = true;
                a->name = strdup("root (UID 0)");
                authorization_done(a);
                return 0;
        }
        if (a->manager->bus_closing) {
                authorization_busy(a); /* the worker is gone */
                return 0;
        }
        r = worker_submit(a->manager->worker, lookup_user, looked_up, a);
        if (r < 0) {
                (void) sd_bus_reply_method_errno(a->message, r, NULL);
                authorization_free(a);
        }
        return 0;
}

/* The bus policy lets only root and runner-admin through; this is the second lock, so that a
 * mistake in one does not open the agent. The method is answered later, from its body. */
static int authorize(
        sd_bus_message *m, Manager *manager, method_body_t body, bool root_only, sd_bus_error *error) {
        Authorization *a;
        int r;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        *a = (Authorization){ .manager = manager,
                .message = sd_bus_message_ref(m),
                .body = body,
                .root_only = root_only,
                .admin_gid = manager->admin_gid,
                .next = manager->authorizations };
        if (a->next)
                a->next->prev = a;
        manager->authorizations = a;
        if (manager->bus_closing) {
                authorization_busy(a);
                return 1;
        }
        r = sd_bus_call_method_async(sd_bus_message_get_bus(m), &a->slot, "org.freedesktop.DBus",
                "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixUser", on_caller_uid, a,
                "s", sd_bus_message_get_sender(m));
        if (r < 0) {
                authorization_free(a);
                return sd_bus_error_set(
                        error, SD_BUS_ERROR_ACCESS_DENIED, "Cannot determine the caller's user.");
        }
        return 1;
}

static void secrets_free(char **l) {
        for (char **e = l; e && *e; e++) {
                explicit_bzero(*e, strlen(*e));
                free(*e);
        }
        free(l);
}

/* The a{ss} of SubmitWithSecrets() as NAME=VALUE entries, checked as GitHub checks secrets' names. */
static int read_secrets(sd_bus_message *m, char ***ret, sd_bus_error *error) {
        char **l = NULL;
        size_t n = 0, size = 0;
        const char *name, *value;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "{ss}", &name, &value)) > 0) {
                char **nl;

                if (!run_secret_name_valid(name, strlen(name))) {
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                "Invalid secret name '%s': letters, digits and _ only, not starting with a digit or GITHUB_.",
                                name);
                        break;
                }
                size += strlen(name) + strlen(value) + 1;
                if (n + 1 > RUN_SECRETS_MAX || size > RUN_SECRETS_SIZE_MAX ||
                        strlen(value) > MASK_VALUE_MAX) {
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                "Too many or too large secrets: at most %u, each value up to %u bytes, %u bytes in all.",
                                RUN_SECRETS_MAX, MASK_VALUE_MAX, RUN_SECRETS_SIZE_MAX);
                        break;
                }
                nl = realloc(l, (n + 2) * sizeof(char *));
                if (!nl || asprintf(&nl[n], "%s=%s", name, value) < 0) {
                        l = nl ?: l;
                        if (l)
                                l[n] = NULL;
                        r = -ENOMEM;
                        break;
                }
                l = nl;
                l[++n] = NULL;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                secrets_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

static void secrets_freep(char ***l) {
        secrets_free(*l);
}

static int submit_error(int r, const char *errors, sd_bus_error *error) {
        if (r == -EINVAL)
                return sd_bus_error_set(error, ERROR_INVALID_WORKFLOW, errors);
        if (r == -ESHUTDOWN)
                return sd_bus_error_set(
                        error, SD_BUS_ERROR_FAILED, "runner-agent is stopping; no new runs are accepted.");
        if (IN_SET(r, -EMFILE, -ENFILE, -ENOSPC, -EDQUOT, -ENOMEM))
                /* A limit, not a fault: nothing of the run was kept, and a later submit can work. */
                return sd_bus_error_setf(error, ERROR_BUSY,
                        "runner-agent cannot take a new run now (%s); nothing was created, try again later.",
                        r == -ENOMEM ? "out of memory"
                                : IN_SET(r, -ENOSPC, -EDQUOT)
                                ? "no space left in its state directory"
                                : "too many open files: see LimitNOFILE= of runner-agent.service");
        return sd_bus_error_set_errnof(error, r, "Failed to create the run: %s", strerror(-r));
}

/* The run is on disk (or could not be): now the caller hears back. */
static void submitted(int result, uint64_t id, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = userdata;
        int r;

        if (result >= 0)
                r = sd_bus_reply_method_return(m, "t", id);
        else {
                (void) submit_error(result, NULL, &error);
                r = sd_bus_reply_method_error(m, &error);
        }
        if (r < 0)
                log_warning_errno(r, "Failed to answer Submit(): %m");
        sd_bus_message_unref(m);
}

typedef struct Options {
        SubmitOptions submit;
        ExprValue *event, *inputs, *vars;
} Options;

static void options_done(Options *o) {
        expr_value_unref(o->event);
        expr_value_unref(o->inputs);
        expr_value_unref(o->vars);
        safe_close(o->submit.source_fd);
}

static int invalid_option(sd_bus_error *error, const char *key, const char *why) {
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid option '%s': %s", key, why);
}

/* The a{ss} of the inputs or vars option: names as GitHub allows them, bounded. */
static int read_assignments(
        sd_bus_message *m, const char *key, RunAssignmentKind kind, ExprValue **ret, sd_bus_error *error) {
        _cleanup_(expr_value_unrefp) ExprValue *o = expr_value_new_object();
        const char *name, *value;
        size_t n = 0, size = 0;
        int r;

        if (!o)
                return -ENOMEM;
        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "{ss}", &name, &value)) > 0) {
                _cleanup_(expr_value_unrefp) ExprValue *v = NULL;

                if (kind == RUN_ASSIGNMENT_INPUT ? !run_input_name_valid(name, strlen(name))
                                                 : !run_var_name_valid(name, strlen(name)))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                kind == RUN_ASSIGNMENT_INPUT
                                        ? "Invalid input name '%s': letters, digits, - and _ only, starting with a letter or _."
                                        : "Invalid variable name '%s': letters, digits and _ only, not starting with a digit or GITHUB_.",
                                name);
                size += strlen(name) + strlen(value);
                if (++n > (kind == RUN_ASSIGNMENT_INPUT ? RUN_INPUTS_MAX : RUN_VARS_MAX) ||
                        strlen(value) > RUN_OPTION_VALUE_MAX || size > RUN_OPTIONS_SIZE_MAX)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                "Too many or too large %s: at most %u, each value up to %u bytes, %u bytes in all.",
                                key, kind == RUN_ASSIGNMENT_INPUT ? RUN_INPUTS_MAX : RUN_VARS_MAX,
                                RUN_OPTION_VALUE_MAX, RUN_OPTIONS_SIZE_MAX);
                v = expr_value_new_stringz(value);
                if (!v || expr_object_set(o, name, strlen(name), v) < 0)
                        return -ENOMEM;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* Whether v stays within RUN_EVENT_MAX_VALUES values and RUN_EVENT_MAX_DEPTH levels. */
static bool event_bounded(const ExprValue *v, unsigned depth, unsigned *values) {
        if (depth > RUN_EVENT_MAX_DEPTH || ++*values > RUN_EVENT_MAX_VALUES)
                return false;
        if (v->kind == EXPR_ARRAY)
                for (size_t i = 0; i < v->array.n; i++)
                        if (!event_bounded(v->array.items[i], depth + 1, values))
                                return false;
        if (v->kind == EXPR_OBJECT)
                for (size_t i = 0; i < v->object.n; i++)
                        if (!event_bounded(v->object.pairs[i].value, depth + 1, values))
                                return false;
        return true;
}

static int read_string_option(sd_bus_message *m, const char **ret) {
        int r = sd_bus_message_enter_container(m, 'v', "s");
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", ret);
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

/* The a{sv} of SubmitWithOptions() (README, "D-Bus API"). An unknown key is an error, so that a caller
 * never believes the agent used what it ignored. */
static int read_options(sd_bus_message *m, Manager *manager, Options *o, sd_bus_error *error) {
        const char *format = NULL;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *v = NULL;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "event_name")) {
                        r = read_string_option(m, &v);
                        if (r >= 0 && !run_event_name_valid(v, strlen(v)))
                                return invalid_option(
                                        error, key, "lowercase letters and _ only, 1 to 64 bytes.");
                        o->submit.event_name = v;
                } else if (streq(key, "event")) {
                        char why[256] = "";

                        r = read_string_option(m, &v);
                        if (r >= 0 && strlen(v) > RUN_EVENT_MAX)
                                return invalid_option(error, key, "the event payload is larger than 1 MiB.");
                        if (r >= 0) {
                                o->event = expr_value_unref(o->event);
                                r = expr_value_from_json(v, strlen(v), &o->event, why, sizeof(why));
                                if (r == -EINVAL || r == -E2BIG)
                                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                "Invalid option 'event': not JSON: %s",
                                                why[0] ? why : "too large or deep");
                                if (r >= 0 && o->event->kind != EXPR_OBJECT)
                                        return invalid_option(
                                                error, key, "the event payload must be a JSON object.");
                                unsigned values = 0;
                                if (r >= 0 && !event_bounded(o->event, 0, &values))
                                        return invalid_option(error, key,
                                                "the event payload has more than 50000 values or 32 levels of nesting.");
                        }
                        o->submit.event = o->event;
                } else if (streq(key, "inputs") || streq(key, "vars")) {
                        bool inputs = streq(key, "inputs");
                        ExprValue **where = inputs ? &o->inputs : &o->vars;

                        r = sd_bus_message_enter_container(m, 'v', "a{ss}");
                        if (r >= 0) {
                                *where = expr_value_unref(*where);
                                r = read_assignments(m, key,
                                        inputs ? RUN_ASSIGNMENT_INPUT : RUN_ASSIGNMENT_VAR, where, error);
                        }
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        o->submit.inputs = o->inputs;
                        o->submit.vars = o->vars;
                } else if (streq(key, "sha")) {
                        r = read_string_option(m, &v);
                        if (r >= 0 && !run_sha_valid(v))
                                return invalid_option(error, key, "40 or 64 lowercase hexadecimal digits.");
                        o->submit.sha = v;
                } else if (streq(key, "ref")) {
                        r = read_string_option(m, &v);
                        if (r >= 0 && !run_ref_valid(v))
                                return invalid_option(error, key, "a full git ref such as refs/heads/main.");
                        o->submit.ref = v;
                } else if (streq(key, "repository")) {
                        r = read_string_option(m, &v);
                        if (r >= 0 && !run_repository_valid(v))
                                return invalid_option(
                                        error, key, "OWNER/NAME of letters, digits, -, _ and .");
                        o->submit.repository = v;
                } else if (streq(key, "source")) {
                        int fd;

                        r = sd_bus_message_enter_container(m, 'v', "h");
                        if (r >= 0)
                                r = sd_bus_message_read(m, "h", &fd);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r >= 0) {
                                uint64_t max = manager->config.max_source_size, size = 0;

                                /* Checked here too, for a clear answer; the worker checks again. A
                                 * pipe, socket or FUSE file could be held open to block the agent. */
                                if (source_fd_check(fd, 0, &size) < 0)
                                        return invalid_option(error, key,
                                                "cannot read the source: not a sealed memfd open for reading.");
                                if (max > 0 && size > max)
                                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                "The run's source is %" PRIu64
                                                " bytes, more than MaxSourceSize=%" PRIu64
                                                " in [Agent] of agent.conf.",
                                                size, max);
                                safe_close(o->submit.source_fd);
                                o->submit.source_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                                if (o->submit.source_fd < 0)
                                        return -errno;
                        }
                } else if (streq(key, "source_format")) {
                        r = read_string_option(m, &format);
                        if (r >= 0 && !streq(format, "git-bundle") && !streq(format, "tar"))
                                return invalid_option(error, key, "git-bundle or tar.");
                } else
                        return sd_bus_error_setf(
                                error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%s'.", key);
                if (r == -ENXIO)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                "Option '%s' has the wrong type (see the README, D-Bus API).", key);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        if ((o->submit.source_fd >= 0) != (format != NULL))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                        "Options 'source' and 'source_format' go together.");
        o->submit.source_format = format;
        return 0;
}

static int submit(sd_bus_message *m, Manager *manager, const char *by, sd_bus_error *error) {
        _cleanup_free_ char *errors = NULL;
        _cleanup_(secrets_freep) char **secrets = NULL;
        _cleanup_(options_done) Options options = { .submit = SUBMIT_OPTIONS_NULL };
        bool with_options = sd_bus_message_has_signature(m, "ssa{ss}a{sv}");
        const char *source, *yaml;
        int r;

        r = sd_bus_message_read(m, "ss", &source, &yaml);
        if (r < 0)
                return r;
        if (sd_bus_message_has_signature(m, "ssa{ss}") || with_options) {
                r = read_secrets(m, &secrets, error);
                if (r < 0)
                        return r;
        }
        if (with_options) {
                r = read_options(m, manager, &options, error);
                if (r < 0)
                        return r;
        }
        if (strlen(yaml) > WORKFLOW_MAX_SIZE)
                return sd_bus_error_setf(error, ERROR_INVALID_WORKFLOW,
                        "%s: the workflow is larger than %u bytes", source, WORKFLOW_MAX_SIZE);
        if (strlen(source) == 0 || strlen(source) > 4096)
                return sd_bus_error_set(
                        error, SD_BUS_ERROR_INVALID_ARGS, "The source name must be 1 to 4096 bytes.");

        r = manager_submit_then(manager, source, yaml, strlen(yaml), secrets, &options.submit, by, &errors,
                submitted, sd_bus_message_ref(m));
        if (r < 0) {
                sd_bus_message_unref(m);
                return submit_error(r, errors, error);
        }
        return 1; /* answered by submitted() */
}

static int get_run(sd_bus_message *m, Manager *manager, const char *by, sd_bus_error *error) {
        ManagedRun *mr;
        json_object *o;
        uint64_t id;
        int r;

        r = sd_bus_message_read(m, "t", &id);
        if (r < 0)
                return r;
        mr = manager_find_run(manager, id);
        if (!mr)
                return sd_bus_error_setf(error, ERROR_NO_SUCH_RUN, "No run %" PRIu64 ".", id);
        r = managed_run_json(mr, &o);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s",
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int list_runs(sd_bus_message *m, Manager *manager, const char *by, sd_bus_error *error) {
        static const char *const keys[] = { "id", "source", "name", "status", "conclusion", "created_at",
                "started_at", "completed_at", "concurrency" };
        json_object *list;
        int r;

        list = json_object_new_array();
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < manager->n_runs; i++) {
                ManagedRun *mr = manager->runs[i];
                json_object *summary = json_object_new_object(), *state, *v;

                if (!summary || managed_run_json(mr, &state) < 0) {
                        json_object_put(summary);
                        json_object_put(list);
                        return -ENOMEM;
                }
                for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                        if (json_object_object_get_ex(state, keys[k], &v))
                                json_object_object_add(summary, keys[k], json_object_get(v));
                json_object_array_add(list, summary);
        }
        r = sd_bus_reply_method_return(m, "s", json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN));
        json_object_put(list);
        return r;
}

/* The cancel is on disk: now the caller hears back. */
static void cancel_saved(int saved, bool changed, void *userdata) {
        sd_bus_message *m = userdata;
        int r;

        /* true: this call changed something; false: the run was being cancelled already. The cancel
         * is under way even if its state could not be written (that is logged). */
        r = sd_bus_reply_method_return(m, "b", changed);
        if (r < 0)
                log_warning_errno(r, "Failed to answer Cancel(): %m");
        sd_bus_message_unref(m);
}

static int cancel(sd_bus_message *m, Manager *manager, const char *by, sd_bus_error *error) {
        uint64_t id;
        int force, r;

        r = sd_bus_message_read(m, "tb", &id, &force);
        if (r < 0)
                return r;
        r = manager_cancel_then(manager, id, by, force, cancel_saved, sd_bus_message_ref(m));
        if (r < 0)
                sd_bus_message_unref(m);
        if (r == -ESRCH)
                return sd_bus_error_setf(error, ERROR_NO_SUCH_RUN, "No run %" PRIu64 ".", id);
        if (r == -EALREADY)
                return sd_bus_error_setf(
                        error, ERROR_NOT_RUNNING, "Run %" PRIu64 " has completed already.", id);
        if (r == -ESHUTDOWN)
                return sd_bus_error_set(
                        error, ERROR_BUSY, "runner-agent is restarting; try again in a moment.");
        if (r < 0)
                return sd_bus_error_set_errnof(
                        error, r, "Failed to cancel run %" PRIu64 ": %s", id, strerror(-r));
        return 1; /* answered by cancel_saved() */
}

static int open_log(sd_bus_message *m, Manager *manager, const char *by, sd_bus_error *error) {
        _cleanup_close_ int fd = -EBADF;
        const char *job;
        uint64_t id;
        uint32_t step;
        int r;

        r = sd_bus_message_read(m, "tsu", &id, &job, &step);
        if (r < 0)
                return r;
        fd = manager_open_log(manager, id, job, step);
        if (fd == -ESRCH)
                return sd_bus_error_setf(error, ERROR_NO_SUCH_RUN, "No run %" PRIu64 ".", id);
        if (fd == -ENOENT)
                return sd_bus_error_setf(error, ERROR_NO_SUCH_LOG,
                        "Run %" PRIu64 " has no log for job '%s' step %u (yet).", id, job, step);
        if (fd < 0)
                return sd_bus_error_set_errnof(error, fd, "Failed to open the log: %s", strerror(-fd));
        return sd_bus_reply_method_return(m, "h", fd);
}

/* ---- the action store (README, "Actions") ---- */

/* OWNER/REPO@REF of the store: a whole repository, no path inside it. */
static int read_action_name(sd_bus_message *m, ActionName *ret, sd_bus_error *error) {
        const char *name, *why = NULL;
        int r;

        r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        r = action_name_parse(name, ret, &why);
        if (r == -EINVAL)
                return sd_bus_error_setf(
                        error, ERROR_INVALID_ACTION, "Invalid action name '%s': %s.", name, why);
        if (r < 0)
                return r;
        if (ret->path) {
                action_name_done(ret);
                return sd_bus_error_setf(error, ERROR_INVALID_ACTION,
                        "Invalid action name '%s': the store holds whole repositories; name OWNER/REPO@REF without a path.",
                        name);
        }
        return 0;
}

static int action_error(int r, const char *message, sd_bus_error *error) {
        if (r == -ESHUTDOWN || r == -ECANCELED)
                return sd_bus_error_set(error, ERROR_BUSY,
                        message ?: "runner-agent is stopping; try again once it is started again.");
        if (r == -ENOENT)
                return sd_bus_error_set(error, ERROR_NO_SUCH_ACTION, message);
        if (r == -EINVAL && message)
                return sd_bus_error_set(error, ERROR_INVALID_ACTION, message);
        if (message)
                return sd_bus_error_set(error, ERROR_ACTION_FAILED, message);
        return sd_bus_error_set_errnof(error, r, "The action store failed: %s", strerror(-r));
}

static void reply_error(sd_bus_message *m, int r, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void) action_error(r, message, &error);
        r = sd_bus_reply_method_error(m, &error);
        if (r < 0)
                log_warning_errno(r, "Failed to answer a D-Bus call: %m");
}

static void action_added(int result, const char *message, json_object *names, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = userdata, *reply = NULL;
        int r;

        if (result < 0) {
                reply_error(m, result, message);
                return;
        }
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; r >= 0 && i < json_object_array_length(names); i++) {
                const char *name = json_object_get_string(json_object_array_get_idx(names, i));

                r = sd_bus_message_append(reply, "s", name);
                if (r >= 0)
                        log_info("Action %s added to the action store.", name);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to answer AddAction(): %m");
}

static int add_action(sd_bus_message *m, Manager *manager, const char *by, sd_bus_error *error) {
        _cleanup_(action_name_done) ActionName name = {};
        _cleanup_close_ int tar = -EBADF;
        const char *commit, *source;
        uint64_t size = 0;
        int fd, r;

        r = read_action_name(m, &name, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "ssh", &commit, &source, &fd);
        if (r < 0)
                return r;
        if (*commit && !action_ref_is_sha(commit))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                        "The commit must be 40 hexadecimal digits, or empty when not known.");
        if (action_ref_is_sha(name.ref) && *commit && strcasecmp(commit, name.ref) != 0)
                return sd_bus_error_setf(error, ERROR_INVALID_ACTION,
                        "The action is named by commit %s but its commit is %s.", name.ref, commit);
        if (strlen(source) > 4096)
                return sd_bus_error_set(
                        error, SD_BUS_ERROR_INVALID_ARGS, "The source must be at most 4096 bytes.");
        /* The same rule as a run's source (README, "The run's source"): a sealed memfd, which cannot
         * leave the worker waiting, of at most MaxSourceSize=. */
        r = source_fd_check(fd, manager->config.max_source_size, &size);
        if (r == -EFBIG)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                        "The action is larger than MaxSourceSize=%" PRIu64 " in [Agent] of agent.conf.",
                        manager->config.max_source_size);
        if (r < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                        "Cannot read the action: not a sealed memfd open for reading.");
        tar = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (tar < 0)
                return -errno;
        r = action_store_add(manager, name.owner, name.repo, name.ref, *commit ? commit : NULL, source, by,
                TAKE_FD(tar), action_added, sd_bus_message_ref(m));
        if (r < 0) {
                sd_bus_message_unref(m);
                return action_error(r, NULL, error);
        }
        return 1;
}

static void action_removed(int result, const char *message, json_object *removed, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = userdata;
        int r;

        if (result < 0) {
                reply_error(m, result, message);
                return;
        }
        r = sd_bus_reply_method_return(m, "b", json_object_get_boolean(removed));
        if (r < 0)
                log_warning_errno(r, "Failed to answer RemoveAction(): %m");
}

static int remove_action(sd_bus_message *m, Manager *manager, const char *by, sd_bus_error *error) {
        _cleanup_(action_name_done) ActionName name = {};
        int r;

        r = read_action_name(m, &name, error);
        if (r < 0)
                return r;
        r = action_store_remove(
                manager, name.owner, name.repo, name.ref, action_removed, sd_bus_message_ref(m));
        if (r < 0) {
                sd_bus_message_unref(m);
                return action_error(r, NULL, error);
        }
        return 1;
}

static void actions_listed(int result, const char *message, json_object *list, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = userdata;
        int r;

        if (result < 0) {
                reply_error(m, result, message);
                return;
        }
        r = sd_bus_reply_method_return(m, "s",
                json_object_to_json_string_ext(
                        list, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (r < 0)
                log_warning_errno(r, "Failed to answer ListActions(): %m");
}

static int list_actions(sd_bus_message *m, Manager *manager, const char *by, sd_bus_error *error) {
        int r = action_store_list(manager, actions_listed, sd_bus_message_ref(m));

        if (r < 0) {
                sd_bus_message_unref(m);
                return action_error(r, NULL, error);
        }
        return 1;
}

static void action_resolved(
        int result, const char *dir, const char *commit, const char *message, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = userdata;
        int r;

        if (result < 0) {
                reply_error(m, result, message);
                return;
        }
        r = sd_bus_reply_method_return(m, "ss", dir, commit ?: "");
        if (r < 0)
                log_warning_errno(r, "Failed to answer ResolveAction(): %m");
}

static int resolve_action(sd_bus_message *m, Manager *manager, const char *by, sd_bus_error *error) {
        _cleanup_(action_name_done) ActionName name = {};
        int r;

        r = read_action_name(m, &name, error);
        if (r < 0)
                return r;
        r = action_store_resolve(
                manager, name.owner, name.repo, name.ref, action_resolved, sd_bus_message_ref(m), NULL);
        if (r < 0) {
                sd_bus_message_unref(m);
                return action_error(r, NULL, error);
        }
        return 1;
}

#define METHOD(name, body, root_only) \
        static int name(sd_bus_message *m, void *userdata, sd_bus_error *error) { \
                return authorize(m, userdata, body, root_only, error); \
        }
METHOD(method_submit, submit, false)
METHOD(method_get_run, get_run, false)
METHOD(method_list_runs, list_runs, false)
METHOD(method_cancel, cancel, false)
METHOD(method_open_log, open_log, false)
METHOD(method_add_action, add_action, true)
METHOD(method_remove_action, remove_action, true)
METHOD(method_list_actions, list_actions, false)
METHOD(method_resolve_action, resolve_action, false)
#undef METHOD

static const sd_bus_vtable agent_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Submit", SD_BUS_ARGS("s", source, "s", yaml), SD_BUS_RESULT("t", id),
                method_submit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SubmitWithSecrets", SD_BUS_ARGS("s", source, "s", yaml, "a{ss}", secrets),
                SD_BUS_RESULT("t", id), method_submit, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("SubmitWithOptions",
                SD_BUS_ARGS("s", source, "s", yaml, "a{ss}", secrets, "a{sv}", options),
                SD_BUS_RESULT("t", id), method_submit, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("GetRun", SD_BUS_ARGS("t", id), SD_BUS_RESULT("s", json), method_get_run,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListRuns", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_list_runs,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_ARGS("t", id, "b", force), SD_BUS_RESULT("b", changed),
                method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenLog", SD_BUS_ARGS("t", id, "s", job, "u", step), SD_BUS_RESULT("h", fd),
                method_open_log, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AddAction", SD_BUS_ARGS("s", name, "s", commit, "s", source, "h", tar),
                SD_BUS_RESULT("as", names), method_add_action, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveAction", SD_BUS_ARGS("s", name), SD_BUS_RESULT("b", removed),
                method_remove_action, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListActions", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_list_actions,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ResolveAction", SD_BUS_ARGS("s", name),
                SD_BUS_RESULT("s", dir, "s", commit), method_resolve_action, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("RunChanged", SD_BUS_ARGS("t", id, "s", status, "s", conclusion), 0),
        SD_BUS_SIGNAL_WITH_ARGS(
                "JobChanged", SD_BUS_ARGS("t", id, "s", job, "s", status, "s", conclusion), 0),
        SD_BUS_SIGNAL_WITH_ARGS(
                "StepChanged", SD_BUS_ARGS("t", id, "s", job, "u", step, "s", status, "s", conclusion), 0),
        SD_BUS_VTABLE_END,
};

/* Leaving: no call is dropped (README, "Restarts"). The name is given up first, so that new callers
 * hear the agent is gone; what was sent to it before is read and answered busy, and so is every call
 * still waiting for the bus to say who its caller is (the workers were drained before: the calls they
 * held are answered). */
void bus_api_close(Manager *m) {
        m->bus_closing = true;
        if (!m->bus)
                return;
        (void) sd_bus_release_name_async(m->bus, NULL, RUNNER_BUS_NAME, NULL, NULL);
        while (sd_bus_process(m->bus, NULL) > 0)
                ;
        while (m->authorizations)
                authorization_busy(m->authorizations);
}

int bus_api_add(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, RUNNER_BUS_PATH, INTERFACE, agent_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register the D-Bus object: %m");
        return 0;
}

/* A finished run loaded from disk has no Run: its status comes from its JSON. */
static void run_status(ManagedRun *mr, const char **status, const char **conclusion) {
        json_object *v;

        if (mr->run) {
                *status = run_status_to_string(mr->run->status);
                *conclusion = run_conclusion_to_string(mr->run->conclusion) ?: "";
                return;
        }
        *status = json_object_object_get_ex(mr->json, "status", &v) ? json_object_get_string(v) : "";
        *conclusion = json_object_object_get_ex(mr->json, "conclusion", &v) && v ? json_object_get_string(v)
                                                                                 : "";
}

void bus_emit_run_changed(ManagedRun *mr) {
        const char *status, *conclusion;

        run_status(mr, &status, &conclusion);
        (void) sd_bus_emit_signal(mr->manager->bus, RUNNER_BUS_PATH, INTERFACE, "RunChanged", "tss", mr->id,
                status, conclusion);
}

void bus_emit_job_changed(ManagedRun *mr, size_t job) {
        const RunJob *j = &mr->run->jobs[job];

        (void) sd_bus_emit_signal(mr->manager->bus, RUNNER_BUS_PATH, INTERFACE, "JobChanged", "tsss", mr->id,
                j->def->id, run_status_to_string(j->status), run_conclusion_to_string(j->conclusion) ?: "");
}

void bus_emit_step_changed(ManagedRun *mr, size_t job, size_t step) {
        const RunJob *j = &mr->run->jobs[job];
        const RunStep *s = &j->steps[step];

        (void) sd_bus_emit_signal(mr->manager->bus, RUNNER_BUS_PATH, INTERFACE, "StepChanged", "tsuss",
                mr->id, j->def->id, s->number, run_status_to_string(s->status),
                run_conclusion_to_string(s->conclusion) ?: "");
}
