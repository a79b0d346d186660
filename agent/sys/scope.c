/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "scope.h"

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"

struct ScopeJob {
        UnitWatcher *watcher;
        ScopeJob *prev, *next; /* in watcher->jobs while pending */
        char *unit;
        char *job_path;       /* known once systemd answered the call */
        char *early_job_path; /* a JobRemoved seen before that answer */
        char *early_result;
        sd_bus_slot *call_slot;
        scope_job_handler_t handler;
        void *userdata;
        bool finished;
        bool stop; /* StopUnit: a unit that does not exist is stopped already */
};

struct UnitWatcher {
        sd_bus *bus;
        sd_bus_slot *match_slot;
        ScopeJob *jobs;
        int error; /* the subscription failed: nothing can be watched */
};

static void job_unlink(ScopeJob *job) {
        if (!job->watcher)
                return;
        if (job->prev)
                job->prev->next = job->next;
        else
                job->watcher->jobs = job->next;
        if (job->next)
                job->next->prev = job->prev;
        job->prev = job->next = NULL;
        job->watcher = NULL;
}

const char *scope_job_unit(const ScopeJob *job) {
        return job ? job->unit : NULL;
}

ScopeJob *scope_job_free(ScopeJob *job) {
        if (!job)
                return NULL;
        job_unlink(job);
        sd_bus_slot_unref(job->call_slot);
        free(job->unit);
        free(job->job_path);
        free(job->early_job_path);
        free(job->early_result);
        free(job);
        return NULL;
}

/* Maps a systemd job result ("done", "failed", "timeout", …) to 0 or a -errno. */
static int scope_job_result_to_errno(const char *result) {
        static const struct {
                const char *result;
                int error;
        } table[] = {
                { "done", 0 },
                { "canceled", -ECANCELED },
                { "timeout", -ETIME },
                { "failed", -EIO },
                { "dependency", -EIO },
                { "invalid", -ENOEXEC },
                { "assert", -EPROTO },
                { "unsupported", -EOPNOTSUPP },
                { "collected", -ECANCELED },
                { "once", -ESTALE },
                { "skipped", -ESRCH },
        };

        if (!result)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(table[i].result, result))
                        return table[i].error;
        return -EIO;
}

static void scope_job_finish(ScopeJob *job, int error, const char *message) {
        if (job->finished)
                return;
        job->finished = true;

        /* Leave the watcher now: no later signal may reach a job the caller may free below. */
        job_unlink(job);
        job->call_slot = sd_bus_slot_unref(job->call_slot);

        job->handler(job, error, message, job->userdata);
}

static void scope_job_finish_result(ScopeJob *job, const char *result) {
        char msg[256];
        int r;

        r = scope_job_result_to_errno(result);
        if (r == 0)
                scope_job_finish(job, 0, NULL);
        else {
                snprintf(msg, sizeof(msg), "job for %s finished with result '%s'", job->unit, result);
                scope_job_finish(job, r, msg);
        }
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error _unused_) {
        UnitWatcher *w = userdata;
        const char *path, *unit, *result;
        uint32_t id;
        int r;

        r = sd_bus_message_read(m, "uoss", &id, &path, &unit, &result);
        if (r < 0)
                return 0;

        for (ScopeJob *job = w->jobs; job; job = job->next) {
                if (!streq(unit, job->unit))
                        continue;
                if (!job->job_path) {
                        /* The reply is sent before the job can run, so this should not happen; if it
                         * does, keep the result for when we learn our job's path. */
                        free(job->early_job_path);
                        free(job->early_result);
                        job->early_job_path = strdup(path);
                        job->early_result = strdup(result);
                        if (!job->early_job_path || !job->early_result)
                                scope_job_finish(job, -ENOMEM, "out of memory");
                        return 0;
                }
                if (streq(path, job->job_path)) {
                        scope_job_finish_result(job, result);
                        return 0;
                }
        }
        return 0;
}

