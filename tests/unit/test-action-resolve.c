/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The action store's resolver as the engine uses it, on a real sd-event loop and worker (no
 * privileges needed): an entry found with its commit, a missing one named with how to add it, the
 * callback always from the loop and never from inside the call, and a cancelled one never called. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "action-store.h"
#include "fileio.h"
#include "fs-util.h"
#include "macro.h"
#include "manager-internal.h"

/* manager.c's, which this test does not link. */
char *strdupf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

typedef struct Result {
        bool called, in_call;
        int error;
        char *dir, *commit, *message;
} Result;

static void resolved(int error, const char *dir, const char *commit, const char *message, void *userdata) {
        Result *r = userdata;

        assert_false(r->in_call);
        assert_false(r->called);
        r->called = true;
        r->error = error;
        r->dir = dir ? strdup(dir) : NULL;
        r->commit = commit ? strdup(commit) : NULL;
        r->message = message ? strdup(message) : NULL;
}

static void result_done(Result *r) {
        free(r->dir);
        free(r->commit);
        free(r->message);
}

typedef struct Fixture {
        char state[64];
        Manager m;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->state, "/tmp/test-action-store.XXXXXX");
        assert_non_null(mkdtemp(f->state));
        f->m.state_dir = f->state;
        f->m.action_abort_fd = -EBADF;
        f->m.step_uid = getuid();
        f->m.step_gid = getgid();
        assert_int_equal(sd_event_new(&f->m.event), 0);
        assert_int_equal(action_store_init(&f->m), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        char cmd[128];

        action_store_finish(&f->m);
        safe_close(f->m.action_abort_fd);
        free(f->m.action_dir);
        sd_event_unref(f->m.event);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", f->state);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static void run_until(Fixture *f, const Result *r) {
        for (int i = 0; i < 10000 && !r->called; i++)
                assert_true(sd_event_run(f->m.event, 100 * 1000) >= 0);
        assert_true(r->called);
}

static void resolve(Fixture *f, const char *owner, const char *repo, const char *ref, Result *r) {
        ActionResolve *handle = NULL;

        r->in_call = true;
        assert_int_equal(action_store_resolve(&f->m, owner, repo, ref, resolved, r, &handle), 0);
        r->in_call = false;
        assert_non_null(handle);
        assert_false(r->called); /* never from inside the call */
        run_until(f, r);
}

static void test_missing(void **state) {
        Fixture *f = *state;
        Result r = {};

        resolve(f, "Someone", "Hello", "releases/v1", &r);
        assert_int_equal(r.error, -ENOENT);
        assert_null(r.dir);
        assert_non_null(r.message);
        assert_non_null(strstr(r.message, "Action someone/hello@releases/v1 is not in the action store"));
        assert_non_null(strstr(r.message, "runnerctl action add someone/hello@releases/v1 SOURCE"));
        assert_non_null(strstr(r.message, "[Actions] Mirror="));
        result_done(&r);
}

static void test_found(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *entry = strdupf("%s/actions/someone/hello/releases%%2Fv1", f->state),
                            *tree = strdupf("%s/tree", entry), *expected = strdupf("%s", tree),
                            *meta = strdupf("%s/action.json", entry);
        Result r = {}, by_sha = {};

        assert_int_equal(mkdir_p(tree, 0755, (uid_t) -1, (gid_t) -1), 0);
        {
                FILE *file = fopen(meta, "we");

                assert_non_null(file);
                fputs("{\"name\":\"someone/hello@releases/v1\",\"commit\":\"0123456789abcdef0123456789abcdef01234567\"}",
                        file);
                assert_int_equal(fclose(file), 0);
        }
        resolve(f, "SOMEONE", "hello", "releases/v1", &r);
        assert_int_equal(r.error, 0);
        assert_string_equal(r.dir, expected);
        assert_string_equal(r.commit, "0123456789abcdef0123456789abcdef01234567");
        assert_null(r.message);
        result_done(&r);

        /* a commit in either case is one entry; without action.json's commit, none */
        free(tree);
        tree = strdupf("%s/actions/someone/hello/0123456789abcdef0123456789abcdef01234567/tree", f->state);
        assert_int_equal(mkdir_p(tree, 0755, (uid_t) -1, (gid_t) -1), 0);
        resolve(f, "someone", "hello", "0123456789ABCDEF0123456789ABCDEF01234567", &by_sha);
        assert_int_equal(by_sha.error, 0);
        assert_string_equal(by_sha.dir, tree);
        assert_null(by_sha.commit);
        result_done(&by_sha);
}

static void test_cancel(void **state) {
        Fixture *f = *state;
        ActionResolve *handle = NULL;
        Result cancelled = {}, after = {};

        assert_int_equal(action_store_resolve(&f->m, "a", "b", "v1", resolved, &cancelled, &handle), 0);
        assert_null(action_resolve_cancel(handle));
        /* A resolve queued after it completes after it: by then the cancelled one is done, uncalled. */
        resolve(f, "a", "b", "v2", &after);
        assert_false(cancelled.called);
        result_done(&after);
}

static void test_invalid(void **state) {
        Fixture *f = *state;
        Result r = {};

        assert_int_equal(action_store_resolve(&f->m, "..", "b", "v1", resolved, &r, NULL), -EINVAL);
        assert_int_equal(action_store_resolve(&f->m, "a", "b", "../x", resolved, &r, NULL), -EINVAL);
        assert_int_equal(action_store_resolve(&f->m, "a", "b/c", "v1", resolved, &r, NULL), -EINVAL);
        assert_false(r.called);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_found, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
