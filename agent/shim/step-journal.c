/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>

#include "macro.h"
#include "step-journal.h"

/* journald keeps at most RateLimitBurst= (10000) entries of a unit per RateLimitIntervalSec= (30 s),
 * and drops the rest without telling the sender. A token bucket of JOURNAL_BURST_LINES refilled at
 * JOURNAL_LINES_PER_SEC sends at most 9000 + 30 * 30 = 9900 in any 30 s, so that with journald's
 * defaults every line sent is kept and the gap stated is the whole gap. The last HELD_LINES tokens
 * are kept for the step's last lines: over the budget, the newest output of each stream is kept as
 * it came (TAIL_BYTES, copied, not cut into lines), and its last HELD_LINES / 2 lines are sent when
 * the output ends, so that a flood's journal copy has its beginning, a trickle, and its end (where
 * the error usually is). */
#define JOURNAL_BURST_LINES 9000.0
#define JOURNAL_LINES_PER_SEC 30.0
#define HELD_LINES 500U
/* A step's bytes in the journal are budgeted too (one 100 MB line is 2,000 pieces). The burst's lines
 * wait in memory while a flood lasts, and memory a process touches first costs it more than copying
 * does: with a burst of 4 MiB, a step writing 1,000-byte lines took 1.2 times as long as with 1 MiB on the
 * machines of the README's benchmarks. */
#define JOURNAL_BURST_BYTES (1.0 * 1024 * 1024)
#define JOURNAL_BYTES_PER_SEC (64.0 * 1024)
#define TAIL_BYTES (128U * 1024U)
#define HELD_BYTES (2U * TAIL_BYTES)
/* What may wait for journald: the whole burst. */
#define JOURNAL_QUEUE_MAX_BYTES (6U * 1024U * 1024U)
#define LINE_PIECE_MAX (48U * 1024U) /* longer lines go to journald in pieces */
#define MAX_EXTRA 3U
#define NOTICE_WAIT_USEC (500U * 1000U)
/* A flood: more than FLOOD_BYTES of output within FLOOD_WINDOW_NS. While one lasts, and FLOOD_HOLD_NS
 * after, what is queued for journald waits: journald's work for a flood's first lines (35-60 µs of CPU
 * an entry, 0.4-0.7 s for the burst on the machines the README's benchmarks ran on) would compete
 * with the step for the CPU, and it goes once the output pauses or ends instead (README, "Step
 * output"). A step printing lines as it works stays far below the rate, and its lines go as they
 * come. */
#define FLOOD_BYTES (32U * 1024U)
#define FLOOD_WINDOW_NS (10ULL * 1000000ULL)
#define FLOOD_HOLD_NS (20ULL * 1000000ULL)

typedef struct Record {
        struct Record *next;
        int priority;
        size_t len;       /* of the message */
        size_t extra_len; /* NUL-separated NAME=VALUE fields after it */
        char data[];
} Record;

typedef struct Stream {
        char line[LINE_PIECE_MAX];
        size_t len;
        bool dropping;       /* the current line is left out */
        char *tail;          /* a ring of TAIL_BYTES: the newest output over the budget, whole lines */
        uint64_t tail_total; /* bytes put in it since it was last emptied */
} Stream;

typedef int (*journal_sendv_t)(const struct iovec *iov, int n);

struct JournalCopy {
        const char *const *fields;
        size_t n_fields;
        const char *log_path;
        Stream streams[_JOURNAL_STREAM_MAX];

        /* The feeding thread's alone. */
        double line_tokens, byte_tokens;
        uint64_t refilled_ns;
        uint64_t left_lines, left_bytes; /* not queued: over the budget or the queue */
        uint64_t stated_lines;
        uint64_t window_ns;  /* the start of the current FLOOD_WINDOW_NS */
        size_t window_bytes; /* fed since */
        /* Records of the current feed, queued together at its end: one lock a read, not one a line. */
        Record *batch_head, **batch_tail;
        size_t batch_bytes;
        size_t queued_seen; /* queued_bytes when last looked at under the lock */

