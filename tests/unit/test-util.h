/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Helpers the unit tests share; include after cmocka.h. */

#include <stdlib.h>
#include <string.h>

/* head, then unit n times, then tail, newly allocated. */
static inline char *repeat_text(const char *head, const char *unit, size_t n, const char *tail) {
        size_t len = strlen(head) + strlen(unit) * n + strlen(tail) + 1;
        char *s = malloc(len), *p;

        assert_non_null(s);
        p = stpcpy(s, head);
        for (size_t i = 0; i < n; i++)
                p = stpcpy(p, unit);
        strcpy(p, tail);
        return s;
}
