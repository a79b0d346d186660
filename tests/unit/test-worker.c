/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's worker thread: jobs run off the loop, in order, and complete in the loop, in order; a
 * job that blocks does not hold up the loop; freeing finishes what is queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <linux/ioprio.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "worker.h"

#define N_JOBS 1000

typedef struct Order {
        unsigned ran[N_JOBS], completed[N_JOBS];
        unsigned n_ran, n_completed;
        pthread_t loop_thread;
} Order;

typedef struct Item {
        Order *order;
        unsigned index;
} Item;

static int run_item(void *data) {
        Item *it = data;

        /* Off the loop's thread, in submission order. */
        assert_false(pthread_equal(pthread_self(), it->order->loop_thread));
        it->order->ran[it->order->n_ran++] = it->index;
        return (int) it->index;
}

static void done_item(int result, void *data) {
        Item *it = data;

        assert_true(pthread_equal(pthread_self(), it->order->loop_thread));
        assert_int_equal(result, (int) it->index);
        it->order->completed[it->order->n_completed++] = it->index;
}

static void test_order(void **state) {
        sd_event *e = NULL;
        Worker *w = NULL;
        Order order = { .loop_thread = pthread_self() };
        Item items[N_JOBS];

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(worker_new(e, false, &w), 0);
        for (unsigned i = 0; i < N_JOBS; i++) {
                items[i] = (Item){ .order = &order, .index = i };
                assert_int_equal(worker_submit(w, run_item, done_item, &items[i]), 0);
        }
        while (worker_pending(w) > 0)
                assert_true(sd_event_run(e, 10 * USEC_PER_SEC) > 0);
        assert_int_equal(order.n_ran, N_JOBS);
        assert_int_equal(order.n_completed, N_JOBS);
        for (unsigned i = 0; i < N_JOBS; i++) {
                assert_int_equal(order.ran[i], i);
                assert_int_equal(order.completed[i], i);
        }
        worker_free(w);
        sd_event_unref(e);
}

static int block_on_pipe(void *data) {
        int *fds = data;
        char c;

        return read(fds[0], &c, 1) == 1 ? 0 : -EIO;
}

static void done_set(int result, void *data) {
        int *fds = data;

        fds[2] = result == 0 ? 1 : -1;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        int *fds = userdata;

        /* The loop runs while the job is blocked: let it go now. */
        assert_int_equal(fds[2], 0);
        assert_int_equal(write(fds[1], "x", 1), 1);
        return 0;
}

static void test_blocking_job_does_not_block_loop(void **state) {
        sd_event *e = NULL;
        Worker *w = NULL;
        int fds[3] = { -1, -1, 0 };
        uint64_t now;

        assert_int_equal(pipe(fds), 0);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(worker_new(e, false, &w), 0);
        assert_int_equal(worker_submit(w, block_on_pipe, done_set, fds), 0);
        assert_true(sd_event_now(e, CLOCK_MONOTONIC, &now) >= 0);
        assert_int_equal(
                sd_event_add_time(e, NULL, CLOCK_MONOTONIC, now + 20 * USEC_PER_MSEC, 1, on_timer, fds), 0);
        while (fds[2] == 0)
                assert_true(sd_event_run(e, 10 * USEC_PER_SEC) > 0);
        assert_int_equal(fds[2], 1);
        worker_free(w);
        sd_event_unref(e);
        close(fds[0]);
        close(fds[1]);
}

static void test_free_finishes_queue(void **state) {
        sd_event *e = NULL;
        Worker *w = NULL;
        Order order = { .loop_thread = pthread_self() };
        Item items[10];

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(worker_new(e, false, &w), 0);
        for (unsigned i = 0; i < ELEMENTSOF(items); i++) {
                items[i] = (Item){ .order = &order, .index = i };
                assert_int_equal(worker_submit(w, run_item, done_item, &items[i]), 0);
        }
        worker_free(w); /* without running the loop: everything still runs and completes */
        assert_int_equal(order.n_ran, ELEMENTSOF(items));
        assert_int_equal(order.n_completed, ELEMENTSOF(items));
        sd_event_unref(e);
}

