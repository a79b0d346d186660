/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's worker thread: jobs run off the loop, in order, and complete in the loop, in order; a
 * job that blocks does not hold up the loop; freeing finishes what is queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
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
        assert_int_equal(worker_new(e, &w), 0);
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
        assert_int_equal(worker_new(e, &w), 0);
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
        assert_int_equal(worker_new(e, &w), 0);
        for (unsigned i = 0; i < ELEMENTSOF(items); i++) {
                items[i] = (Item){ .order = &order, .index = i };
                assert_int_equal(worker_submit(w, run_item, done_item, &items[i]), 0);
        }
        worker_free(w); /* without running the loop: everything still runs and completes */
        assert_int_equal(order.n_ran, ELEMENTSOF(items));
        assert_int_equal(order.n_completed, ELEMENTSOF(items));
        sd_event_unref(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_order),
                cmocka_unit_test(test_blocking_job_does_not_block_loop),
                cmocka_unit_test(test_free_finishes_queue),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
