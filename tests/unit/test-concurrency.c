/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Concurrency groups (README, "Concurrency groups"): one holder and one pending member per group,
 * the newer pending member displacing the older, cancel-in-progress naming the holder, release
 * handing the group on, names compared ignoring case and their limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "concurrency.h"
#include "macro.h"

#define RUN(id) ((ConcurrencyOwner){ .run = (id), .job = SIZE_MAX })
#define JOB(id, j) ((ConcurrencyOwner){ .run = (id), .job = (j) })

static void assert_owner(ConcurrencyOwner o, ConcurrencyOwner expected) {
        assert_int_equal(o.run, expected.run);
        assert_int_equal(o.job, expected.job);
}

static void test_acquire_and_release(void **state) {
        ConcurrencyTable t = {};
        ConcurrencyDecision d;
        ConcurrencyOwner next = {};
        bool pending;

        assert_int_equal(concurrency_acquire(&t, "deploy", RUN(1), false, &d), 0);
        assert_true(d.acquired);
        assert_false(d.cancel_holder);
        assert_false(d.replaced);
        assert_string_equal(concurrency_find(&t, RUN(1), &pending), "deploy");
        assert_false(pending);

        /* without cancel-in-progress the newcomer waits and nothing is cancelled */
        assert_int_equal(concurrency_acquire(&t, "deploy", RUN(2), false, &d), 0);
        assert_false(d.acquired);
        assert_false(d.cancel_holder);
        assert_false(d.replaced);
        assert_string_equal(concurrency_find(&t, RUN(2), &pending), "deploy");
        assert_true(pending);

        /* the holder concludes: the pending member takes over */
        assert_int_equal(concurrency_release(&t, RUN(1), &next), 1);
        assert_owner(next, RUN(2));
        assert_null(concurrency_find(&t, RUN(1), NULL));
        assert_string_equal(concurrency_find(&t, RUN(2), &pending), "deploy");
        assert_false(pending);

        /* the last one leaves: the group is gone */
        assert_int_equal(concurrency_release(&t, RUN(2), &next), 0);
        assert_int_equal(t.n, 0U);
        assert_int_equal(concurrency_release(&t, RUN(2), &next), 0);
        concurrency_table_done(&t);
}

static void test_cancel_in_progress(void **state) {
        ConcurrencyTable t = {};
        ConcurrencyDecision d;

        assert_int_equal(concurrency_acquire(&t, "g", RUN(1), true, &d), 0);
        assert_true(d.acquired);
        assert_false(d.cancel_holder); /* nobody to cancel */
        assert_int_equal(concurrency_acquire(&t, "g", RUN(2), true, &d), 0);
        assert_false(d.acquired);
        assert_true(d.cancel_holder);
        assert_owner(d.holder, RUN(1));
        assert_false(d.replaced);
        /* asked again, as after a restart: still pending, the holder cancelled again (idempotent there) */
        assert_int_equal(concurrency_acquire(&t, "g", RUN(2), true, &d), 0);
        assert_false(d.acquired);
        assert_true(d.cancel_holder);
        assert_owner(d.holder, RUN(1));
        assert_int_equal(concurrency_acquire(&t, "g", RUN(1), false, &d), 0);
        assert_true(d.acquired);
        concurrency_table_done(&t);
}

static void test_pending_replaced(void **state) {
        ConcurrencyTable t = {};
        ConcurrencyDecision d;
        ConcurrencyOwner next = {};
        bool pending;

        assert_int_equal(concurrency_acquire(&t, "g", RUN(1), false, &d), 0);
        assert_int_equal(concurrency_acquire(&t, "g", RUN(2), true, &d), 0);
        assert_int_equal(concurrency_acquire(&t, "g", RUN(3), false, &d), 0);
        assert_false(d.acquired);
        assert_true(d.replaced);
        assert_owner(d.pending, RUN(2));
        assert_false(d.cancel_holder);
        assert_null(concurrency_find(&t, RUN(2), NULL));
        assert_string_equal(concurrency_find(&t, RUN(3), &pending), "g");
        assert_true(pending);
        /* the displaced one concluding changes nothing */
        assert_int_equal(concurrency_release(&t, RUN(2), &next), 0);
        assert_int_equal(concurrency_release(&t, RUN(1), &next), 1);
        assert_owner(next, RUN(3));
        concurrency_table_done(&t);
}