static int on_match_installed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error _unused_) {
        UnitWatcher *w = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (!e)
                return 0;
        w->error = -sd_bus_error_get_errno(e) ?: -EIO;
        /* A handler may free other jobs: take them one at a time from the head. */
        while (w->jobs)
                scope_job_finish(w->jobs, w->error, e->message ?: e->name);
        return 0;
}

int unit_watcher_new(sd_bus *bus, UnitWatcher **ret) {
        UnitWatcher *w;
        int r;

        if (!bus || !ret)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->bus = sd_bus_ref(bus);
        r = sd_bus_match_signal_async(bus, &w->match_slot,
                sd_bus_is_bus_client(bus) > 0 ? SYSTEMD_DEST : NULL, SYSTEMD_PATH, SYSTEMD_MANAGER,
                "JobRemoved", on_job_removed, on_match_installed, w);
        if (r < 0) {
                unit_watcher_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

UnitWatcher *unit_watcher_free(UnitWatcher *w) {
        if (!w)
                return NULL;
        while (w->jobs)
                job_unlink(w->jobs);
        sd_bus_slot_unref(w->match_slot);
        sd_bus_unref(w->bus);
        free(w);
        return NULL;
}

int bus_open_systemd(sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        if (geteuid() == 0) {
                r = sd_bus_new(&bus);
                if (r < 0)
                        return r;
                r = sd_bus_set_address(bus, "unix:path=/run/systemd/private");
                if (r < 0)
                        return r;
                if (sd_bus_start(bus) >= 0) {
                        *ret = TAKE_PTR(bus);
                        return 0;
                }
                bus = sd_bus_unref(bus);
        }
        return sd_bus_open_system(ret);
}

static int on_start_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error _unused_) {
        ScopeJob *job = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *path;
        int r;

        job->call_slot = sd_bus_slot_unref(job->call_slot);

        if (e) {
                int error = sd_bus_error_get_errno(e);
                if (job->stop && sd_bus_error_has_name(e, "org.freedesktop.systemd1.NoSuchUnit"))
                        scope_job_finish(job, 0, NULL);
                else
                        scope_job_finish(job, error > 0 ? -error : -EIO, e->message ?: e->name);
                return 0;
        }

        r = sd_bus_message_read(m, "o", &path);
        if (r < 0) {
                scope_job_finish(job, r, "malformed StartTransientUnit reply");
                return 0;
        }
        job->job_path = strdup(path);
        if (!job->job_path) {
                scope_job_finish(job, -ENOMEM, "out of memory");
                return 0;
        }

        if (job->early_job_path && streq(job->early_job_path, job->job_path))
                scope_job_finish_result(job, job->early_result);
        return 0;
}

static int append_properties(sd_bus_message *m, const ScopeParams *params) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r < 0)
                return r;

        if (params->description) {
                r = sd_bus_message_append(m, "(sv)", "Description", "s", params->description);
                if (r < 0)
                        return r;
        }
        if (params->slice) {
                r = sd_bus_message_append(m, "(sv)", "Slice", "s", params->slice);
                if (r < 0)
                        return r;
        }

        /* The scope is collected as soon as it is empty, whatever its result, so that a killed step
         * leaves no failed unit behind. */
        r = sd_bus_message_append(m, "(sv)", "CollectMode", "s", "inactive-or-failed");
        if (r < 0)
                return r;

        /* Delegated, to root (no User=): runner-step splits it into the leaves "supervisor" and
         * "payload" (README, "Cancellation"); the step's user can write in neither. */
        r = sd_bus_message_append(m, "(sv)", "Delegate", "b", 1);
        if (r < 0)
                return r;

        r = sd_bus_message_append(m, "(sv)", "PIDs", "au", 1, (uint32_t) params->pid->pid);
        if (r < 0)
                return r;

        return sd_bus_message_close_container(m);
}

