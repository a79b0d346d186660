/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's runs: the table of runs by id, their lifetime, submitting and loading them, and the
 * requests of dbus-api.c and runner-agent.c (cancel, logs, stop, hand over). What a live run does is in
 * the other modules of manager-internal.h. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "action-store.h"
#include "alloc-util.h"
#include "cgroup.h"
#include "dbus-api.h"
#include "fileio.h"
#include "fs-util.h"
#include "journal.h"
#include "json-util.h"
#include "log.h"
#include "manager-internal.h"
#include "run-options.h"
#include "worker.h"

/* ---- runs: lifetime ---- */

void step_ref_done(StepRef *ref) {
        ref->stale_stop = scope_job_free(ref->stale_stop);
        ref->adopt_check = sd_event_source_disable_unref(ref->adopt_check);
        ref->empty_source = sd_event_source_disable_unref(ref->empty_source);
        ref->scope_fd = safe_close(ref->scope_fd);
}

static void job_ctx_done(JobCtx *jc) {
        job_ctx_cancel_loads(jc);
        /* Handing over, the steps go on for the next agent: their processes are not touched. */
        for (size_t i = 0; jc->steps && i < jc->n_steps; i++)
                if (jc->mr->manager->handing_over)
                        step_process_release(jc->steps[i]);
                else
                        step_process_free(jc->steps[i]);
        for (size_t i = 0; jc->refs && i < jc->n_steps; i++)
                if (jc->refs[i]) {
                        step_ref_done(jc->refs[i]);
                        free(jc->refs[i]);
                }
        free(jc->steps);
        free(jc->refs);
        sd_event_source_disable_unref(jc->clean_source);
        sd_event_source_disable_unref(jc->empty_source);
        scope_job_free(jc->slice_stop);
        scope_job_free(jc->slice_start);
        safe_close(jc->slice_fd);
        safe_close(jc->files_fd);
        free(jc->files_dir);
}

ManagedRun *managed_run_free(ManagedRun *mr) {
        if (!mr)
                return NULL;
        for (size_t i = 0; i < mr->n_job_ctx; i++) {
                job_ctx_done(mr->jobs[i]);
                free(mr->jobs[i]);
        }
        free(mr->jobs);
        sd_event_source_disable_unref(mr->save_source);
        sd_event_source_disable_unref(mr->timer);
        sd_event_source_disable_unref(mr->force_kill);
        free(mr->force_reason);
        scope_job_free(mr->slice_stop);
        run_free(mr->run);
        if (mr->json)
                json_object_put(mr->json);
        free(mr);
        return NULL;
}

int managed_run_add(Manager *m, ManagedRun *mr) {
        size_t i;

        if (array_grow((void **) &m->runs, &m->allocated_runs, m->n_runs + 1, sizeof(ManagedRun *)) < 0)
                return -ENOMEM;
        for (i = m->n_runs; i > 0 && m->runs[i - 1]->id > mr->id; i--)
                m->runs[i] = m->runs[i - 1];
        m->runs[i] = mr;
        m->n_runs++;
        if (mr->id >= m->next_id)
                m->next_id = mr->id + 1;
        return 0;
}