static void test_pending_cancelled(void **state) {
        ConcurrencyTable t = {};
        ConcurrencyDecision d;
        ConcurrencyOwner next = {};

        assert_int_equal(concurrency_acquire(&t, "g", RUN(1), false, &d), 0);
        assert_int_equal(concurrency_acquire(&t, "g", RUN(2), false, &d), 0);
        /* the pending one is cancelled and concludes: the holder keeps the group, nobody follows */
        assert_int_equal(concurrency_release(&t, RUN(2), &next), 0);
        assert_int_equal(concurrency_release(&t, RUN(1), &next), 0);
        assert_int_equal(t.n, 0U);
        concurrency_table_done(&t);
}

static void test_case_insensitive(void **state) {
        ConcurrencyTable t = {};
        ConcurrencyDecision d;

        assert_int_equal(concurrency_acquire(&t, "Deploy-Main", RUN(1), false, &d), 0);
        assert_true(d.acquired);
        assert_int_equal(concurrency_acquire(&t, "deploy-MAIN", RUN(2), true, &d), 0);
        assert_false(d.acquired);
        assert_true(d.cancel_holder);
        assert_string_equal(concurrency_find(&t, RUN(2), NULL), "Deploy-Main");
        assert_int_equal(concurrency_acquire(&t, "deploy-main2", RUN(3), false, &d), 0);
        assert_true(d.acquired);
        assert_int_equal(t.n, 2U);
        concurrency_table_done(&t);
}

static void test_jobs_and_runs(void **state) {
        ConcurrencyTable t = {};
        ConcurrencyDecision d;
        ConcurrencyOwner next = {};

        /* a run and its jobs are separate members; jobs of one run share a group like runs do */
        assert_int_equal(concurrency_acquire(&t, "w", RUN(1), false, &d), 0);
        assert_int_equal(concurrency_acquire(&t, "j", JOB(1, 0), false, &d), 0);
        assert_true(d.acquired);
        assert_int_equal(concurrency_acquire(&t, "j", JOB(1, 1), true, &d), 0);
        assert_false(d.acquired);
        assert_true(d.cancel_holder);
        assert_owner(d.holder, JOB(1, 0));
        assert_int_equal(concurrency_acquire(&t, "j", JOB(2, 0), false, &d), 0);
        assert_true(d.replaced);
        assert_owner(d.pending, JOB(1, 1));
        /* one owner, one group */
        assert_int_equal(concurrency_acquire(&t, "other", JOB(1, 0), false, &d), -EBUSY);
        assert_int_equal(concurrency_release(&t, JOB(1, 0), &next), 1);
        assert_owner(next, JOB(2, 0));
        concurrency_table_done(&t);
}

static void test_limits(void **state) {
        ConcurrencyTable t = {};
        ConcurrencyDecision d;
        char name[CONCURRENCY_MAX_GROUP + 1];
        /* 399 characters of two bytes each: under the limit */
        char wide[2 * (CONCURRENCY_MAX_GROUP - 1) + 1];

        assert_non_null(concurrency_group_invalid(""));
        assert_non_null(concurrency_group_invalid(NULL));
        assert_int_equal(concurrency_acquire(&t, "", RUN(1), false, &d), -EINVAL);

        memset(name, 'a', CONCURRENCY_MAX_GROUP - 1);
        name[CONCURRENCY_MAX_GROUP - 1] = 0;
        assert_null(concurrency_group_invalid(name));
        name[CONCURRENCY_MAX_GROUP - 1] = 'a';
        name[CONCURRENCY_MAX_GROUP] = 0;
        assert_string_equal(
                concurrency_group_invalid(name), "the concurrency group's name has 400 characters or more");
        assert_int_equal(concurrency_acquire(&t, name, RUN(1), false, &d), -EINVAL);

        for (size_t i = 0; i < CONCURRENCY_MAX_GROUP - 1; i++)
                memcpy(wide + 2 * i, "\xc3\xa9", 2);
        wide[sizeof(wide) - 1] = 0;
        assert_null(concurrency_group_invalid(wide));
        assert_int_equal(t.n, 0U);
        concurrency_table_done(&t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_acquire_and_release),
                cmocka_unit_test(test_cancel_in_progress),
                cmocka_unit_test(test_pending_replaced),
                cmocka_unit_test(test_pending_cancelled),
                cmocka_unit_test(test_case_insensitive),
                cmocka_unit_test(test_jobs_and_runs),
                cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
