/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdlib.h>

/* Makes room for one more element in an array of n elements of size bytes, doubling the allocation
 * when full. */
static inline int array_grow(void **p, size_t *allocated, size_t n, size_t size) {
        size_t a;
        void *q;

        if (n < *allocated)
                return 0;
        a = *allocated ? *allocated * 2 : 8;
        q = reallocarray(*p, a, size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *allocated = a;
        return 0;
}

/* Frees a NULL-terminated array of strings (NULL is fine). */
static inline void strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
}