ManagedRun *manager_find_run(Manager *m, uint64_t id) {
        size_t lo = 0, hi = m->n_runs;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (m->runs[mid]->id == id)
                        return m->runs[mid];
                if (m->runs[mid]->id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int managed_run_json(ManagedRun *mr, json_object **ret) {
        json_object *o;
        int r;

        if (mr->run) {
                r = run_to_json(mr->run, &o);
                if (r < 0)
                        return r;
                if (mr->json)
                        json_object_put(mr->json);
                mr->json = o;
        }
        *ret = mr->json;
        return 0;
}

char *strdupf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

int managed_run_new(Manager *m, uint64_t id, ManagedRun **ret) {
        ManagedRun *mr = calloc(1, sizeof(*mr));

        if (!mr)
                return -ENOMEM;
        mr->manager = m;
        mr->id = id;
        *ret = mr;
        return 0;
}

int managed_run_init_jobs(ManagedRun *mr) {
        JobCtx **jobs;

        if (mr->n_job_ctx >= mr->run->n_jobs && mr->jobs)
                return 0;
        /* each JobCtx stays where it is: callbacks hold it */
        jobs = reallocarray(mr->jobs, MAX(mr->run->n_jobs, 1U), sizeof(JobCtx *));
        if (!jobs)
                return -ENOMEM;
        mr->jobs = jobs;
        for (size_t i = mr->n_job_ctx; i < mr->run->n_jobs; i++) {
                JobCtx *jc = calloc(1, sizeof(JobCtx));
                size_t n = MAX(mr->run->jobs[i].n_steps, 1U);

                if (!jc)
                        return -ENOMEM;
                mr->jobs[i] = jc;
                mr->n_job_ctx++;

                jc->mr = mr;
                jc->index = i;
                jc->files_fd = -EBADF;
                jc->uid = (uid_t) -1;
                jc->slice_fd = -EBADF;
                jc->steps = calloc(n, sizeof(StepProcess *));
                jc->refs = calloc(n, sizeof(StepRef *));
                if (!jc->steps || !jc->refs)
                        return -ENOMEM;
                jc->n_steps = n;
                for (size_t k = 0; k < n; k++) {
                        jc->refs[k] = malloc(sizeof(StepRef));
                        if (!jc->refs[k])
                                return -ENOMEM;
                        *jc->refs[k] = (StepRef){ .mr = mr, .job = i, .step = k, .scope_fd = -EBADF };
                }
        }
        return 0;
}

int job_ctx_insert_steps(ManagedRun *mr, size_t job, size_t at, size_t n) {
        JobCtx *jc = job_ctx(mr, job);
        _cleanup_free_ StepRef **added = NULL;
        StepProcess **steps;
        StepRef **refs;
        size_t k;

        assert(at <= jc->n_steps);
        /* Everything allocated first: on failure the JobCtx is as it was. */
        added = calloc(MAX(n, 1U), sizeof(StepRef *));
        for (k = 0; added && k < n; k++)
                if (!(added[k] = malloc(sizeof(StepRef))))
                        break;
        steps = added && k == n ? reallocarray(jc->steps, jc->n_steps + n, sizeof(StepProcess *)) : NULL;
        if (steps)
                jc->steps = steps;
        refs = steps ? reallocarray(jc->refs, jc->n_steps + n, sizeof(StepRef *)) : NULL;
        if (!refs) {
                for (size_t i = 0; added && i < k; i++)
                        free(added[i]);
                return -ENOMEM;
        }
        jc->refs = refs;
        memmove(steps + at + n, steps + at, (jc->n_steps - at) * sizeof(StepProcess *));
        memmove(refs + at + n, refs + at, (jc->n_steps - at) * sizeof(StepRef *));
        for (k = 0; k < n; k++) {
                steps[at + k] = NULL;
                refs[at + k] = added[k];
                *refs[at + k] = (StepRef){ .mr = mr, .job = job, .scope_fd = -EBADF };
        }
        jc->n_steps += n;
        /* Each keeps its place in memory (callbacks hold it) and learns its new index. */
        for (k = 0; k < jc->n_steps; k++)
                refs[k]->step = k;
        return 0;
}

/* The github context's fixed part (README, "Contexts of a run"): what GitHub fills for a run, from
 * the options the caller gave and what the agent knows. */
static int contexts_new(Manager *m, uint64_t id, const char *by, const Workflow *w, const SubmitOptions *o,
        ExprValue **ret_github, ExprValue **ret_runner) {
        _cleanup_(expr_value_unrefp) ExprValue *github = expr_value_new_object(),
                                               *runner = expr_value_new_object(), *event = NULL;
        _cleanup_free_ char *api_url = NULL, *graphql_url = NULL, *owner = NULL;
        const char *event_name = o->event_name ?: (w->n_on > 0 ? w->on[0] : "workflow_dispatch");
        const char *server_url = m->config.server_url;
        char number[32], host[256] = "";
        struct utsname u;
        const char *arch = "X64";
        int r = 0;

        if (!github || !runner)
                return -ENOMEM;
        snprintf(number, sizeof(number), "%" PRIu64, id);
        if (uname(&u) >= 0)
                arch = streq(u.machine, "aarch64")          ? "ARM64"
                        : streq(u.machine, "x86_64")        ? "X64"
                        : strncmp(u.machine, "arm", 3) == 0 ? "ARM"
                                                            : "X86";
        (void) gethostname(host, sizeof(host) - 1);
        /* GitHub.com's API has a host of its own; GitHub Enterprise Server's is under /api. */
        if (streq(server_url, CONFIG_SERVER_URL_DEFAULT)) {
                api_url = strdup("https://api.github.com");
                graphql_url = strdup("https://api.github.com/graphql");
        } else {
                api_url = strdupf("%s/api/v3", server_url);
                graphql_url = strdupf("%s/api/graphql", server_url);
        }
        if (!api_url || !graphql_url)
                return -ENOMEM;
        event = o->event ? expr_value_ref(o->event) : expr_value_new_object();
        if (!event)
                return -ENOMEM;
        /* A workflow_dispatch event carries its inputs, as github.event.inputs. */
        if (streq(event_name, "workflow_dispatch") && o->inputs && !expr_object_getz(event, "inputs")) {
                _cleanup_(expr_value_unrefp) ExprValue *copy = NULL;

                /* The payload may be shared (o->event): a new object with its members and inputs. */
                copy = expr_value_new_object();
                if (!copy)
                        return -ENOMEM;
                for (size_t i = 0; i < event->object.n; i++)
                        if (expr_object_set(copy, event->object.pairs[i].key,
                                    strlen(event->object.pairs[i].key), event->object.pairs[i].value) < 0)
                                return -ENOMEM;
                if (expr_object_set(copy, "inputs", 6, o->inputs) < 0)
                        return -ENOMEM;
                expr_value_unref(event);
                event = TAKE_PTR(copy);
        }

#define SET(o, k, v) \
        do { \
                _cleanup_(expr_value_unrefp) ExprValue *_v = expr_value_new_stringz(v); \
                if (r >= 0) \
                        r = _v ? expr_object_set(o, k, strlen(k), _v) : -ENOMEM; \
        } while (0)
        SET(github, "run_number", number);
        SET(github, "run_attempt", "1");
        SET(github, "event_name", event_name);
        SET(github, "actor", by);
        SET(github, "triggering_actor", by);
        SET(github, "server_url", server_url);
        SET(github, "api_url", api_url);
        SET(github, "graphql_url", graphql_url);
        if (o->sha)
                SET(github, "sha", o->sha);
        if (o->ref) {
                const char *name, *type;

                run_ref_split(o->ref, &name, &type);
                SET(github, "ref", o->ref);
                SET(github, "ref_name", name);
                if (type)
                        SET(github, "ref_type", type);
        }
        if (o->repository) {
                owner = strndup(o->repository, strcspn(o->repository, "/"));
                if (!owner)
                        return -ENOMEM;
                SET(github, "repository", o->repository);
                SET(github, "repository_owner", owner);
        }
        SET(runner, "os", "Linux");
        SET(runner, "arch", arch);
        SET(runner, "name", host);
        SET(runner, "environment", "self-hosted");
#undef SET
        if (r >= 0 && expr_object_set(github, "event", 5, event) < 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret_github = TAKE_PTR(github);
        *ret_runner = TAKE_PTR(runner);
        return 0;
}

static int format_errors(const char *source, const WorkflowErrors *errors, char **ret) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < errors->n; i++)
                fprintf(f, "%s:%u:%u: %s\n", source, errors->errors[i].pos.line,
                        errors->errors[i].pos.column, errors->errors[i].message);
        if (fclose(f) != 0) {
                free(text);
                return -ENOMEM;
        }
        *ret = text;
        return 0;
}

/* actions/checkout without a source would only fail when it runs: refused at once, at its line. */
static int check_source(const char *source, const Workflow *w, bool has_source, char **ret_errors) {
        for (size_t i = 0; !has_source && i < w->n_jobs; i++)
                for (size_t k = 0; k < w->jobs[i].n_steps; k++) {
                        const WorkflowStep *st = &w->jobs[i].steps[k];

                        if (st->kind != WORKFLOW_STEP_CHECKOUT)
                                continue;
                        *ret_errors = strdupf(
                                "%s:%u:%u: %s needs the run's source, and the run has none: run a workflow file in a git work tree, or give --source DIR (not --no-source)\n",
                                source, st->pos.line, st->pos.column, st->uses);
                        return *ret_errors ? -EINVAL : -ENOMEM;
                }
        return 0;
}

/* A run is prepared in runs/.new-<id> and renamed to runs/<id> only when complete: a submit that
 * fails half-way (a full disk, no descriptors left) leaves nothing a later start or submit trips
 * over. */
#define NEW_RUN_PREFIX ".new-"

static void cancel_for_stop(Manager *m, uint64_t id);

/* A submitted run on its way to disk: its directory, workflow.yml and first state are written on the
 * worker (README, "Restarts": nothing blocks the loop), then the loop adds the run and answers. */
typedef struct Submission {
        Manager *m;     /* loop only */
        ManagedRun *mr; /* loop only: added once on disk */
        char *by;
        manager_submit_done_t then;
        void *userdata;
        /* the worker's */
        int runs_fd; /* the manager's; the worker is drained before it is closed */
        uint64_t id;
        gid_t admin_gid;
        char *yaml;
        size_t len;
        char *internal, *public;
        int source_fd;            /* the caller's snapshot, or -EBADF */
        uint64_t max_source_size; /* 0: no limit */
        const char *failed;       /* what failed, for the loop to log */
} Submission;

static Submission *submission_free(Submission *s) {
        if (!s)
                return NULL;
        managed_run_free(s->mr);
        free(s->by);
        free(s->yaml);
        free(s->internal);
        free(s->public);
        safe_close(s->source_fd);
        free(s);
        return NULL;
}

/* On the worker: the caller's snapshot (README, "The run's source") copied into the run's directory
 * as "source", root's, mode 0600. The agent reads only the descriptor the caller opened, never a path
 * the caller named, and never looks inside: the checkout step unpacks it as the job's user. */
int source_fd_check(int fd, uint64_t max, uint64_t *ret_size) {
        const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
        struct stat st;
        int flags, got;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        /* Only memory files answer F_GET_SEALS, and they never wait on anyone: checked before fstat(),
         * which on FUSE would ask the file system's server. */
        got = fcntl(fd, F_GET_SEALS);
        if (got < 0 || (got & seals) != seals || (flags & O_PATH) || (flags & O_ACCMODE) == O_WRONLY)
                return -EBADFD;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (max > 0 && (uint64_t) st.st_size > max)
                return -EFBIG;
        if (ret_size)
                *ret_size = (uint64_t) st.st_size;
        return 0;
}

static int source_copy(int dir_fd, int source_fd, uint64_t max, const char **ret_failed) {
        _cleanup_close_ int fd = -EBADF;
        char buf[64 * 1024];
        uint64_t total = 0;
        int r;

        /* A pipe, socket or FUSE file could be held open by the caller and block the worker for ever. */
        r = source_fd_check(source_fd, max, NULL);
        *ret_failed = r == -EFBIG
                ? "keep the source: it is larger than MaxSourceSize= in [Agent] of agent.conf"
                : "read the source";
        if (r < 0)
                return r;
        *ret_failed = "keep the source";
        fd = openat(dir_fd, "source", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t n = pread(source_fd, buf, sizeof(buf), (off_t) total);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                total += (uint64_t) n;
                /* The file may grow while it is read. */
                if (max > 0 && total > max) {
                        *ret_failed =
                                "keep the source: it is larger than MaxSourceSize= in [Agent] of agent.conf";
                        r = -EFBIG;
                        break;
                }
                for (ssize_t done = 0, w; done < n; done += w) {
                        w = write(fd, buf + done, (size_t) (n - done));
                        if (w < 0 && errno == EINTR)
                                w = 0;
                        else if (w < 0) {
                                r = -errno;
                                break;
                        }
                }
                if (r < 0)
                        break;
        }
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dir_fd, "source", 0);
        return r;
}

