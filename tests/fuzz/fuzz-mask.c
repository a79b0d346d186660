/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The masking filter: masks and a stream from the input, the stream fed in chunks of sizes the input
 * picks; the output must be the same as masking the whole stream at once, and must not contain a
 * mask. Layout: byte 0 = number of masks (mod 5), then each mask as a length byte (mod 9) and its
 * bytes, then the chunk sizes' seed byte, then the stream. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        MaskList l = {};
        MaskFilter f;
        char *whole = NULL, *pieces = NULL;
        size_t i = 0, whole_len = 0, o = 0, n_masks;
        uint8_t seed;

        if (size < 2)
                return 0;
        n_masks = data[i++] % 5;
        for (size_t k = 0; k < n_masks && i < size; k++) {
                size_t len = data[i++] % 9;
                char v[9];

                if (len > size - i)
                        len = size - i;
                memcpy(v, data + i, len);
                /* NUL is not allowed in a value: make it another byte. */
                for (size_t j = 0; j < len; j++)
                        if (v[j] == '\0')
                                v[j] = 'a';
                (void) mask_list_add(&l, v, len);
                i += len;
        }
        if (i >= size) {
                mask_list_done(&l);
                return 0;
        }
        seed = data[i++];

        if (mask_string(&l, (const char *) data + i, size - i, &whole, &whole_len) < 0)
                abort();
        pieces = malloc((size - i) * 3 + 4);
        if (!pieces)
                abort();
        mask_filter_init(&f, &l);
        for (size_t p = i, k = 0;; k++) {
                size_t chunk = 1 + (size_t) ((seed * (k + 7) + (k * k)) % 13);
                bool eof;

                if (chunk > size - p)
                        chunk = size - p;
                eof = p + chunk == size;
                if (mask_filter_feed(&f, (const char *) data + p, chunk, eof) < 0)
                        abort();
                if (f.out_len > 0)
                        memcpy(pieces + o, f.out, f.out_len);
                o += f.out_len;
                p += chunk;
                if (eof)
                        break;
        }
        if (o != whole_len || memcmp(pieces, whole, o) != 0)
                __builtin_trap();
        /* Nothing masked survives, unless "***" itself makes one up with what follows it. */
        for (size_t k = 0; k < l.n; k++)
                if (!strpbrk(l.values[k], "*") && memmem(whole, whole_len, l.values[k], l.lens[k]))
                        __builtin_trap();
        mask_filter_done(&f);
        free(whole);
        free(pieces);
        mask_list_done(&l);
        return 0;
}
