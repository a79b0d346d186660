/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>

#include "escape.h"

/* The length of the valid UTF-8 sequence at s (at most n bytes) of a code point from U+00A0 on, or 0:
 * overlong forms, surrogates, code points above U+10FFFF, truncated sequences and C1 controls are
 * not printable (utf-8(7)). */
static size_t printable_utf8_length(const unsigned char *s, size_t n) {
        unsigned char lo = 0x80, hi = 0xBF;
        size_t len;

        if (s[0] >= 0xC2 && s[0] <= 0xDF)
                len = 2;
        else if (s[0] >= 0xE0 && s[0] <= 0xEF)
                len = 3;
        else if (s[0] >= 0xF0 && s[0] <= 0xF4)
                len = 4;
        else
                return 0;
        if (len > n)
                return 0;

        if (s[0] == 0xC2)
                lo = 0xA0; /* U+0080 to U+009F are the C1 controls */
        else if (s[0] == 0xE0)
                lo = 0xA0;
        else if (s[0] == 0xED)
                hi = 0x9F;
        else if (s[0] == 0xF0)
                lo = 0x90;
        else if (s[0] == 0xF4)
                hi = 0x8F;
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < len; i++)
                if (s[i] < 0x80 || s[i] > 0xBF)
                        return 0;
        return len;
}

char *escape_for_terminal_length(const char *s, size_t n) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *u = (const unsigned char *) s;
        char *buf, *p;

        /* At worst every byte becomes \xNN. */
        if (n > (SIZE_MAX - 1) / 4)
                return NULL;
        buf = malloc(n * 4 + 1);
        if (!buf)
                return NULL;

        p = buf;
        for (size_t i = 0; i < n;) {
                size_t len;

                if (u[i] == '\n' || u[i] == '\t') {
                        *p++ = '\\';
                        *p++ = u[i] == '\n' ? 'n' : 't';
                        i++;
                } else if (u[i] >= 0x20 && u[i] < 0x7F) {
                        *p++ = (char) u[i++];
                } else if (u[i] >= 0x80 && (len = printable_utf8_length(u + i, n - i)) > 0) {
                        for (size_t k = 0; k < len; k++)
                                *p++ = (char) u[i++];
                } else {
                        *p++ = '\\';
                        *p++ = 'x';
                        *p++ = hex[u[i] >> 4];
                        *p++ = hex[u[i] & 0xF];
                        i++;
                }
        }
        *p = '\0';
        return buf;
}
