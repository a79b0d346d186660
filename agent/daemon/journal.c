/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "journal.h"
#include "macro.h"
#include "manager-internal.h"
#include "message-id.h"

#define FIELDS_MAX 24

typedef struct Fields {
        char *items[FIELDS_MAX];
        size_t n;
} Fields;

static void add(Fields *f, const char *fmt, ...) _printf_(2, 3);
static void add(Fields *f, const char *fmt, ...) {
        va_list ap;

        if (f->n >= FIELDS_MAX)
                return;
        va_start(ap, fmt);
        if (vasprintf(&f->items[f->n], fmt, ap) >= 0)
                f->n++;
        va_end(ap);
}

/* Events are written by a thread of their own, in order: sd_journal_sendv() blocks while journald is
 * behind, and the event loop must not wait for it between the stages of a cancellation (a hundred
 * steps cancelled at once make several hundred events). */
typedef struct Queued {
        struct Queued *next;
        Fields fields;
} Queued;

static struct {
        pthread_mutex_t lock;
        pthread_cond_t wake;
        Queued *head, *tail;
        bool started, stop;
        pthread_t thread;
} writer = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

static void fields_send_now(Fields *f) {
        struct iovec iov[FIELDS_MAX];

        for (size_t i = 0; i < f->n; i++)
                iov[i] = (struct iovec){ .iov_base = f->items[i], .iov_len = strlen(f->items[i]) };
        (void) sd_journal_sendv(iov, (int) f->n);
        for (size_t i = 0; i < f->n; i++)
                free(f->items[i]);
        f->n = 0;
}

static void *writer_main(void *arg) {
        pthread_mutex_lock(&writer.lock);
        for (;;) {
                Queued *q;

                while (!writer.head && !writer.stop)
                        pthread_cond_wait(&writer.wake, &writer.lock);
                if (!writer.head)
                        break;
                q = writer.head;
                writer.head = q->next;
                if (!writer.head)
                        writer.tail = NULL;
                pthread_mutex_unlock(&writer.lock);
                fields_send_now(&q->fields);
                free(q);
                pthread_mutex_lock(&writer.lock);
        }
        pthread_mutex_unlock(&writer.lock);
        return NULL;
}

/* Queues, or sends at once if the writer cannot run; takes the fields. An event that cannot be sent
 * is lost, never fatal: the steps go on. */