static int job_new(
        UnitWatcher *w, const char *unit, scope_job_handler_t handler, void *userdata, ScopeJob **ret) {
        ScopeJob *job;

        if (w->error < 0)
                return w->error;
        /* Unit names are restricted to [a-zA-Z0-9:_.\\@-] by systemd. */
        if (!unit || strpbrk(unit, "'\",= \t\n"))
                return -EINVAL;
        job = calloc(1, sizeof(*job));
        if (!job)
                return -ENOMEM;
        job->handler = handler;
        job->userdata = userdata;
        job->unit = strdup(unit);
        if (!job->unit) {
                free(job);
                return -ENOMEM;
        }
        job->watcher = w;
        job->next = w->jobs;
        if (w->jobs)
                w->jobs->prev = job;
        w->jobs = job;
        *ret = job;
        return 0;
}

int scope_start(UnitWatcher *w, const ScopeParams *params, scope_job_handler_t handler, void *userdata,
        ScopeJob **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(scope_job_freep) ScopeJob *job = NULL;
        int r;

        if (!w || !params || !pidref_is_set(params->pid) || !handler || !ret)
                return -EINVAL;
        r = job_new(w, params->unit, handler, userdata, &job);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_call(
                w->bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartTransientUnit");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", params->unit, "fail");
        if (r < 0)
                return r;
        r = append_properties(m, params);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return r;

        r = sd_bus_call_async(w->bus, &job->call_slot, m, on_start_reply, job, 0);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(job);
        return 0;
}

int slice_start(UnitWatcher *w, const char *unit, const char *description, const SliceLimits *limits,
        scope_job_handler_t handler, void *userdata, ScopeJob **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(scope_job_freep) ScopeJob *job = NULL;
        int r;

        if (!w || !limits || !handler || !ret)
                return -EINVAL;
        r = job_new(w, unit, handler, userdata, &job);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(
                w->bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", unit, "fail");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0 && description)
                r = sd_bus_message_append(m, "(sv)", "Description", "s", description);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)(sv)(sv)", "MemoryMax", "t", limits->memory_max,
                        "MemoryHigh", "t", limits->memory_high, "TasksMax", "t", limits->tasks_max);
        if (r >= 0 && limits->cpu_weight > 0)
                r = sd_bus_message_append(m, "(sv)", "CPUWeight", "t", limits->cpu_weight);
        if (r >= 0 && limits->io_weight > 0)
                r = sd_bus_message_append(m, "(sv)", "IOWeight", "t", limits->io_weight);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r >= 0)
                r = sd_bus_call_async(w->bus, &job->call_slot, m, on_start_reply, job, 0);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(job);
        return 0;
}

int unit_stop(
        UnitWatcher *w, const char *unit, scope_job_handler_t handler, void *userdata, ScopeJob **ret) {
        _cleanup_(scope_job_freep) ScopeJob *job = NULL;
        int r;

        if (!w || !handler || !ret)
                return -EINVAL;
        r = job_new(w, unit, handler, userdata, &job);
        if (r < 0)
                return r;
        job->stop = true;

        r = sd_bus_call_method_async(w->bus, &job->call_slot, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
                "StopUnit", on_start_reply, job, "ss", unit, "replace");
        if (r < 0)
                return r;

        *ret = TAKE_PTR(job);
        return 0;
}

static int own_unit_path(char **ret) {
        _cleanup_free_ char *unit = NULL;
        int r;

        r = sd_pid_get_unit(0, &unit);
        if (r < 0)
                return r;
        return sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, ret);
}

/* The questions about our own unit, asked without blocking the loop: one Properties.Get after the
 * other, each with its own timeout, the handler called exactly once. */
struct UnitQuery {
        sd_bus *bus;
        sd_bus_slot *slot;
        uint64_t timeout_usec;
        unit_job_type_handler_t job_type;
        unit_timestamp_handler_t timestamp;
        void *userdata;
        bool done;
};

