/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "mask.h"

void mask_list_done(MaskList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->values[i]);
        free(l->values);
        free(l->lens);
        *l = (MaskList){};
}

int mask_list_add(MaskList *l, const char *value, size_t len) {
        size_t i;
        char *copy;

        if (len == 0)
                return 0;
        if (len > MASK_VALUE_MAX)
                return -E2BIG;
        if (memchr(value, '\0', len))
                return -EINVAL;
        for (i = 0; i < l->n; i++)
                if (l->lens[i] == len && memcmp(l->values[i], value, len) == 0)
                        return 0;
        if (l->n >= MASK_LIST_MAX)
                return -E2BIG;
        if (l->n == l->allocated) {
                size_t a = MAX(l->allocated * 2, (size_t) 8);
                char **v = realloc(l->values, a * sizeof(char *));
                size_t *n;

                if (!v)
                        return -ENOMEM;
                l->values = v;
                n = realloc(l->lens, a * sizeof(size_t));
                if (!n)
                        return -ENOMEM;
                l->lens = n;
                l->allocated = a;
        }
        copy = strndup(value, len);
        if (!copy)
                return -ENOMEM;
        /* Longest first: the first value that matches at a position is the longest there. */
        for (i = l->n; i > 0 && l->lens[i - 1] < len; i--) {
                l->values[i] = l->values[i - 1];
                l->lens[i] = l->lens[i - 1];
        }
        l->values[i] = copy;
        l->lens[i] = len;
        l->n++;
        l->max_len = MAX(l->max_len, len);
        l->first[(uint8_t) value[0]] = 1;
        return 0;
}

static const char base64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of data without '=' padding, in a buffer of 4 * (len + 2) / 3 + 1 bytes. */
static size_t base64_unpadded(const uint8_t *data, size_t len, char *out) {
        size_t o = 0;

        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) data[i] << 16;
                size_t left = len - i;

                if (left > 1)
                        v |= (uint32_t) data[i + 1] << 8;
                if (left > 2)
                        v |= data[i + 2];
                out[o++] = base64_digits[(v >> 18) & 63];
                out[o++] = base64_digits[(v >> 12) & 63];
                if (left > 1)
                        out[o++] = base64_digits[(v >> 6) & 63];
                if (left > 2)
                        out[o++] = base64_digits[v & 63];
        }
        out[o] = '\0';
        return o;
}

int mask_list_add_secret(MaskList *l, const char *value) {
        size_t len = strlen(value);
        _cleanup_free_ char *b64 = NULL;
        int r;

        if (len == 0)
                return 0;
        if (len > MASK_VALUE_MAX)
                return -E2BIG;
        r = mask_list_add(l, value, len);
        if (r < 0)
                return r;

        /* A multi-line value is printed line by line as often as whole. */
        if (strpbrk(value, "\r\n"))
                for (const char *p = value; *p;) {
                        size_t n = strcspn(p, "\n");
                        size_t m = n;

                        if (m > 0 && p[m - 1] == '\r')
                                m--;
                        r = mask_list_add(l, p, m);
                        if (r < 0)
                                return r;
                        p += n + (p[n] == '\n');
                }

        /* base64(value) depends on where the value starts in the encoded text modulo 3: encode it
         * from each of its first three bytes, as GitHub's runner does, in both alphabets. */
        b64 = malloc(4 * (len + 2) / 3 + 1);
        if (!b64)
                return -ENOMEM;
        for (size_t skip = 0; skip < 3 && skip < len; skip++) {
                size_t n = base64_unpadded((const uint8_t *) value + skip, len - skip, b64);

                r = mask_list_add(l, b64, n);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
                r = mask_list_add(l, b64, n);
                if (r < 0)
                        return r;
        }
        return 0;
}

int mask_list_serialize(const MaskList *l, char **ret, size_t *ret_len) {
        size_t size = 0, o = 0;
        char *text;

        for (size_t i = 0; i < l->n; i++)
                size += l->lens[i] + 1;
        text = malloc(size + 1);
        if (!text)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++) {
                memcpy(text + o, l->values[i], l->lens[i] + 1);
                o += l->lens[i] + 1;
        }
        text[o] = '\0';
        *ret = text;
        *ret_len = size;
        return 0;
}

int mask_list_parse(const char *data, size_t len, MaskList *l) {
        size_t i = 0;
        int r;

        if (len > 0 && data[len - 1] != '\0')
                return -EINVAL;
        while (i < len) {
                size_t n = strlen(data + i);

                r = mask_list_add(l, data + i, n);
                if (r < 0)
                        return r;
                i += n + 1;
        }
        return 0;
}

/* The longest value matching at p with n bytes available, or 0. */
static size_t match_at(const MaskList *l, const char *p, size_t n) {
        if (!l->first[(uint8_t) *p])
                return 0;
        for (size_t i = 0; i < l->n; i++)
                if (l->lens[i] <= n && l->values[i][0] == *p && memcmp(l->values[i], p, l->lens[i]) == 0)
                        return l->lens[i];
        return 0;
}

/* Whether the n bytes at p are the beginning of a value longer than n. */
static bool may_continue(const MaskList *l, const char *p, size_t n) {
        if (!l->first[(uint8_t) *p])
                return false;
        for (size_t i = 0; i < l->n && l->lens[i] > n; i++)
                if (memcmp(l->values[i], p, n) == 0)
                        return true;
        return false;
}

