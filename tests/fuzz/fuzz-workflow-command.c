/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Workflow commands on arbitrary step output. The first byte picks the chunk sizes; the rest is the
 * stream. The scanner must give back every byte, in order, whatever the chunks, and the same
 * candidate lines as when fed at once; every candidate and every line is parsed (a command's data is
 * never longer than its line). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workflow-command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Out {
        char *buf;
        size_t n;
} Out;

static void out_output(void *userdata, const char *d, size_t len) {
        Out *o = userdata;
        if (len > 0)
                memcpy(o->buf + o->n, d, len);
        o->n += len;
}

static void out_line(void *userdata, const char *d, size_t len) {
        Out *o = userdata;
        WorkflowCommand c;

        o->buf[o->n++] = '\x01'; /* marks where a candidate starts */
        memcpy(o->buf + o->n, d, len);
        o->n += len;
        if (workflow_command_parse(d, len, &c) > 0) {
                if (c.data_len > len || !workflow_command_to_string(c.type))
                        __builtin_trap();
                workflow_command_done(&c);
        }
}

static const CommandScannerOps ops = { .output = out_output, .line = out_line };

static void run(const char *s, size_t len, uint8_t seed, Out *o) {
        CommandScanner sc;

        command_scanner_init(&sc);
        for (size_t p = 0, k = 0;; k++) {
                size_t chunk = seed == 0 ? len : 1 + (size_t) ((seed * (k + 3) + k * k) % 17);
                bool eof;

                if (chunk > len - p)
                        chunk = len - p;
                eof = p + chunk == len;
                if (command_scanner_feed(&sc, s + p, chunk, eof, &ops, o) < 0)
                        abort();
                p += chunk;
                if (eof)
                        break;
        }
        command_scanner_done(&sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Out whole, pieces;
        const char *s;
        size_t len;

        if (size < 1)
                return 0;
        s = (const char *) data + 1;
        len = size - 1;
        /* \x01 is the marker: not in the input. */
        if (memchr(s, '\x01', len))
                return 0;
        whole = (Out){ .buf = malloc(len * 2 + 2) };
        pieces = (Out){ .buf = malloc(len * 2 + 2) };
        if (!whole.buf || !pieces.buf)
                abort();
        run(s, len, 0, &whole);
        run(s, len, data[0] | 1, &pieces);
        if (whole.n != pieces.n || memcmp(whole.buf, pieces.buf, whole.n) != 0)
                __builtin_trap();
        /* Every byte back, in order. */
        for (size_t i = 0, k = 0; i < whole.n; i++) {
                if (whole.buf[i] == '\x01')
                        continue;
                if (k >= len || whole.buf[i] != s[k++])
                        __builtin_trap();
        }
        free(whole.buf);
        free(pieces.buf);
        return 0;
}