        pthread_t thread;
        bool started, start_failed;
        /* Under lock. */
        pthread_mutex_t lock;
        pthread_cond_t wake, idle;
        Record *head, **tail;
        size_t queued_bytes;
        bool busy, stop;
        bool waiting;                    /* the thread waits for records, not for a hold to end */
        bool flushing;                   /* the output ended: nothing is held any more */
        uint64_t hold_until_ns;          /* a flood: sending waits until then (CLOCK_MONOTONIC) */
        uint64_t lost_lines, lost_bytes; /* queued but never sent: dropped at a flush or refused */
};

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* The condition variables wait on CLOCK_MONOTONIC: a wall clock set back does not stretch a wait. */
static struct timespec timespec_of(uint64_t ns) {
        return (struct timespec){ .tv_sec = (time_t) (ns / 1000000000ULL),
                .tv_nsec = (long) (ns % 1000000000ULL) };
}

int journal_copy_new(const char *const *fields, size_t n_fields, const char *log_path, JournalCopy **ret) {
        pthread_condattr_t attr;
        JournalCopy *j;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->fields = fields;
        j->n_fields = n_fields;
        j->log_path = log_path;
        j->line_tokens = JOURNAL_BURST_LINES;
        j->byte_tokens = JOURNAL_BURST_BYTES;
        j->refilled_ns = now_ns();
        j->tail = &j->head;
        j->batch_tail = &j->batch_head;
        pthread_mutex_init(&j->lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&j->wake, &attr);
        pthread_cond_init(&j->idle, &attr);
        pthread_condattr_destroy(&attr);
        *ret = j;
        return 0;
}

static journal_sendv_t load_sendv(void) {
        journal_sendv_t f = NULL;
        void *h;

        h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
        if (h)
                f = (journal_sendv_t) dlsym(h, "sd_journal_sendv");
        if (!f)
                fprintf(stderr,
                        "runner-step: cannot load sd_journal_sendv from libsystemd.so.0; output goes to the log file only\n");
        return f;
}

static int send_record(journal_sendv_t sendv, const JournalCopy *j, const Record *rec) {
        struct iovec iov[3 + 16 + MAX_EXTRA + 1];
        _cleanup_free_ char *message = NULL;
        char prio[32];
        size_t n = 0;

        message = malloc(STRLEN("MESSAGE=") + rec->len);
        if (!message)
                return -ENOMEM;
        memcpy(message, "MESSAGE=", STRLEN("MESSAGE="));
        memcpy(message + STRLEN("MESSAGE="), rec->data, rec->len);
        iov[n++] = (struct iovec){ message, STRLEN("MESSAGE=") + rec->len };
        snprintf(prio, sizeof(prio), "PRIORITY=%d", rec->priority);
        iov[n++] = (struct iovec){ prio, strlen(prio) };
        iov[n++] = (struct iovec){ (char *) "SYSLOG_IDENTIFIER=runner-step",
                STRLEN("SYSLOG_IDENTIFIER=runner-step") };
        for (size_t i = 0; i < j->n_fields && i < 16; i++)
                iov[n++] = (struct iovec){ (char *) j->fields[i], strlen(j->fields[i]) };
        for (size_t off = 0, k = 0; off < rec->extra_len && k < MAX_EXTRA; k++) {
                const char *f = rec->data + rec->len + off;

                iov[n++] = (struct iovec){ (char *) f, strlen(f) };
                off += strlen(f) + 1;
        }
        return sendv(iov, (int) n);
}

static void *journal_thread(void *userdata) {
        JournalCopy *j = userdata;
        journal_sendv_t sendv = load_sendv();

        pthread_mutex_lock(&j->lock);
        for (;;) {
                Record *rec;
                int r;

                while (!j->head && !j->stop) {
                        j->waiting = true;
                        pthread_cond_wait(&j->wake, &j->lock);
                }
                j->waiting = false;
                if (!j->head)
                        break;
                if (!j->stop && !j->flushing && now_ns() < j->hold_until_ns) {
                        struct timespec ts = timespec_of(j->hold_until_ns);

                        (void) pthread_cond_timedwait(&j->wake, &j->lock, &ts);
                        continue;
                }
                rec = j->head;
                j->head = rec->next;
                if (!j->head)
                        j->tail = &j->head;
                j->queued_bytes -= rec->len;
                j->busy = true;
                pthread_mutex_unlock(&j->lock);

                r = sendv ? send_record(sendv, j, rec) : -ENOSYS;

                pthread_mutex_lock(&j->lock);
                if (r < 0) {
                        j->lost_lines++;
                        j->lost_bytes += rec->len;
                }
                free(rec);
                j->busy = false;
                if (!j->head)
                        pthread_cond_broadcast(&j->idle);
        }
        j->busy = false;
        pthread_cond_broadcast(&j->idle);
        pthread_mutex_unlock(&j->lock);
        return NULL;
}