static void send_fields(Fields *f) {
        Queued *q = malloc(sizeof(Queued));

        pthread_mutex_lock(&writer.lock);
        if (!writer.started && !writer.stop) {
                sigset_t all, old;

                /* The thread takes no signals: the loop's signalfd gets them. */
                sigfillset(&all);
                pthread_sigmask(SIG_SETMASK, &all, &old);
                writer.started = pthread_create(&writer.thread, NULL, writer_main, NULL) == 0;
                pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
        if (!q || !writer.started) {
                pthread_mutex_unlock(&writer.lock);
                free(q);
                fields_send_now(f);
                return;
        }
        *q = (Queued){ .fields = *f };
        *f = (Fields){};
        if (writer.tail)
                writer.tail->next = q;
        else
                writer.head = q;
        writer.tail = q;
        pthread_cond_signal(&writer.wake);
        pthread_mutex_unlock(&writer.lock);
}

void journal_stop(void) {
        pthread_mutex_lock(&writer.lock);
        writer.stop = true;
        pthread_cond_signal(&writer.wake);
        pthread_mutex_unlock(&writer.lock);
        if (writer.started)
                pthread_join(writer.thread, NULL);
        writer.started = false;
}

/* MESSAGE_ID, PRIORITY, RUNNER_EVENT and the run, job and step the event is about. */
static void head(Fields *f, ManagedRun *mr, const char *message_id, int priority, const char *event,
        size_t job, size_t step) {
        add(f, "MESSAGE_ID=%s", message_id);
        add(f, "PRIORITY=%d", priority);
        add(f, "RUNNER_EVENT=%s", event);
        add(f, "RUNNER_RUN_ID=%" PRIu64, mr->id);
        if (job == SIZE_MAX || !mr->run)
                return;
        add(f, "RUNNER_JOB=%s", mr->run->jobs[job].def->id);
        if (mr->run->jobs[job].matrix) { /* which job of the matrix (README, "Matrix jobs") */
                add(f, "RUNNER_JOB_INSTANCE=%u", mr->run->jobs[job].instance);
                add(f, "RUNNER_JOB_NAME=%s", mr->run->jobs[job].name);
        }
        if (step == SIZE_MAX) {
                _cleanup_free_ char *slice = NULL;
                if (run_job_slice_name(mr->run, job, &slice) >= 0)
                        add(f, "RUNNER_UNIT=%s", slice);
                return;
        }
        {
                const RunStep *s = &mr->run->jobs[job].steps[step];
                add(f, "RUNNER_STEP=%u", s->number);
                add(f, "RUNNER_STEP_NAME=%s", run_step_display_name(s));
                if (s->unit)
                        add(f, "RUNNER_UNIT=%s", s->unit);
        }
}

/* "Run 3, job build, step 2 (Compile)" */
static void where(char *buf, size_t size, ManagedRun *mr, size_t job, size_t step) {
        char j[256];

        if (job == SIZE_MAX) {
                snprintf(buf, size, "Run %" PRIu64, mr->id);
                return;
        }
        /* a job of a matrix: which one, by its instance and its display name */
        if (mr->run->jobs[job].matrix)
                snprintf(j, sizeof(j), "%s #%u (%s)", mr->run->jobs[job].def->id,
                        mr->run->jobs[job].instance, mr->run->jobs[job].name);
        else
                snprintf(j, sizeof(j), "%s", mr->run->jobs[job].def->id);
        if (step == SIZE_MAX)
                snprintf(buf, size, "Run %" PRIu64 ", job %s", mr->id, j);
        else
                snprintf(buf, size, "Run %" PRIu64 ", job %s, step %u (%s)", mr->id, j,
                        mr->run->jobs[job].steps[step].number,
                        run_step_display_name(&mr->run->jobs[job].steps[step]));
}

void journal_run_submitted(ManagedRun *mr, const char *by) {
        Fields f = {};

        head(&f, mr, MESSAGE_RUN_SUBMITTED, LOG_INFO, "run-submitted", SIZE_MAX, SIZE_MAX);
        add(&f, "MESSAGE=Run %" PRIu64 " submitted by %s: %s, %zu jobs.", mr->id, by, mr->run->source,
                mr->run->n_jobs);
        add(&f, "RUNNER_SUBMITTED_BY=%s", by);
        add(&f, "RUNNER_SOURCE=%s", mr->run->source);
        send_fields(&f);
}

void journal_change(ManagedRun *mr, size_t job, size_t step) {
        const Run *run = mr->run;
        Fields f = {};
        char w[512];

        where(w, sizeof(w), mr, job, step);
        if (job == SIZE_MAX) {
                if (run->status != RUN_STATUS_COMPLETED)
                        return;
                head(&f, mr, MESSAGE_RUN_CONCLUDED, LOG_INFO, "run-concluded", job, step);
                add(&f, "MESSAGE=%s (%s) concluded %s.", w, run->source,
                        run_conclusion_to_string(run->conclusion));
                add(&f, "RUNNER_CONCLUSION=%s", run_conclusion_to_string(run->conclusion));
        } else if (step == SIZE_MAX) {
                const RunJob *j = &run->jobs[job];

                if (j->status != RUN_STATUS_COMPLETED)
                        return;
                head(&f, mr, MESSAGE_JOB_CONCLUDED, LOG_INFO, "job-concluded", job, step);
                add(&f, "MESSAGE=%s concluded %s%s%s", w, run_conclusion_to_string(j->conclusion),
                        j->message ? ": " : ".", j->message ?: "");
                add(&f, "RUNNER_CONCLUSION=%s", run_conclusion_to_string(j->conclusion));
        } else {
                const RunStep *s = &run->jobs[job].steps[step];

                if (s->status != RUN_STATUS_COMPLETED)
                        return;
                head(&f, mr, MESSAGE_STEP_CONCLUDED, LOG_INFO, "step-concluded", job, step);
                add(&f, "MESSAGE=%s concluded %s (outcome %s)%s%s", w,
                        run_conclusion_to_string(s->conclusion), run_conclusion_to_string(s->outcome),
                        s->message ? ": " : ".", s->message ?: "");
                add(&f, "RUNNER_CONCLUSION=%s", run_conclusion_to_string(s->conclusion));
                add(&f, "RUNNER_OUTCOME=%s", run_conclusion_to_string(s->outcome));
                if (s->exit_code >= 0)
                        add(&f, "RUNNER_EXIT_CODE=%d", s->exit_code);
                if (s->exit_signal > 0)
                        add(&f, "RUNNER_EXIT_SIGNAL=SIG%s", sigabbrev_np(s->exit_signal) ?: "?");
                if (job < mr->n_job_ctx && mr->jobs[job]->refs &&
                        mr->jobs[job]->refs[step]->kill_to_empty_usec > 0)
                        add(&f, "RUNNER_KILL_TO_EMPTY_USEC=%" PRIu64,
                                mr->jobs[job]->refs[step]->kill_to_empty_usec);
        }
        send_fields(&f);
}

void journal_step_started(ManagedRun *mr, size_t job, size_t step, pid_t entry) {
        Fields f = {};
        char w[512];

        where(w, sizeof(w), mr, job, step);
        head(&f, mr, MESSAGE_STEP_STARTED, LOG_INFO, "step-started", job, step);
        add(&f, "MESSAGE=%s started, entry process %d.", w, (int) entry);
        add(&f, "RUNNER_PID=%d", (int) entry);
        send_fields(&f);
}

void journal_decision(ManagedRun *mr, const RunAction *a) {
        Fields f = {};
        char w[512];

        where(w, sizeof(w), mr, a->job, a->step);
        switch (a->event) {
        case RUN_EVENT_CANCEL_REQUESTED: {
                /* Set with the request: user, force or agent-stop. */
                const char *reason = run_cancel_reason_to_string(mr->run->cancel_reason)
                        ?: (a->result ? "force" : "user");

                head(&f, mr, MESSAGE_CANCEL_REQUESTED, LOG_NOTICE, "cancel-requested", SIZE_MAX, SIZE_MAX);
                add(&f, "MESSAGE=%s: %scancellation requested by %s (reason: %s%s%s).", w,
                        a->result ? "forced " : "", a->text ?: "unknown", reason,
                        mr->run->cancel_cause ? ", caused by run " : "", mr->run->cancel_cause ?: "");
                add(&f, "RUNNER_CANCELLED_BY=%s", a->text ?: "unknown");
                add(&f, "RUNNER_CANCEL_REASON=%s", reason);
                if (mr->run->cancel_cause)
                        add(&f, "RUNNER_CANCEL_CAUSE=%s", mr->run->cancel_cause);
                add(&f, "RUNNER_FORCE=%s", a->result ? "1" : "0");
                break;
        }
        case RUN_EVENT_JOB_CONDITION:
        case RUN_EVENT_STEP_CONDITION: {
                bool is_job = a->event == RUN_EVENT_JOB_CONDITION;

                head(&f, mr, is_job ? MESSAGE_JOB_CONDITION : MESSAGE_STEP_CONDITION, LOG_INFO,
                        is_job ? "job-condition" : "step-condition", a->job, a->step);
                add(&f, "MESSAGE=%s: if: %s is %s under the cancellation: %s%s%s", w, a->condition,
                        a->result ? "true" : "false",
                        a->result ? (is_job ? "the job goes on" : "the step runs")
                                  : (is_job ? "the job is cancelled" : "the step is cancelled or skipped"),
                        a->text ? ": " : ".", a->text ?: "");
                add(&f, "RUNNER_CONDITION=%s", a->condition);
                add(&f, "RUNNER_CONDITION_RESULT=%s", a->result ? "true" : "false");
                break;
        }
        case RUN_EVENT_JOB_CANCELLED: {
                const RunJob *j = &mr->run->jobs[a->job];
                const char *reason = run_cancel_reason_to_string(j->cancel_reason) ?: "user";

                head(&f, mr, MESSAGE_JOB_CANCELLED, LOG_NOTICE, "job-cancelled", a->job, SIZE_MAX);
                add(&f, "MESSAGE=%s: cancellation message sent to the job: %s (reason: %s%s%s)", w,
                        a->text ?: "", reason,
                        !j->cancel_cause                                            ? ""
                                : j->cancel_reason == RUN_CANCEL_REASON_CONCURRENCY ? ", caused by run "
                                                                                    : ", caused by ",
                        j->cancel_cause ?: "");
                add(&f, "RUNNER_REASON=%s", a->text ?: "");
                add(&f, "RUNNER_CANCEL_REASON=%s", reason);
                if (j->cancel_cause)
                        add(&f, "RUNNER_CANCEL_CAUSE=%s", j->cancel_cause);
                break;
        }
        case RUN_EVENT_STEP_TIMED_OUT:
                head(&f, mr, MESSAGE_STEP_TIMED_OUT, LOG_NOTICE, "step-timed-out", a->job, a->step);
                add(&f, "MESSAGE=%s reached its %s: cancelling it (reason: step-timeout).", w,
                        a->text ?: "timeout");
                add(&f, "RUNNER_CANCEL_REASON=step-timeout");
                break;
        case RUN_EVENT_OUTPUT_DROPPED:
                head(&f, mr, MESSAGE_OUTPUT_DROPPED, LOG_WARNING, "output-dropped", a->job, SIZE_MAX);
                add(&f, "MESSAGE=%s: output %s contains a secret; it is dropped.", w, a->text ?: "");
                add(&f, "RUNNER_OUTPUT=%s", a->text ?: "");
                break;
        case RUN_EVENT_FORCE:
                return; /* logged with the kill it leads to: journal_run_forced() */
        default:
                return;
        }
        send_fields(&f);
}

void journal_signal(ManagedRun *mr, size_t job, size_t step, int sig, pid_t pid, unsigned processes,
        uint64_t elapsed_usec) {
        Fields f = {};
        char w[512];
        const char *phase = sig == SIGINT ? "interrupt" : "terminate";

        where(w, sizeof(w), mr, job, step);
        head(&f, mr, MESSAGE_SIGNAL_SENT, LOG_NOTICE, phase, job, step);
        if (processes > 0)
                add(&f,
                        "MESSAGE=%s: SIG%s sent to the %u processes of its scope, %" PRIu64
                        " ms into its cancellation.",
                        w, sigabbrev_np(sig), processes, elapsed_usec / 1000);
        else
                add(&f,
                        "MESSAGE=%s: SIG%s sent to its entry process %d, %" PRIu64
                        " ms into its cancellation.",
                        w, sigabbrev_np(sig), (int) pid, elapsed_usec / 1000);
        add(&f, "RUNNER_CANCEL_PHASE=%s", phase);
        add(&f, "RUNNER_SIGNAL=SIG%s", sigabbrev_np(sig));
        add(&f, "RUNNER_PID=%d", (int) pid);
        add(&f, "RUNNER_SIGNAL_TARGET=%s", processes > 0 ? "cgroup" : "entry");
        if (processes > 0)
                add(&f, "RUNNER_PROCESSES=%u", processes);
        add(&f, "RUNNER_ELAPSED_USEC=%" PRIu64, elapsed_usec);
        send_fields(&f);
}

void journal_step_killed(
        ManagedRun *mr, size_t job, size_t step, unsigned processes, uint64_t elapsed_usec) {
        Fields f = {};
        char w[512];

        where(w, sizeof(w), mr, job, step);
        head(&f, mr, MESSAGE_STEP_KILLED, LOG_NOTICE, "kill", job, step);
        add(&f,
                "MESSAGE=%s: killed its scope's cgroup (%u processes), %" PRIu64
                " ms into its cancellation.",
                w, processes, elapsed_usec / 1000);
        add(&f, "RUNNER_CANCEL_PHASE=kill");
        add(&f, "RUNNER_SIGNAL=SIGKILL");
        add(&f, "RUNNER_PROCESSES=%u", processes);
        add(&f, "RUNNER_ELAPSED_USEC=%" PRIu64, elapsed_usec);
        send_fields(&f);
}

void journal_group(ManagedRun *mr, size_t job, const char *group, bool pending) {
        Fields f = {};
        char w[512];

        where(w, sizeof(w), mr, job, SIZE_MAX);
        head(&f, mr, MESSAGE_CONCURRENCY_GROUP, LOG_INFO,
                pending ? "concurrency-pending" : "concurrency-acquired", job, SIZE_MAX);
        if (pending)
                add(&f, "MESSAGE=%s is pending in concurrency group '%s'.", w, group);
        else
                add(&f, "MESSAGE=%s holds concurrency group '%s' and starts.", w, group);
        add(&f, "RUNNER_CONCURRENCY_GROUP=%s", group);
        add(&f, "RUNNER_CONCURRENCY_STATE=%s", pending ? "pending" : "acquired");
        send_fields(&f);
}

void journal_step_aborted(ManagedRun *mr, size_t job, size_t step, bool held) {
        Fields f = {};
        char w[512];

        where(w, sizeof(w), mr, job, step);
        head(&f, mr, MESSAGE_STEP_ABORTED, LOG_NOTICE, "step-aborted", job, step);
        if (held)
                add(&f, "MESSAGE=%s: cancelled while its scope was being created; it will not start.", w);
        else
                add(&f, "MESSAGE=%s: cancelled while its entry process was starting; it is signalled once it runs.",
                        w);
        send_fields(&f);
}

void journal_run_forced(ManagedRun *mr, const char *why, unsigned processes, uint64_t elapsed_usec) {
        Fields f = {};
        _cleanup_free_ char *slice = NULL;

        head(&f, mr, MESSAGE_RUN_FORCE_TERMINATED, LOG_WARNING, "force", SIZE_MAX, SIZE_MAX);
        (void) run_slice_name(mr->id, &slice);
        add(&f,
                "MESSAGE=Run %" PRIu64 " force-terminated (%s): killed %s with %u processes, %" PRIu64
                " ms after the cancel request.",
                mr->id, why ?: "forced", strna(slice), processes, elapsed_usec / 1000);
        add(&f, "RUNNER_CANCEL_PHASE=force");
        if (mr->run && run_cancel_reason_to_string(mr->run->force_reason))
                add(&f, "RUNNER_CANCEL_REASON=%s", run_cancel_reason_to_string(mr->run->force_reason));
        add(&f, "RUNNER_SIGNAL=SIGKILL");
        add(&f, "RUNNER_UNIT=%s", strna(slice));
        add(&f, "RUNNER_REASON=%s", why ?: "forced");
        add(&f, "RUNNER_PROCESSES=%u", processes);
        add(&f, "RUNNER_ELAPSED_USEC=%" PRIu64, elapsed_usec);
        send_fields(&f);
}

void journal_agent_handed_over(unsigned runs, unsigned steps) {
        Fields f = {};

        add(&f, "MESSAGE_ID=%s", MESSAGE_AGENT_HANDED_OVER);
        add(&f, "PRIORITY=%d", LOG_NOTICE);
        add(&f, "RUNNER_EVENT=agent-handed-over");
        add(&f, "MESSAGE=runner-agent is restarting: %u runs with %u running steps go on, for the next agent to take over.",
                runs, steps);
        add(&f, "RUNNER_RUNS=%u", runs);
        add(&f, "RUNNER_STEPS=%u", steps);
        send_fields(&f);
}

void journal_agent_readopted(
        unsigned runs, unsigned steps, unsigned ended, uint64_t away_usec, unsigned overdue) {
        Fields f = {};

        add(&f, "MESSAGE_ID=%s", MESSAGE_AGENT_READOPTED);
        add(&f, "PRIORITY=%d", LOG_NOTICE);
        add(&f, "RUNNER_EVENT=agent-readopted");
        add(&f,
                "MESSAGE=runner-agent took over %u unfinished runs: %u running steps, %u that ended while it was away"
                "%s%.3f s away; %u cancellation stages fell due meanwhile and are carried out now.",
                runs, steps, ended, away_usec > 0 ? ", " : "; time away unknown", (double) away_usec / 1e6,
                overdue);
        add(&f, "RUNNER_RUNS=%u", runs);
        add(&f, "RUNNER_STEPS=%u", steps);
        add(&f, "RUNNER_STEPS_ENDED=%u", ended);
        if (away_usec > 0)
                add(&f, "RUNNER_AWAY_USEC=%" PRIu64, away_usec);
        add(&f, "RUNNER_OVERDUE=%u", overdue);
        send_fields(&f);
}

void journal_run_interrupted(uint64_t id, const char *slice, unsigned processes, const char *why) {
        Fields f = {};

        add(&f, "MESSAGE_ID=%s", MESSAGE_RUN_INTERRUPTED);
        add(&f, "PRIORITY=%d", LOG_WARNING);
        add(&f, "RUNNER_EVENT=run-interrupted");
        add(&f, "RUNNER_RUN_ID=%" PRIu64, id);
        add(&f, "MESSAGE=Run %" PRIu64 " cannot be taken over (%s): killing the %u processes left in %s.",
                id, why, processes, slice);
        add(&f, "RUNNER_REASON=%s", why);
        add(&f, "RUNNER_UNIT=%s", slice);
        add(&f, "RUNNER_CANCEL_PHASE=kill");
        add(&f, "RUNNER_PROCESSES=%u", processes);
        send_fields(&f);
}

void journal_orphan(ManagedRun *mr, size_t job, pid_t pid, const char *command) {
        Fields f = {};
        char w[512];

        where(w, sizeof(w), mr, job, SIZE_MAX);
        head(&f, mr, MESSAGE_ORPHAN_KILLED, LOG_NOTICE, "orphan", job, SIZE_MAX);
        add(&f, "MESSAGE=%s: killing process %d (%s) left running by its steps.", w, (int) pid, command);
        add(&f, "RUNNER_CANCEL_PHASE=orphans");
        add(&f, "RUNNER_PID=%d", (int) pid);
        add(&f, "RUNNER_COMMAND=%s", command);
        send_fields(&f);
}

void journal_job_slice_killed(ManagedRun *mr, size_t job, size_t processes, unsigned orphans) {
        Fields f = {};
        char w[512];

        where(w, sizeof(w), mr, job, SIZE_MAX);
        head(&f, mr, MESSAGE_JOB_SLICE_KILLED, LOG_INFO, "job-slice-killed", job, SIZE_MAX);
        add(&f, "MESSAGE=%s ended: killing its slice (%zu processes, %u left by steps).", w, processes,
                orphans);
        add(&f, "RUNNER_CANCEL_PHASE=orphans");
        add(&f, "RUNNER_PROCESSES=%zu", processes);
        send_fields(&f);
}