typedef struct Gate {
        int started[2], release[2];
        unsigned cancelled, completed;
} Gate;

static int blocker(void *data) {
        Gate *g = data;
        char c = 0;

        assert_int_equal(write(g->started[1], &c, 1), 1);
        assert_int_equal(read(g->release[0], &c, 1), 1);
        return 0;
}

static int never(void *data) {
        fail_msg("a cancelled job ran");
        return 0;
}

static void done_gate(int result, void *data) {
        Gate *g = data;

        if (result == -ECANCELED)
                g->cancelled++;
        else
                g->completed++;
}

/* A stopping agent drops the removals not started yet (the next start sweeps them): they complete
 * with -ECANCELED and never run; the one running finishes. */
static void test_cancel_queued(void **state) {
        sd_event *e = NULL;
        Worker *w = NULL;
        Gate g = {};
        char c = 0;

        assert_int_equal(pipe(g.started), 0);
        assert_int_equal(pipe(g.release), 0);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(worker_new(e, true, &w), 0);
        assert_int_equal(worker_submit(w, blocker, done_gate, &g), 0);
        assert_int_equal(read(g.started[0], &c, 1), 1); /* running: the rest waits behind it */
        for (unsigned i = 0; i < 5; i++)
                assert_int_equal(worker_submit(w, never, done_gate, &g), 0);
        worker_cancel_queued(w);
        assert_int_equal(write(g.release[1], &c, 1), 1);
        worker_free(w);
        assert_int_equal(g.completed, 1);
        assert_int_equal(g.cancelled, 5);
        for (unsigned i = 0; i < 2; i++) {
                close(g.started[i]);
                close(g.release[i]);
        }
        sd_event_unref(e);
}

typedef struct Priorities {
        int nice, ioprio;             /* the worker thread's */
        int child_nice, child_ioprio; /* a child it forked, as the child saw its own */
} Priorities;

static int read_priorities(void *data) {
        Priorities *p = data;
        int fds[2], got[2] = { -1, -1 };
        pid_t pid;

        p->nice = getpriority(PRIO_PROCESS, (id_t) gettid());
        p->ioprio = (int) syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, gettid());
        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                got[0] = getpriority(PRIO_PROCESS, 0);
                got[1] = (int) syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
                _exit(write(fds[1], got, sizeof(got)) == sizeof(got) ? 0 : 1);
        }
        close(fds[1]);
        assert_int_equal(read(fds[0], got, sizeof(got)), sizeof(got));
        close(fds[0]);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        p->child_nice = got[0];
        p->child_ioprio = got[1];
        return 0;
}

/* A background worker's jobs, and what they spawn (rm(1) of a workspace), run at nice 19 and the lowest
 * best-effort I/O level; the loop's thread keeps its own priority; a plain worker changes nothing. */
static void test_background_priority(void **state) {
        sd_event *e = NULL;
        Worker *w = NULL;
        Priorities bg = {}, plain = {};
        int loop_nice = getpriority(PRIO_PROCESS, (id_t) gettid());

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(worker_new(e, true, &w), 0);
        assert_int_equal(worker_submit(w, read_priorities, NULL, &bg), 0);
        w = worker_free(w);
        assert_int_equal(bg.nice, 19);
        assert_int_equal(bg.child_nice, 19);
        assert_int_equal(bg.ioprio, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 7));
        assert_int_equal(bg.child_ioprio, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 7));
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t) gettid()), loop_nice);

        assert_int_equal(worker_new(e, false, &w), 0);
        assert_int_equal(worker_submit(w, read_priorities, NULL, &plain), 0);
        w = worker_free(w);
        assert_int_equal(plain.nice, loop_nice);
        assert_int_equal(plain.child_nice, loop_nice);
        sd_event_unref(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_order),
                cmocka_unit_test(test_blocking_job_does_not_block_loop),
                cmocka_unit_test(test_free_finishes_queue),
                cmocka_unit_test(test_cancel_queued),
                cmocka_unit_test(test_background_priority),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