static void start_thread(JournalCopy *j) {
        int r;

        if (j->started || j->start_failed)
                return;
        r = pthread_create(&j->thread, NULL, journal_thread, j);
        if (r != 0) {
                j->start_failed = true;
                fprintf(stderr,
                        "runner-step: cannot start the journal copy: %s; output goes to the log file only\n",
                        strerror(r));
                return;
        }
        j->started = true;
}

/* The thread, which loads libsystemd, starts once the entry process runs, so that it is not on the
 * path from the agent's decision to the step running (bench-step-start), and loads libsystemd while
 * the entry starts, not once its output flows. */
void journal_copy_start(JournalCopy *j) {
        start_thread(j);
}

/* Adds a record to the current batch; false if the queue would be full (forced: never). The batch
 * reaches the thread's queue with publish(), under the lock, once per feed. */
static bool enqueue(JournalCopy *j, int priority, const char *data, size_t len, const char *extra,
        size_t extra_len, bool forced) {
        Record *rec;

        start_thread(j);
        if (!forced && j->queued_seen + j->batch_bytes + len > JOURNAL_QUEUE_MAX_BYTES)
                return false;
        rec = malloc(sizeof(Record) + len + extra_len);
        if (!rec)
                return false;
        rec->next = NULL;
        rec->priority = priority;
        rec->len = len;
        rec->extra_len = extra_len;
        memcpy(rec->data, data, len);
        if (extra_len > 0)
                memcpy(rec->data + len, extra, extra_len);
        *j->batch_tail = rec;
        j->batch_tail = &rec->next;
        j->batch_bytes += len;
        return true;
}

/* The batch to the thread's queue (lock held). */
static void publish(JournalCopy *j) {
        if (j->batch_head) {
                *j->tail = j->batch_head;
                j->tail = j->batch_tail;
                j->queued_bytes += j->batch_bytes;
                j->batch_head = NULL;
                j->batch_tail = &j->batch_head;
                j->batch_bytes = 0;
        }
        j->queued_seen = j->queued_bytes;
}

/* Queues the feed's batch and wakes the thread for it: once a feed, not once a line, as every lock
 * taken against the thread and every wakeup is a system call and a context switch (a flood's first
 * 9,000 lines come in a few reads). hold_until: sending waits until then (0: no hold). A thread waiting
 * for a hold to end is not woken: it finds the later end when the earlier one comes. */
static void kick(JournalCopy *j, uint64_t hold_until) {
        if (!j->started)
                return;
        pthread_mutex_lock(&j->lock);
        publish(j);
        if (hold_until > j->hold_until_ns)
                j->hold_until_ns = hold_until;
        if (j->head && (j->waiting || j->hold_until_ns <= now_ns()))
                pthread_cond_signal(&j->wake);
        pthread_mutex_unlock(&j->lock);
}

static void refill(JournalCopy *j) {
        uint64_t now = now_ns();
        double sec = (double) (now - j->refilled_ns) / 1e9;

        j->refilled_ns = now;
        j->line_tokens = MIN(JOURNAL_BURST_LINES, j->line_tokens + sec * JOURNAL_LINES_PER_SEC);
        j->byte_tokens = MIN(JOURNAL_BURST_BYTES, j->byte_tokens + sec * JOURNAL_BYTES_PER_SEC);
}

/* Whether a line may go now, the tail's reserve kept. */
static bool live_ok(const JournalCopy *j, size_t len) {
        return j->line_tokens >= HELD_LINES + 1.0 && j->byte_tokens >= (double) HELD_BYTES + (double) len;
}

static int priority_of(unsigned stream) {
        return stream == JOURNAL_STDERR ? LOG_WARNING : LOG_INFO;
}

