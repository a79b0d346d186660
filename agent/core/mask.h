/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Masking of secrets in a step's output (README, "Secrets"): the values to mask, and a streaming
 * filter that replaces every occurrence of any of them with "***". Pure: no system calls.
 *
 * What a secret adds to the list is what GitHub's runner masks: the value, each non-empty line of a
 * multi-line value (a trailing \r trimmed), and the base64 encodings of the value and of the value
 * without its first one and two bytes, without '=' padding, each also in the URL-safe alphabet. Any
 * non-empty value is masked, however short, as on GitHub. */

#define MASK_VALUE_MAX (64U * 1024U) /* longer values are refused (GitHub's secrets: 48 KiB) */
#define MASK_LIST_MAX 4096U          /* values in one list */
#define MASK_REPLACEMENT "***"

typedef struct MaskAutomaton MaskAutomaton;

typedef struct MaskList {
        char **values; /* each NUL-terminated, and never containing a NUL */
        size_t *lens;
        size_t n, allocated;
        size_t max_len;
        uint8_t first[256];  /* first[c]: some value starts with byte c */
        uint64_t generation; /* bumped by every value added */
        MaskAutomaton *ac;   /* the matcher over the values, rebuilt lazily when generation moved */
} MaskList;

void mask_list_done(MaskList *l);
/* Adds one value as it is: 1; empty values and duplicates are ignored: 0. -E2BIG beyond the limits,
 * -EINVAL for a NUL byte, -ENOMEM. */
int mask_list_add(MaskList *l, const char *value, size_t len);
/* Adds a secret and its forms (above). */
int mask_list_add_secret(MaskList *l, const char *value);
/* The list as NUL-separated values (each followed by a NUL), and back. */
int mask_list_serialize(const MaskList *l, char **ret, size_t *ret_len);
int mask_list_parse(const char *data, size_t len, MaskList *l);
/* Whether text contains any value of the list. */
bool mask_list_matches(const MaskList *l, const char *text, size_t len);
/* The length of the longest end of text that is the beginning of a value of the list (0: none): what
 * is left of a value in a text cut after it. */
size_t mask_list_cut_value(const MaskList *l, const char *text, size_t len);
/* text with every value of the list masked, NUL-terminated. */
int mask_string(const MaskList *l, const char *text, size_t len, char **ret, size_t *ret_len);

/* One stream's filter. Masking is the same whatever the split of the stream into chunks: every
 * occurrence of a value is covered; overlapping or adjacent covered ranges merge and each merged range
 * becomes one "***". To decide, it holds back at most the longest value's length minus one byte: the
 * end of the stream that is the beginning of a longer value. Its cost is linear in the stream, whatever
 * the values. */
typedef struct MaskFilter {
        const MaskList *list; /* shared; may grow between calls */
        char *hold;           /* bytes not decided yet */
        size_t hold_len;
        bool in_cover;    /* hold starts inside a covered range */
        size_t cover_rem; /* that many bytes of hold are still covered */
        char *out;        /* the output of the last feed, for the caller to take */
        size_t out_len, out_allocated;
        char *work; /* hold + the new chunk */
        size_t work_allocated;
        uint32_t *reach; /* reach[i]: the longest match starting at work[i] (0: none) */
        size_t reach_allocated;
        uint32_t state;      /* the matcher's state after hold */
        uint64_t generation; /* of the matcher that state belongs to */
} MaskFilter;

void mask_filter_init(MaskFilter *f, const MaskList *list);
void mask_filter_done(MaskFilter *f);
/* Takes len bytes of the stream (eof: and the stream ends here; everything held back comes out).
 * The masked bytes decided are then in f->out, f->out_len (until the next call). -ENOMEM. */
int mask_filter_feed(MaskFilter *f, const char *data, size_t len, bool eof);
/* Whether the filter has nothing to do: no values, nothing held back (the caller may then skip it). */
static inline bool mask_filter_idle(const MaskFilter *f) {
        return f->list->n == 0 && f->hold_len == 0;
}