/* On the worker. */
static int submission_write(void *data) {
        Submission *s = data;
        char name[DECIMAL_STR_MAX(uint64_t)], tmp[STRLEN(NEW_RUN_PREFIX) + DECIMAL_STR_MAX(uint64_t)];
        _cleanup_close_ int dir_fd = -EBADF;
        int r;

        snprintf(name, sizeof(name), "%" PRIu64, s->id);
        snprintf(tmp, sizeof(tmp), NEW_RUN_PREFIX "%" PRIu64, s->id);
        (void) rm_rf_at(s->runs_fd, tmp); /* from an agent that died in the middle of a submit */
        s->failed = "create the directory";
        if (mkdirat(s->runs_fd, tmp, 0750) < 0)
                return -errno;
        s->failed = "prepare the directory";
        dir_fd = openat(s->runs_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0 || mkdirat(dir_fd, "logs", 0750) < 0) {
                r = -errno;
                goto fail;
        }
        s->failed = "give the directory to the group runner-admin";
        if (fchown(dir_fd, 0, s->admin_gid) < 0) {
                r = -errno;
                goto fail;
        }
        s->failed = "save the workflow";
        r = write_file_atomic_at(dir_fd, "workflow.yml", s->yaml, s->len, 0640);
        if (r < 0)
                goto fail;
        if (s->source_fd >= 0) {
                r = source_copy(dir_fd, s->source_fd, s->max_source_size, &s->failed);
                if (r < 0)
                        goto fail;
        }
        s->failed = "write the state";
        r = state_write_texts_at(dir_fd, s->internal, s->public);
        if (r < 0)
                goto fail;
        dir_fd = safe_close(dir_fd);
        s->failed = "create the run";
        if (renameat2(s->runs_fd, tmp, s->runs_fd, name, RENAME_NOREPLACE) < 0) {
                r = -errno;
                goto fail;
        }
        s->failed = NULL;
        return 0;

fail:
        /* Removed name by name with the descriptor at hand: the failure may well have been the lack
         * of another one (rm_rf_at() needs a few). */
        if (dir_fd >= 0) {
                (void) unlinkat(dir_fd, "workflow.yml", 0);
                (void) unlinkat(dir_fd, "source", 0);
                (void) unlinkat(dir_fd, "run-state.json", 0);
                (void) unlinkat(dir_fd, "state.json", 0);
                (void) unlinkat(dir_fd, "logs", AT_REMOVEDIR);
                dir_fd = safe_close(dir_fd);
        }
        if (unlinkat(s->runs_fd, tmp, AT_REMOVEDIR) < 0 && errno != ENOENT)
                (void) rm_rf_at(s->runs_fd, tmp);
        return r;
}