static void tail_append(Stream *s, const char *data, size_t len) {
        if (!s->tail) {
                s->tail = malloc(TAIL_BYTES);
                if (!s->tail)
                        return;
        }
        if (len > TAIL_BYTES) {
                s->tail_total += len - TAIL_BYTES;
                data += len - TAIL_BYTES;
                len = TAIL_BYTES;
        }
        while (len > 0) {
                size_t pos = (size_t) (s->tail_total % TAIL_BYTES), n = MIN(len, TAIL_BYTES - pos);

                memcpy(s->tail + pos, data, n);
                s->tail_total += n;
                data += n;
                len -= n;
        }
}

/* Over the budget: left out, unless it turns out to be among the last lines. */
static void hold(JournalCopy *j, unsigned stream, const char *data, size_t len, bool line_end) {
        Stream *s = &j->streams[stream];

        tail_append(s, data, len);
        if (line_end)
                tail_append(s, "\n", 1);
        j->left_lines += line_end;
        j->left_bytes += len;
}

/* One line or piece of a line: queued now, or held back for the end. */
static void emit(JournalCopy *j, unsigned stream, const char *data, size_t len, bool line_end) {
        if (!live_ok(j, len)) {
                if (!line_end) {
                        /* A piece of a long line: the rest of the line is left out as it comes, not
                         * copied (the tail keeps whole lines; a 100 MB line would be copied twice). */
                        j->streams[stream].dropping = true;
                        j->left_bytes += len;
                        return;
                }
                hold(j, stream, data, len, line_end);
                return;
        }
        if (!enqueue(j, priority_of(stream), data, len, NULL, 0, false)) {
                j->left_lines++;
                j->left_bytes += len;
                return;
        }
        j->line_tokens -= 1.0;
        j->byte_tokens -= (double) len;
        /* What was held back is no longer the end of the output, and it cannot come after this. */
        for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++)
                j->streams[i].tail_total = 0;
}

/* Newlines in data: the count of lines left out of a flood, with no per-line work. A flood's every byte
 * passes here, so 16 at a time (GCC's and clang's vector extensions): each comparison gives -1 where a
 * byte is '\n', summed in bytes for up to 255 rounds. 16 bytes is what every x86-64 (SSE2) and arm64
 * (NEON) does in one instruction: wider vectors on the x86-64 baseline are split up by the compiler,
 * and GCC 12's code for 32 ran 17 times slower on the machines of the README's benchmarks (1.8 against
 * 31 GB/s). */
typedef uint8_t ByteVector __attribute__((vector_size(16)));

static uint64_t count_newlines(const char *data, size_t len) {
        const ByteVector newline = (ByteVector){} + '\n';
        uint64_t c = 0;
        size_t i = 0;

        while (i + sizeof(ByteVector) <= len) {
                ByteVector sum = {};

                for (unsigned k = 0; k < 255 && i + sizeof(ByteVector) <= len;
                        k++, i += sizeof(ByteVector)) {
                        ByteVector v;

                        memcpy(&v, data + i, sizeof(v));
                        sum -= (ByteVector) (v == newline);
                }
                for (unsigned b = 0; b < sizeof(ByteVector); b++)
                        c += sum[b];
        }
        for (; i < len; i++)
                c += data[i] == '\n';
        return c;
}

/* Over the budget, a whole read at once: counted as left out, its complete lines kept in the stream's
 * tail, with no per-line work. */
static void feed_over_budget(JournalCopy *j, unsigned stream, const char *p, const char *end) {
        Stream *s = &j->streams[stream];
        const char *last_nl = memrchr(p, '\n', (size_t) (end - p));

        if (last_nl) {
                j->left_lines += count_newlines(p, (size_t) (last_nl + 1 - p));
                j->left_bytes += (uint64_t) (last_nl - p); /* the lines' bytes, as for lines sent */
                tail_append(s, p, (size_t) (last_nl + 1 - p));
                p = last_nl + 1;
        }
        /* The line still being written. */
        if ((size_t) (end - p) <= sizeof(s->line)) {
                memcpy(s->line, p, (size_t) (end - p));
                s->len = (size_t) (end - p);
        } else {
                s->dropping = true;
                j->left_bytes += (uint64_t) (end - p);
        }
}

