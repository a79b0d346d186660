/* SPDX-License-Identifier: GPL-2.0-or-later */
/* File helpers in a private temporary directory: bounded reads and atomic replacement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"

static int setup(void **state) {
        char *dir = strdup("/tmp/test-fileio-XXXXXX");

        assert_non_null(dir);
        assert_non_null(mkdtemp(dir));
        *state = dir;
        return 0;
}

static int teardown(void **state) {
        char *dir = *state;
        DIR *d = opendir(dir);
        struct dirent *de;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        assert_int_equal(unlinkat(dirfd(d), de->d_name, 0), 0);
        closedir(d);
        assert_int_equal(rmdir(dir), 0);
        free(dir);
        return 0;
}

static unsigned count_entries(int dfd) {
        DIR *d = fdopendir(dup(dfd));
        struct dirent *de;
        unsigned n = 0;

        assert_non_null(d);
        rewinddir(d);
        while ((de = readdir(d)))
                n += !streq(de->d_name, ".") && !streq(de->d_name, "..");
        closedir(d);
        return n;
}

static void test_atomic(void **state) {
        _cleanup_close_ int dfd = open(*state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *text = NULL;
        struct stat st;
        mode_t old = umask(077);

        assert_true(dfd >= 0);

        assert_int_equal(write_file_atomic_at(dfd, "state.json", "{\"v\":1}", 7, 0644), 0);
        assert_int_equal(read_full_file_at(dfd, "state.json", 1024, &text), 7);
        assert_string_equal(text, "{\"v\":1}");
        free(text);

        /* replacing: the new content, the mode asked for despite the umask, no temporary left */
        assert_int_equal(write_file_atomic_at(dfd, "state.json", "{\"v\":22}", 8, 0640), 0);
        assert_int_equal(read_full_file_at(dfd, "state.json", 1024, &text), 8);
        assert_string_equal(text, "{\"v\":22}");
        assert_int_equal(fstatat(dfd, "state.json", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(count_entries(dfd), 1);

        /* an empty file is a file */
        assert_int_equal(write_file_atomic_at(dfd, "empty", "", 0, 0600), 0);
        assert_int_equal(fstatat(dfd, "empty", &st, 0), 0);
        assert_int_equal(st.st_size, 0);

        /* names, not paths */
        assert_int_equal(write_file_atomic_at(dfd, "a/b", "x", 1, 0600), -EINVAL);
        assert_int_equal(count_entries(dfd), 2);
        umask(old);
}

static void test_atomic_failure_leaves_nothing(void **state) {
        _cleanup_close_ int dfd = open(*state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        /* renaming a file over a directory fails; the temporary file must not stay behind */
        assert_int_equal(mkdirat(dfd, "dir", 0700), 0);
        assert_int_equal(write_file_atomic_at(dfd, "dir", "x", 1, 0600), -EISDIR);
        assert_int_equal(count_entries(dfd), 1);
        assert_int_equal(unlinkat(dfd, "dir", AT_REMOVEDIR), 0);
}

static void test_read_limit(void **state) {
        _cleanup_close_ int dfd = open(*state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *text = NULL;

        assert_int_equal(write_file_atomic_at(dfd, "ten", "0123456789", 10, 0600), 0);
        assert_int_equal(read_full_file_at(dfd, "ten", 9, &text), -EFBIG);
        assert_null(text);
        assert_int_equal(read_full_file_at(dfd, "ten", 10, &text), 10);
        free(text);
        assert_int_equal(read_full_file_at(dfd, "missing", 10, &text), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_atomic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_atomic_failure_leaves_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_limit, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
