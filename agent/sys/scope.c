/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdbool.h>
#include <stdio.h>

#include "scope.h"

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"

struct ScopeJob {
        char *unit;
        char *job_path;       /* known once StartTransientUnit answered */
        char *early_job_path; /* a JobRemoved seen before that answer */
        char *early_result;
        sd_bus_slot *match_slot;
        sd_bus_slot *call_slot;
        scope_job_handler_t handler;
        void *userdata;
        bool finished;
};

const char *scope_job_unit(const ScopeJob *job) {
        return job ? job->unit : NULL;
}

ScopeJob *scope_job_free(ScopeJob *job) {
        if (!job)
                return NULL;
        sd_bus_slot_unref(job->match_slot);
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

        /* Drop the subscription now: no later signal may reach a job the caller may free below. */
        job->match_slot = sd_bus_slot_unref(job->match_slot);
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
        ScopeJob *job = userdata;
        const char *path, *unit, *result;
        uint32_t id;
        int r;

        r = sd_bus_message_read(m, "uoss", &id, &path, &unit, &result);
        if (r < 0 || !streq(unit, job->unit))
                return 0;

        if (!job->job_path) {
                /* The reply is sent before the job can run, so this should not happen; if it does,
                 * keep the result for when we learn our job's path. */
                free(job->early_job_path);
                free(job->early_result);
                job->early_job_path = strdup(path);
                job->early_result = strdup(result);
                if (!job->early_job_path || !job->early_result)
                        scope_job_finish(job, -ENOMEM, "out of memory");
                return 0;
        }

        if (!streq(path, job->job_path))
                return 0;

        scope_job_finish_result(job, result);
        return 0;
}

static int on_match_installed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error _unused_) {
        ScopeJob *job = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e)
                scope_job_finish(job, -sd_bus_error_get_errno(e) ?: -EIO, e->message ?: e->name);
        return 0;
}

static int on_start_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error _unused_) {
        ScopeJob *job = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *path;
        int r;

        job->call_slot = sd_bus_slot_unref(job->call_slot);

        if (e) {
                int error = sd_bus_error_get_errno(e);
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

        r = sd_bus_message_append(m, "(sv)", "PIDs", "au", 1, (uint32_t) params->pid->pid);
        if (r < 0)
                return r;

        return sd_bus_message_close_container(m);
}

int scope_start(sd_bus *bus, const ScopeParams *params, scope_job_handler_t handler, void *userdata,
        ScopeJob **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(scope_job_freep) ScopeJob *job = NULL;
        int r;

        if (!bus || !params || !params->unit || !pidref_is_set(params->pid) || !handler || !ret)
                return -EINVAL;
        /* Unit names are restricted to [a-zA-Z0-9:_.\\@-] by systemd; anything else would also
         * break the match rule below. */
        if (strpbrk(params->unit, "'\",= \t\n"))
                return -EINVAL;

        job = calloc(1, sizeof(*job));
        if (!job)
                return -ENOMEM;
        job->handler = handler;
        job->userdata = userdata;
        job->unit = strdup(params->unit);
        if (!job->unit)
                return -ENOMEM;

        /* Subscribe first: the match is queued on the connection before the method call, and the bus
         * handles a connection's messages in order, so JobRemoved cannot slip by. The rule cannot
         * narrow by unit name: sd-bus re-checks rules locally and only matches argN when every
         * argument before it is a string, which JobRemoved's leading job id is not. */
        r = sd_bus_add_match_async(bus, &job->match_slot,
                "type='signal',sender='" SYSTEMD_DEST "',path='" SYSTEMD_PATH "',interface='" SYSTEMD_MANAGER
                "',member='JobRemoved'",
                on_job_removed, on_match_installed, job);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_call(
                bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartTransientUnit");
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

        r = sd_bus_call_async(bus, &job->call_slot, m, on_start_reply, job, 0);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(job);
        return 0;
}