static void feed(JournalCopy *j, unsigned stream, const char *data, size_t len) {
        Stream *s = &j->streams[stream];
        const char *p = data, *end = data + len;

        refill(j);
        while (p < end) {
                const char *nl, *seg_end;

                if (s->len == 0 && !s->dropping && !live_ok(j, 0)) {
                        feed_over_budget(j, stream, p, end);
                        return;
                }
                nl = memchr(p, '\n', (size_t) (end - p));
                seg_end = nl ?: end;
                if (s->dropping)
                        j->left_bytes += (uint64_t) (seg_end - p);
                else
                        while (p < seg_end) {
                                size_t n = MIN((size_t) (seg_end - p), sizeof(s->line) - s->len);

                                memcpy(s->line + s->len, p, n);
                                s->len += n;
                                p += n;
                                if (s->len == sizeof(s->line)) {
                                        /* A piece of a long line. */
                                        emit(j, stream, s->line, s->len, false);
                                        s->len = 0;
                                        if (s->dropping) {
                                                j->left_bytes += (uint64_t) (seg_end - p);
                                                p = seg_end;
                                        }
                                }
                        }
                if (!nl)
                        return;
                if (s->dropping)
                        j->left_lines++;
                else
                        emit(j, stream, s->line, s->len, true);
                s->len = 0;
                s->dropping = false;
                p = nl + 1;
        }
}

void journal_copy_feed(JournalCopy *j, unsigned stream, const char *data, size_t len) {
        uint64_t now = now_ns();

        if (now - j->window_ns > FLOOD_WINDOW_NS) {
                j->window_ns = now;
                j->window_bytes = 0;
        }
        j->window_bytes += len;
        feed(j, stream, data, len);
        /* A flood holds what is queued until the output pauses; any other output waits until its
         * window ends, so that a flood's first read is not sent before the flood is seen. */
        kick(j, j->window_bytes > FLOOD_BYTES ? now + FLOOD_HOLD_NS : j->window_ns + FLOOD_WINDOW_NS);
}

void journal_copy_end_stream(JournalCopy *j, unsigned stream) {
        Stream *s = &j->streams[stream];

        refill(j);
        if (s->dropping)
                j->left_lines++;
        else if (s->len > 0)
                emit(j, stream, s->line, s->len, true);
        s->len = 0;
        s->dropping = false;
        kick(j, 0);
}

void journal_copy_message(JournalCopy *j, int priority, const char *text) {
        (void) enqueue(j, priority, text, strlen(text), NULL, 0, true);
        kick(j, 0);
}

/* Waits (lock held) until the queue is empty and the thread idle, or until deadline_ns. */
static bool wait_idle(JournalCopy *j, uint64_t deadline_ns) {
        struct timespec ts = timespec_of(deadline_ns);

        if (!j->started)
                return !j->head;
        while (j->head || j->busy)
                if (pthread_cond_timedwait(&j->idle, &j->lock, &ts) == ETIMEDOUT)
                        break;
        return !j->head && !j->busy;
}

/* The last HELD_LINES / 2 complete lines of a stream's tail, queued; no longer left out. */
static void send_tail(JournalCopy *j, unsigned stream) {
        Stream *s = &j->streams[stream];
        _cleanup_free_ char *buf = NULL;
        size_t len = (size_t) MIN(s->tail_total, (uint64_t) TAIL_BYTES), start = 0, end, k = 0;
        size_t pos = (size_t) (s->tail_total % TAIL_BYTES);

        if (!s->tail || len == 0)
                return;
        buf = malloc(len);
        if (!buf)
                return;
        /* In order: from the oldest byte kept. */
        if (s->tail_total > TAIL_BYTES) {
                memcpy(buf, s->tail + pos, TAIL_BYTES - pos);
                memcpy(buf + TAIL_BYTES - pos, s->tail, pos);
                /* The first line was cut by the ring: it stays left out. */
                char *nl = memchr(buf, '\n', len);
                start = nl ? (size_t) (nl + 1 - buf) : len;
        } else
                memcpy(buf, s->tail, len);
        s->tail_total = 0;
        /* From the end: where the last HELD_LINES / 2 lines begin. */
        end = len;
        while (end > start && buf[end - 1] != '\n')
                end--; /* a piece of a line still being written, if any, is not a line yet */
        for (size_t i = end; i > start && k <= HELD_LINES / 2; i--)
                if (buf[i - 1] == '\n' && i != end) {
                        if (++k == HELD_LINES / 2) {
                                start = i;
                                break;
                        }
                }
        for (const char *p = buf + start; p < buf + end;) {
                const char *nl = memchr(p, '\n', (size_t) (buf + end - p));
                size_t n = (size_t) (nl - p);

                if (enqueue(j, priority_of(stream), p, n, NULL, 0, true)) {
                        j->left_lines--;
                        j->left_bytes -= n;
                        j->line_tokens -= 1.0;
                        j->byte_tokens -= (double) n;
                }
                p = nl + 1;
        }
}

