/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "strbuf.h"
#include "macro.h"

int strbuf_put(StrBuf *b, const char *s, size_t n) {
        if (b->max > 0 && (n > b->max || b->len > b->max - n))
                return -E2BIG;
        if (n > SIZE_MAX / 2 - b->len)
                return -ENOMEM;
        if (b->len + n + 1 > b->allocated) {
                size_t a = b->allocated ? b->allocated : 64;
                while (a < b->len + n + 1)
                        a *= 2;
                char *p = realloc(b->data, a);
                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->allocated = a;
        }
        if (n > 0)
                memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int strbuf_puts(StrBuf *b, const char *s) {
        return strbuf_put(b, s, strlen(s));
}

int strbuf_take(StrBuf *b, char **ret, size_t *ret_len) {
        if (!b->data) {
                b->data = strdup("");
                if (!b->data)
                        return -ENOMEM;
        }
        *ret = b->data;
        if (ret_len)
                *ret_len = b->len;
        *b = (StrBuf){ .max = b->max };
        return 0;
}

void strbuf_done(StrBuf *b) {
        free(b->data);
        *b = (StrBuf){ .max = b->max };
}