bool mask_list_matches(const MaskList *l, const char *text, size_t len) {
        for (size_t p = 0; l->n > 0 && p < len; p++)
                if (match_at(l, text + p, len - p) > 0)
                        return true;
        return false;
}

size_t mask_list_cut_value(const MaskList *l, const char *text, size_t len) {
        size_t best = 0;

        for (size_t i = 0; i < l->n; i++)
                for (size_t k = MIN(l->lens[i], len); k > best; k--)
                        if (memcmp(text + len - k, l->values[i], k) == 0) {
                                best = k;
                                break;
                        }
        return best;
}

static int out_put(MaskFilter *f, const char *data, size_t len) {
        if (len == 0)
                return 0;
        if (f->out_len + len > f->out_allocated) {
                size_t a = MAX(f->out_allocated * 2, f->out_len + len);
                char *o = realloc(f->out, a);

                if (!o)
                        return -ENOMEM;
                f->out = o;
                f->out_allocated = a;
        }
        memcpy(f->out + f->out_len, data, len);
        f->out_len += len;
        return 0;
}

void mask_filter_init(MaskFilter *f, const MaskList *list) {
        *f = (MaskFilter){ .list = list };
}

void mask_filter_done(MaskFilter *f) {
        free(f->hold);
        free(f->out);
        free(f->work);
        *f = (MaskFilter){};
}

int mask_filter_feed(MaskFilter *f, const char *data, size_t len, bool eof) {
        const MaskList *l = f->list;
        size_t n = f->hold_len + len, p = 0, from = 0, cover_end, maxlen = MAX(l->max_len, (size_t) 1);
        bool in_cover = f->in_cover;
        const char *w;
        int r;

        f->out_len = 0;
        if (f->hold_len == 0 && !in_cover && l->n == 0) {
                /* Nothing to mask: the chunk as it is. */
                return out_put(f, data, len);
        }
        if (n > f->work_allocated) {
                char *b = realloc(f->work, n);

                if (!b)
                        return -ENOMEM;
                f->work = b;
                f->work_allocated = n;
        }
        if (f->hold_len > 0)
                memcpy(f->work, f->hold, f->hold_len);
        if (len > 0)
                memcpy(f->work + f->hold_len, data, len);
        w = f->work ?: ""; /* n == 0: nothing allocated yet */
        cover_end = in_cover ? f->cover_rem : 0;

        while (p < n) {
                size_t m;

                if (!in_cover) {
                        /* Skip ahead to a byte some value starts with. */
                        while (p < n && !l->first[(uint8_t) w[p]])
                                p++;
                        if (p >= n)
                                break;
                }
                /* A longer value could still match here once more bytes come: wait for them. Only the
                 * start of a value is held back, so that lines are not cut for nothing. */
                if (!eof && n - p < maxlen && may_continue(l, w + p, n - p))
                        break;
                m = match_at(l, w + p, n - p);
                if (m > 0) {
                        if (!in_cover) {
                                r = out_put(f, w + from, p - from);
                                if (r < 0)
                                        return r;
                                in_cover = true;
                                cover_end = p + m;
                        } else
                                cover_end = MAX(cover_end, p + m);
                } else if (in_cover && p >= cover_end) {
                        r = out_put(f, MASK_REPLACEMENT, STRLEN(MASK_REPLACEMENT));
                        if (r < 0)
                                return r;
                        in_cover = false;
                        from = p;
                }
                p++;
        }

        if (eof && in_cover) {
                /* Every position was looked at: the cover reaches the end. */
                r = out_put(f, MASK_REPLACEMENT, STRLEN(MASK_REPLACEMENT));
                if (r < 0)
                        return r;
                in_cover = false;
                from = p = n;
        }
        if (!in_cover) {
                r = out_put(f, w + from, p - from);
                if (r < 0)
                        return r;
        }
        /* Keep what is not decided: from p on (inside a cover, the covered bytes before p are gone
         * already: they become the one "***"). */
        if (n - p > 0 && n - p > f->hold_len) {
                char *h = realloc(f->hold, n - p);

                if (!h)
                        return -ENOMEM;
                f->hold = h;
        }
        if (n - p > 0)
                memmove(f->hold, w + p, n - p);
        f->hold_len = n - p;
        f->in_cover = in_cover;
        f->cover_rem = in_cover ? cover_end - p : 0;
        return 0;
}

int mask_string(const MaskList *l, const char *text, size_t len, char **ret, size_t *ret_len) {
        MaskFilter f;
        char *s;
        int r;

        mask_filter_init(&f, l);
        r = mask_filter_feed(&f, text, len, true);
        if (r < 0) {
                mask_filter_done(&f);
                return r;
        }
        s = malloc(f.out_len + 1);
        if (!s) {
                mask_filter_done(&f);
                return -ENOMEM;
        }
        if (f.out_len > 0)
                memcpy(s, f.out, f.out_len);
        s[f.out_len] = '\0';
        *ret = s;
        if (ret_len)
                *ret_len = f.out_len;
        mask_filter_done(&f);
        return 0;
}
