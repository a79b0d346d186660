/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>

#include "fileio.h"
#include "macro.h"

int read_full_file_at(int dir_fd, const char *path, size_t max_size, char **ret_contents) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        for (;;) {
                ssize_t k;

                if (allocated - size < 2) {
                        size_t n = allocated == 0 ? 4096 : allocated * 2;
                        char *p;

                        if (n > max_size + 2)
                                n = max_size + 2;
                        if (n <= allocated)
                                return -EFBIG;
                        p = realloc(buf, n);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = n;
                }

                k = read(fd, buf + size, allocated - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max_size)
                        return -EFBIG;
        }

        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[size] = '\0';
        *ret_contents = TAKE_PTR(buf);
        return (int) size;
}

int write_string_file_at(int dir_fd, const char *path, const char *s) {
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(s);
        ssize_t k;

        fd = openat(dir_fd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        k = write(fd, s, n);
        if (k < 0)
                return -errno;
        if ((size_t) k != n)
                return -EIO;
        return 0;
}
