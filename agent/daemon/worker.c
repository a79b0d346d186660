/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <linux/ioprio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "worker.h"

typedef struct Job Job;
struct Job {
        Job *next;
        worker_func_t func;
        worker_done_t done;
        void *data;
        int result;
};

struct Worker {
        pthread_t thread;
        bool started;
        bool background;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        Job *todo, *todo_tail; /* for the thread */
        Job *done, *done_tail; /* for the loop */
        unsigned pending;      /* submitted, completion not yet called */
        bool exiting;
        int event_fd; /* the thread tells the loop that jobs are done */
        sd_event_source *source;
};

static void queue_push(Job **head, Job **tail, Job *j) {
        j->next = NULL;
        if (*tail)
                (*tail)->next = j;
        else
                *head = j;
        *tail = j;
}

static Job *queue_pop(Job **head, Job **tail) {
        Job *j = *head;

        if (j) {
                *head = j->next;
                if (!*head)
                        *tail = NULL;
        }
        return j;
}

/* The lowest CPU and I/O priority for this thread and what it spawns (both are per thread on Linux and
 * inherited by a child): on a busy machine its work must not take the CPU from the loop, whose thread
 * shares the service's cgroup with it (README, Benchmarks: bench-loop). Best-effort I/O at its lowest
 * level, not the idle class, which a machine that never stops writing would starve. */
static void thread_to_background(void) {
        pid_t tid = gettid();

        (void) setpriority(PRIO_PROCESS, (id_t) tid, 19);
        (void) syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 7));
}

static void *thread_main(void *userdata) {
        Worker *w = userdata;

        if (w->background)
                thread_to_background();
        pthread_mutex_lock(&w->lock);
        for (;;) {
                Job *j = queue_pop(&w->todo, &w->todo_tail);
                uint64_t one = 1;

                if (!j) {
                        if (w->exiting)
                                break;
                        pthread_cond_wait(&w->wake, &w->lock);
                        continue;
                }
                pthread_mutex_unlock(&w->lock);
                j->result = j->func(j->data);
                pthread_mutex_lock(&w->lock);
                queue_push(&w->done, &w->done_tail, j);
                (void) !write(w->event_fd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

/* Calls the completions of every finished job, in order. */
static void complete(Worker *w) {
        for (;;) {
                Job *j;

                pthread_mutex_lock(&w->lock);
                j = queue_pop(&w->done, &w->done_tail);
                pthread_mutex_unlock(&w->lock);
                if (!j)
                        return;
                w->pending--;
                if (j->done)
                        j->done(j->result, j->data);
                free(j);
        }
}

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        uint64_t n;

        (void) !read(fd, &n, sizeof(n));
        complete(userdata);
        return 0;
}

int worker_new(sd_event *event, bool background, Worker **ret) {
        Worker *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->background = background;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        w->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->event_fd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &w->source, w->event_fd, EPOLLIN, on_event, w);
        if (r < 0)
                goto fail;
        r = -pthread_create(&w->thread, NULL, thread_main, w);
        if (r < 0)
                goto fail;
        w->started = true;
        *ret = w;
        return 0;
fail:
        worker_free(w);
        return r;
}

int worker_submit(Worker *w, worker_func_t func, worker_done_t done, void *data) {
        Job *j;

        if (!w || !func)
                return -EINVAL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (Job){ .func = func, .done = done, .data = data };
        pthread_mutex_lock(&w->lock);
        queue_push(&w->todo, &w->todo_tail, j);
        w->pending++;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        return 0;
}

unsigned worker_pending(const Worker *w) {
        return w ? w->pending : 0;
}

void worker_cancel_queued(Worker *w) {
        uint64_t one = 1;
        bool any = false;
        Job *j;

        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        while ((j = queue_pop(&w->todo, &w->todo_tail))) {
                j->result = -ECANCELED;
                queue_push(&w->done, &w->done_tail, j);
                any = true;
        }
        if (any)
                (void) !write(w->event_fd, &one, sizeof(one));
        pthread_mutex_unlock(&w->lock);
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        if (w->started) {
                pthread_mutex_lock(&w->lock);
                w->exiting = true;
                pthread_cond_signal(&w->wake);
                pthread_mutex_unlock(&w->lock);
                pthread_join(w->thread, NULL);
        }
        complete(w);
        w->source = sd_event_source_disable_unref(w->source);
        safe_close(w->event_fd);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}
