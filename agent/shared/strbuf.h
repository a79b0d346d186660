/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* A growing, always NUL-terminated byte string with an optional size limit. */
typedef struct StrBuf {
        char *data;
        size_t len, allocated;
        size_t max; /* 0: no limit */
} StrBuf;

/* Appends n bytes; -E2BIG if that would pass max, -ENOMEM. */
int strbuf_put(StrBuf *b, const char *s, size_t n);
int strbuf_puts(StrBuf *b, const char *s);
/* Hands the text to the caller (an empty string if nothing was put) and resets b. */
int strbuf_take(StrBuf *b, char **ret, size_t *ret_len);
void strbuf_done(StrBuf *b);