UnitQuery *unit_query_free(UnitQuery *q) {
        if (!q)
                return NULL;
        sd_bus_slot_unref(q->slot);
        sd_bus_unref(q->bus);
        free(q);
        return NULL;
}

static void query_finish(UnitQuery *q, int error, const char *type, uint64_t usec) {
        if (q->done)
                return;
        q->done = true;
        q->slot = sd_bus_slot_unref(q->slot);
        if (q->job_type)
                q->job_type(q, error, type, q->userdata);
        else
                q->timestamp(q, error, usec, q->userdata);
}

static int query_get(UnitQuery *q, const char *path, const char *interface, const char *property,
        sd_bus_message_handler_t callback) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(
                q->bus, &m, SYSTEMD_DEST, path, "org.freedesktop.DBus.Properties", "Get");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", interface, property);
        if (r >= 0)
                r = sd_bus_call_async(q->bus, &q->slot, m, callback, q, q->timeout_usec);
        return r;
}

static int query_error(sd_bus_message *reply) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int error;

        if (!e)
                return 0;
        error = sd_bus_error_get_errno(e);
        return error > 0 ? -error : -EIO;
}

static int on_job_type(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error _unused_) {
        UnitQuery *q = userdata;
        const char *type = NULL;
        int r;

        r = query_error(reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "v", "s", &type);
        query_finish(q, r < 0 ? r : 0, r < 0 ? NULL : type, 0);
        return 0;
}

static int on_job(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error _unused_) {
        UnitQuery *q = userdata;
        const char *job_path;
        uint32_t id;
        int r;

        q->slot = sd_bus_slot_unref(q->slot);
        r = query_error(reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "v", "(uo)", &id, &job_path);
        if (r >= 0 && id != 0)
                r = query_get(q, job_path, "org.freedesktop.systemd1.Job", "JobType", on_job_type);
        if (r < 0 || id == 0)
                query_finish(q, r < 0 ? r : 0, NULL, 0);
        return 0;
}

static int on_timestamp(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error _unused_) {
        UnitQuery *q = userdata;
        uint64_t usec = 0;
        int r;

        r = query_error(reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "v", "t", &usec);
        query_finish(q, r < 0 ? r : 0, NULL, usec);
        return 0;
}

static int query_new(sd_bus *bus, uint64_t timeout_usec, void *userdata, UnitQuery **ret) {
        UnitQuery *q;

        if (!bus || !ret)
                return -EINVAL;
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        *q = (UnitQuery){ .bus = sd_bus_ref(bus), .timeout_usec = timeout_usec, .userdata = userdata };
        *ret = q;
        return 0;
}

/* Starts a query with its first question, the property of our own unit. */
static int own_query(sd_bus *bus, uint64_t timeout_usec, const char *property,
        sd_bus_message_handler_t callback, unit_job_type_handler_t job_type,
        unit_timestamp_handler_t timestamp, void *userdata, UnitQuery **ret) {
        _cleanup_(unit_query_freep) UnitQuery *q = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = own_unit_path(&path);
        if (r >= 0)
                r = query_new(bus, timeout_usec, userdata, &q);
        if (r < 0)
                return r;
        q->job_type = job_type;
        q->timestamp = timestamp;
        r = query_get(q, path, "org.freedesktop.systemd1.Unit", property, callback);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(q);
        return 0;
}

int unit_get_own_job_type_async(sd_bus *bus, uint64_t timeout_usec, unit_job_type_handler_t handler,
        void *userdata, UnitQuery **ret) {
        if (!handler)
                return -EINVAL;
        return own_query(bus, timeout_usec, "Job", on_job, handler, NULL, userdata, ret);
}

int unit_get_own_inactive_since_async(sd_bus *bus, uint64_t timeout_usec, unit_timestamp_handler_t handler,
        void *userdata, UnitQuery **ret) {
        if (!handler)
                return -EINVAL;
        return own_query(bus, timeout_usec, "ActiveExitTimestampMonotonic", on_timestamp, NULL, handler,
                userdata, ret);
}