/* In the loop, once the run is on disk (or not). */
static void submission_done(int r, void *data) {
        Submission *s = data;
        Manager *m = s->m;
        ManagedRun *mr = s->mr;
        RunActions actions = {};

        m->pending_submits--;
        if (r < 0) {
                log_error_errno(r, "Failed to %s of run %" PRIu64 ": %m", s->failed ?: "submit", s->id);
                /* The id is free again unless a later submit took the next one, or something else
                 * holds it. */
                if (r != -EEXIST && m->next_id == s->id + 1)
                        m->next_id = s->id;
                secret_store_remove(m, s->id);
                s->then(r, 0, s->userdata);
                submission_free(s);
                return;
        }
        s->mr = NULL;
        (void) managed_run_add(m, mr); /* cannot fail: room was made when it was submitted */
        journal_run_submitted(mr, s->by);
        bus_emit_run_changed(mr);
        /* Handing over, the next agent starts it from its saved state; stopping, it is cancelled as
         * every run was. */
        if (!m->handing_over) {
                run_loop_drive(mr, &actions);
                run_actions_done(&actions);
                if (m->stopping)
                        cancel_for_stop(m, mr->id);
        }
        s->then(0, mr->id, s->userdata);
        submission_free(s);
}

int manager_submit_then(Manager *m, const char *source, const char *yaml, size_t len, char *const *secrets,
        SubmitOptions *options, const char *by, char **ret_errors, manager_submit_done_t then,
        void *userdata) {
        SubmitOptions none = SUBMIT_OPTIONS_NULL;
        const SubmitOptions *o = options ?: &none;
        _cleanup_(workflow_errors_done) WorkflowErrors errors = {};
        _cleanup_(workflow_freep) Workflow *w = NULL;
        _cleanup_(expr_value_unrefp) ExprValue *github = NULL, *runner = NULL;
        _cleanup_free_ char *workspace = NULL;
        Submission *s;
        int r;

        if (m->stopping)
                return -ESHUTDOWN;

        r = workflow_load(yaml, len, &w, &errors);
        if (r >= 0 && workflow_check_runnable(w, &errors) == -EOPNOTSUPP)
                r = -EINVAL;
        if (r == -EINVAL) {
                r = format_errors(source, &errors, ret_errors);
                return r < 0 ? r : -EINVAL;
        }
        if (r < 0)
                return r;
        r = check_source(source, w, o->source_fd >= 0, ret_errors);
        if (r < 0)
                return r;

        /* Room in the table first: once the directory has its name, nothing may fail any more. */
        if (array_grow((void **) &m->runs, &m->allocated_runs, m->n_runs + m->pending_submits + 1,
                    sizeof(ManagedRun *)) < 0)
                return -ENOMEM;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        /* The id is taken now, in the loop: submits in flight together each get their own. */
        *s = (Submission){ .m = m,
                .then = then,
                .userdata = userdata,
                .runs_fd = m->runs_fd,
                .id = m->next_id,
                .admin_gid = m->admin_gid,
                .len = len,
                .by = strdup(by),
                .yaml = strndup(yaml, len),
                .source_fd = options ? TAKE_FD(options->source_fd) : -EBADF,
                .max_source_size = m->config.max_source_size };
        workspace = strdupf("%s/work/r%" PRIu64, m->state_dir, s->id);
        r = s->by && s->yaml && workspace ? managed_run_new(m, s->id, &s->mr) : -ENOMEM;
        if (r >= 0)
                r = contexts_new(m, s->id, by, w, o, &github, &runner);
        if (r >= 0)
                r = run_new(s->id, source, w, workspace, github, runner, now(), &s->mr->run);
        if (r < 0)
                goto fail;
        TAKE_PTR(w);
        s->mr->run->inputs = o->inputs ? expr_value_ref(o->inputs) : NULL;
        s->mr->run->vars = o->vars ? expr_value_ref(o->vars) : NULL;
        if (s->source_fd >= 0) {
                s->mr->run->source_format = strdup(o->source_format);
                if (!s->mr->run->source_format) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        s->mr->run->cancel = (RunCancelSettings){
                .interrupt_usec = m->config.interrupt_timeout_usec,
                .terminate_usec = m->config.terminate_timeout_usec,
                .force_usec = m->config.force_terminate_usec,
        };
        r = managed_run_init_jobs(s->mr);
        if (r >= 0)
                r = run_set_secrets(s->mr->run, secrets);
        if (r >= 0)
                r = secret_store_save(s->mr);
        if (r >= 0)
                r = state_texts(s->mr, &s->internal, &s->public);
        if (r >= 0)
                r = worker_submit(m->worker, submission_write, submission_done, s);
        if (r < 0)
                goto fail;
        m->next_id++;
        m->pending_submits++;
        return 0;

fail:
        secret_store_remove(m, s->id);
        submission_free(s);
        return r;
}

/* Every run in runs/: finished ones as their state.json says, unfinished ones taken over (adopt.c). */
int manager_load_runs(Manager *m) {
        _cleanup_close_ int fd = -EBADF;
        Adoption *a;
        DIR *d;
        struct dirent *de;
        int r;

        a = malloc(sizeof(*a));
        if (!a)
                return -ENOMEM;
        adoption_begin(a);
        fd = dup(m->runs_fd);
        if (fd < 0) {
                r = -errno;
                goto fail;
        }
        d = fdopendir(TAKE_FD(fd));
        if (!d) {
                r = -errno;
                goto fail;
        }
        rewinddir(d);
        while ((de = readdir(d))) {
                _cleanup_free_ char *text = NULL, *why = NULL;
                _cleanup_close_ int dir_fd = -EBADF;
                ManagedRun *mr = NULL;
                json_object *status;
                char *end;
                uint64_t id;

                if (startswith(de->d_name, NEW_RUN_PREFIX)) {
                        /* A submit the previous agent did not finish: it never became a run. */
                        (void) rm_rf_at(m->runs_fd, de->d_name);
                        continue;
                }
                errno = 0;
                id = strtoull(de->d_name, &end, 10);
                if (errno != 0 || *end != '\0' || id == 0 || de->d_name[0] == '0')
                        continue;
                if (id >= m->next_id)
                        m->next_id = id + 1; /* taken, whatever becomes of it */
                dir_fd = openat(m->runs_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = dir_fd < 0 ? -errno : read_full_file_at(dir_fd, "state.json", STATE_MAX_SIZE, &text);
                if (r >= 0) {
                        json_object *o = json_parse_state(text);
                        r = o && json_object_is_type(o, json_type_object) &&
                                        json_object_object_get_ex(o, "status", &status)
                                ? 0
                                : -EBADMSG;
                        if (r >= 0 && !streq(json_object_get_string(status), "completed")) {
                                json_object_put(o);
                                r = adopt_run(m, id, dir_fd, a, &why);
                                if (r < 0)
                                        goto fail_dir;
                                if (!why)
                                        continue; /* taken over */
                                o = json_parse_state(text);
                                if (!o)
                                        r = -ENOMEM;
                        }
                        if (r >= 0 && managed_run_new(m, id, &mr) >= 0)
                                mr->json = o;
                        else
                                json_object_put(o);
                }
                if (r < 0 || !mr) {
                        if (r == -ENOMEM || (r >= 0 && !mr)) {
                                r = -ENOMEM;
                                goto fail_dir;
                        }
                        log_warning_errno(r, "Ignoring run %" PRIu64 ": cannot read its state.json: %m", id);
                        continue;
                }
                if (why)
                        adopt_refuse(m, mr, why);
                mr->completed_announced = true;
                if (managed_run_add(m, mr) < 0) {
                        managed_run_free(mr);
                        r = -ENOMEM;
                        goto fail_dir;
                }
        }
        closedir(d);
        m->adoption = a;
        adoption_resume(m, a);
        adoption_maybe_end(m);
        workspaces_sweep(m);
        job_users_sweep(m);
        return 0;

fail_dir:
        closedir(d);
fail:
        adoption_done(a);
        free(a);
        return r;
}

static int find_job_number(ManagedRun *mr, const char *job, unsigned *ret) {
        json_object *jobs;

        if (mr->run) {
                /* The first instance of the job: the only one as long as a job has one. */
                for (size_t i = 0; i < mr->run->n_jobs; i++)
                        if (streq(mr->run->jobs[i].def->id, job)) {
                                *ret = mr->run->jobs[i].number;
                                return 0;
                        }
                return -ENOENT;
        }
        if (!json_object_object_get_ex(mr->json, "jobs", &jobs))
                return -ENOENT;
        for (size_t i = 0; i < json_object_array_length(jobs); i++) {
                json_object *o = json_object_array_get_idx(jobs, i), *id, *number;
                if (json_object_object_get_ex(o, "id", &id) && streq(json_object_get_string(id), job) &&
                        json_object_object_get_ex(o, "number", &number)) {
                        *ret = (unsigned) json_object_get_int(number);
                        return 0;
                }
        }
        return -ENOENT;
}

int manager_open_log(Manager *m, uint64_t id, const char *job, unsigned step) {
        ManagedRun *mr = manager_find_run(m, id);
        _cleanup_close_ int dir_fd = -EBADF;
        char path[64];
        unsigned number;
        int r, fd;

        if (!mr)
                return -ESRCH;
        r = find_job_number(mr, job, &number);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "logs/j%u-s%u.log", number, step);
        dir_fd = run_dir_open(m, id);
        if (dir_fd < 0)
                return dir_fd;
        fd = openat(dir_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

typedef struct CancelSaved {
        manager_cancel_done_t then;
        void *userdata;
        bool changed;
} CancelSaved;

static void on_cancel_saved(int result, void *userdata) {
        CancelSaved *c = userdata;

        c->then(result, c->changed, c->userdata);
        free(c);
}

static int cancel_run(Manager *m, uint64_t id, RunCancelReason reason, const char *by, const char *cause,
        bool force, manager_cancel_done_t then, void *userdata) {
        ManagedRun *mr = manager_find_run(m, id);
        RunActions actions = {};
        CancelSaved *c;
        int r;

        if (m->handing_over)
                return -ESHUTDOWN; /* the next agent would not know of it */
        if (!mr)
                return -ESRCH;
        if (!mr->run)
                return -EALREADY;
        r = force ? run_cancel_because(mr->run, reason, by, force, now(), &actions)
                  : run_cancel_caused(mr->run, reason, by, cause, now(), &actions);
        if (r >= 0)
                run_loop_drive(mr, &actions);
        run_actions_done(&actions);
        if (r < 0)
                return r;
        if (!then) {
                if (r > 0)
                        (void) save_now(mr);
                return r;
        }
        /* On disk before the caller hears back: a cancel that was answered survives a crash of the
         * agent right after (README, "Restarts"). A request that changed nothing is answered behind
         * the writes queued before it all the same. */
        c = malloc(sizeof(*c));
        if (!c) {
                then(-ENOMEM, r > 0, userdata);
                return r;
        }
        *c = (CancelSaved){ .then = then, .userdata = userdata, .changed = r > 0 };
        (void) save_then(mr, on_cancel_saved, c); /* calls on_cancel_saved() also when it fails */
        return r;
}

int manager_cancel_then(
        Manager *m, uint64_t id, const char *by, bool force, manager_cancel_done_t then, void *userdata) {
        return cancel_run(m, id, RUN_CANCEL_REASON_USER, by, NULL, force, then, userdata);
}

/* cancel-in-progress: the same sequence as runnerctl cancel, naming the newer run (README, "Concurrency
 * groups"). */
int manager_cancel_for_group(Manager *m, uint64_t id, uint64_t newer) {
        _cleanup_free_ char *by = strdupf("run %" PRIu64, newer), *cause = strdupf("%" PRIu64, newer);

        if (!by || !cause)
                return -ENOMEM;
        return cancel_run(m, id, RUN_CANCEL_REASON_CONCURRENCY, by, cause, false, NULL, NULL);
}

/* systemctl stop: every run cancelled with the sequence, saying why (README, "Stop or restart?"). */
static void cancel_for_stop(Manager *m, uint64_t id) {
        (void) cancel_run(
                m, id, RUN_CANCEL_REASON_AGENT_STOP, "runner-agent stopping", NULL, false, NULL, NULL);
}

void manager_begin_stop(Manager *m) {
        if (m->stopping)
                return;
        m->stopping = true;
        /* The same sequence as runnerctl cancel, so that TimeoutStopSec= covers the force deadline. */
        for (size_t i = 0; i < m->n_runs; i++)
                if (m->runs[i]->run && m->runs[i]->run->status != RUN_STATUS_COMPLETED)
                        cancel_for_stop(m, m->runs[i]->id);
        manager_update_status(m);
}

void manager_hand_over(Manager *m) {
        unsigned runs = 0, steps = 0;

        if (m->stopping)
                return;
        m->stopping = true;
        m->handing_over = true;
        for (size_t i = 0; i < m->n_runs; i++) {
                ManagedRun *mr = m->runs[i];

                if (!mr->run || mr->completed_announced)
                        continue;
                runs++;
                for (size_t j = 0; j < mr->run->n_jobs; j++)
                        steps += mr->run->jobs[j].phase == RUN_JOB_STEP;
                (void) save_now(mr);
        }
        journal_agent_handed_over(runs, steps);
        log_info("Restarting: %u runs with %u running steps go on for the next agent.", runs, steps);
        manager_update_status(m);
}

bool manager_stopped(Manager *m) {
        if (m->handing_over)
                return true;
        if (m->pending_submits > 0)
                return false; /* its run is cancelled once it is on disk */
        for (size_t i = 0; i < m->n_runs; i++) {
                ManagedRun *mr = m->runs[i];
                if (mr->slice_stop)
                        return false;
                if (mr->run && !mr->completed_announced)
                        return false;
        }
        return true;
}

void manager_update_status(Manager *m) {
        unsigned runs = 0, steps = 0;

        for (size_t i = 0; i < m->n_runs; i++) {
                const Run *run = m->runs[i]->run;
                if (!run || run->status == RUN_STATUS_COMPLETED)
                        continue;
                runs++;
                for (size_t j = 0; j < run->n_jobs; j++)
                        steps += run->jobs[j].phase == RUN_JOB_STEP;
        }
        (void) sd_notifyf(false, "STATUS=%s%u runs in progress, %u jobs and %u steps running",
                m->stopping ? "Stopping: " : "", runs, m->running_jobs, steps);
}

int manager_new(sd_event *event, const Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        struct passwd *pw;
        struct group *gr;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        m->event = sd_event_ref(event);
        m->config = *config;
        m->runs_fd = -EBADF;
        m->action_abort_fd = -EBADF;
        m->next_id = 1;
        m->state_dir = strdup(getenv("RUNNER_AGENT_STATE_DIR") ?: RUNNER_STATE_DIR);
        m->runtime_dir = strdup(getenv("RUNTIME_DIRECTORY") ?: RUNNER_RUNTIME_DIR);
        m->shim_path = strdup(getenv("RUNNER_STEP_PATH") ?: RUNNER_LIBEXEC_DIR "/runner-step");
        if (!m->state_dir || !m->runtime_dir || !m->shim_path)
                return log_oom();
        /* RuntimeDirectory= may list several directories, separated by colons. */
        m->runtime_dir[strcspn(m->runtime_dir, ":")] = '\0';

        errno = 0;
        pw = getpwnam("runner");
        if (!pw)
                return log_error_errno(errno > 0 ? -errno : -ESRCH,
                        "User 'runner', which runs the steps, does not exist (systemd-sysusers creates it from runner-agent.conf).");
        m->step_uid = pw->pw_uid;
        m->step_gid = pw->pw_gid;
        m->step_home = strdup(pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
        errno = 0;
        gr = getgrnam("runner-admin");
        if (!gr)
                return log_error_errno(errno > 0 ? -errno : -ESRCH,
                        "Group 'runner-admin', whose members may use the agent, does not exist (systemd-sysusers creates it from runner-agent.conf).");
        m->admin_gid = gr->gr_gid;
        if (!m->step_home)
                return log_oom();

        {
                _cleanup_free_ char *text = NULL;
                size_t k = 0;

                r = read_full_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 64, &text);
                if (r < 0)
                        return log_error_errno(r, "Cannot read this boot's ID: %m");
                for (const char *c = text; *c && k < sizeof(m->boot_id) - 1; c++)
                        if (*c != '-' && *c != '\n')
                                m->boot_id[k++] = *c;
                m->boot_id[k] = '\0';
        }

        r = cgroup_get_root(&m->cgroot);
        if (r < 0)
                return log_error_errno(r, "No cgroup2 hierarchy found in /proc/self/mountinfo: %m");

        {
                _cleanup_free_ char *runs = strdupf("%s/runs", m->state_dir);
                if (!runs)
                        return log_oom();
                r = mkdir_p(runs, 0750, 0, m->admin_gid);
                if (r < 0)
                        return log_error_errno(r, "Failed to create %s: %m", runs);
                m->runs_fd = open(runs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (m->runs_fd < 0)
                        return log_error_errno(-errno, "Failed to open %s: %m", runs);
        }

        /* Workspace removal is housekeeping that may wait; rm(1) inherits the remover's priority. */
        r = worker_new(m->event, false, &m->worker);
        if (r >= 0)
                r = worker_new(m->event, true, &m->remover);
        if (r < 0)
                return log_error_errno(r, "Failed to start the worker threads: %m");
        r = action_store_init(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

void manager_finish(Manager *m) {
        /* Calls whose answer waits for the workers (a cancel being saved, a submit being written, a
         * caller being looked up) are answered as the workers are drained, busy where they would start
         * something; then every other call not answered yet. All before the loop ends, which closes
         * the bus. */
        m->bus_closing = true;
        /* A fetch from the mirror is ended, not waited for; resolves queued are answered busy. */
        action_store_finish(m);
        m->worker = worker_free(m->worker);
        /* Removals not started yet are left to the next agent's start-up sweep: at the remover's low
         * priority on a busy machine they could outlast the stop timeout. */
        worker_cancel_queued(m->remover);
        m->remover = worker_free(m->remover);
        bus_api_close(m);
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* First: what is queued (state writes above all, also on a hand-over) lands, and its
         * completions still find the runs and the bus. */
        action_store_finish(m);
        m->worker = worker_free(m->worker);
        m->remover = worker_free(m->remover);
        if (m->adoption) {
                adoption_done(m->adoption);
                m->adoption = mfree(m->adoption);
        }
        bus_api_close(m);
        for (size_t i = 0; i < m->n_runs; i++)
                managed_run_free(m->runs[i]);
        free(m->runs);
        groups_done(m);
        unit_query_free(m->stop_query);
        unit_query_free(m->away_query);
        unit_watcher_free(m->watcher);
        sd_bus_flush_close_unref(m->bus);
        sd_bus_flush_close_unref(m->systemd_bus);
        sd_event_unref(m->event);
        safe_close(m->runs_fd);
        safe_close(m->action_abort_fd);
        free(m->action_dir);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m->seccomp_path);
        free(m->shim_path);
        free(m->cgroot);
        free(m->step_home);
        free(m);
        return NULL;
}

int manager_connect(Manager *m) {
        int r;

        r = bus_open_systemd(&m->systemd_bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to systemd: %m");
        r = sd_bus_attach_event(m->systemd_bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the systemd connection to the event loop: %m");
        r = unit_watcher_new(m->systemd_bus, &m->watcher);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to systemd's job signals: %m");

        r = sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = bus_api_add(m);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the system bus to the event loop: %m");
        r = sd_bus_request_name(m->bus, RUNNER_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to acquire the bus name " RUNNER_BUS_NAME ": %m");
        return 0;
}