void journal_copy_flush(JournalCopy *j, uint64_t timeout_usec) {
        char text[512], extra[256];
        uint64_t lines, bytes;
        int n, m;

        /* The lines held back are the output's last: they go now, on the budget's reserve. */
        for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++)
                send_tail(j, i);
        pthread_mutex_lock(&j->lock);
        publish(j);
        j->flushing = true;
        if (j->head)
                pthread_cond_signal(&j->wake);
        if (!wait_idle(j, now_ns() + timeout_usec * 1000ULL))
                /* journald did not take it in time: what still waits is left out. */
                while (j->head) {
                        Record *rec = j->head;

                        j->head = rec->next;
                        j->lost_lines++;
                        j->lost_bytes += rec->len;
                        j->queued_bytes -= rec->len;
                        free(rec);
                }
        if (!j->head)
                j->tail = &j->head;
        lines = j->left_lines + j->lost_lines;
        bytes = j->left_bytes + j->lost_bytes;
        pthread_mutex_unlock(&j->lock);

        if (lines == j->stated_lines)
                return;
        j->stated_lines = lines;
        n = snprintf(text, sizeof(text),
                "%" PRIu64 " lines (%" PRIu64 " bytes) of this step's output were left out of the journal "
                "to keep pace with the step (the lines before this are its last); the complete output is in %s",
                lines, bytes, j->log_path ?: "no log file (runner-step ran without --log)");
        m = snprintf(extra, sizeof(extra),
                "RUNNER_LINES_LEFT_OUT=%" PRIu64 "%cRUNNER_BYTES_LEFT_OUT=%" PRIu64 "%c", lines, '\0', bytes,
                '\0');
        if (j->log_path)
                m += snprintf(
                        extra + m, sizeof(extra) - (size_t) m, "RUNNER_LOG=%.200s%c", j->log_path, '\0');
        (void) enqueue(j, LOG_NOTICE, text, (size_t) MIN(n, (int) sizeof(text) - 1), extra,
                (size_t) MIN(m, (int) sizeof(extra)), true);
        pthread_mutex_lock(&j->lock);
        publish(j);
        pthread_cond_signal(&j->wake);
        (void) wait_idle(j, now_ns() + NOTICE_WAIT_USEC * 1000ULL);
        pthread_mutex_unlock(&j->lock);
}

JournalCopy *journal_copy_free(JournalCopy *j, bool *ret_stuck) {
        bool idle;

        *ret_stuck = false;
        if (!j)
                return NULL;
        if (j->started) {
                pthread_mutex_lock(&j->lock);
                idle = !j->busy;
                j->stop = true;
                /* Not sent by now: left out (journal_copy_flush() has stated what it could). */
                while (idle && j->head) {
                        Record *rec = j->head;

                        j->head = rec->next;
                        free(rec);
                }
                pthread_cond_signal(&j->wake);
                pthread_mutex_unlock(&j->lock);
                if (!idle) {
                        *ret_stuck = true;
                        return NULL;
                }
                pthread_join(j->thread, NULL);
        }
        while (j->head) {
                Record *rec = j->head;

                j->head = rec->next;
                free(rec);
        }
        while (j->batch_head) {
                Record *rec = j->batch_head;

                j->batch_head = rec->next;
                free(rec);
        }
        for (unsigned i = 0; i < _JOURNAL_STREAM_MAX; i++)
                free(j->streams[i].tail);
        pthread_mutex_destroy(&j->lock);
        pthread_cond_destroy(&j->wake);
        pthread_cond_destroy(&j->idle);
        free(j);
        return NULL;
}
