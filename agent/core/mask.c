/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "mask.h"

/* The matcher: an Aho-Corasick automaton over the values, so that masking costs the same per byte of
 * text whatever the values (a step adds them with ::add-mask::, and may pick them to share long
 * prefixes). Nodes are the beginnings of values; edges are kept in one hash table of (node, byte), not
 * in 256 slots per node. Built from the list when first needed after it changed: one pass over the
 * values' bytes.
 *
 * Memory: at most one node per byte of the values plus the root, 20 bytes each, and one edge per
 * node in a table at most four times as large as the edges it holds (12 bytes a slot), both grown by
 * doubling: at most ~100 bytes per byte of the values. At the list's limits (MASK_LIST_MAX values of
 * MASK_VALUE_MAX bytes, 256 MiB, which the list itself already holds) that is ~25 GiB; values that
 * share their beginnings share their nodes (4096 values 'a' * k, k = 1..4096: 4097 nodes). */
typedef struct MaskNode {
        uint32_t fail;  /* the node of the longest proper end of this node's string that is a node */
        uint32_t out;   /* the length of the longest value that is an end of this node's string, or 0 */
        uint32_t depth; /* the length of this node's string */
        uint32_t parent;
        uint8_t byte; /* the last byte of this node's string */
        bool leaf;    /* no value continues this node's string */
} MaskNode;

struct MaskAutomaton {
        uint64_t generation; /* of the list it was built from */
        MaskNode *nodes;     /* nodes[0]: the root, the empty string */
        size_t n_nodes, allocated;
        uint64_t *keys; /* parent * 256 + byte + 1, 0: a free slot */
        uint32_t *children;
        size_t n_edges;
        unsigned bits; /* the table has 1 << bits slots */
};

static void automaton_clear(MaskAutomaton *a) {
        free(a->nodes);
        free(a->keys);
        free(a->children);
        *a = (MaskAutomaton){};
}

void mask_list_done(MaskList *l) {
        if (l->ac) {
                automaton_clear(l->ac);
                free(l->ac);
        }
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
        if (!l->ac) {
                l->ac = calloc(1, sizeof(MaskAutomaton));
                if (!l->ac)
                        return -ENOMEM;
        }
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
        l->generation++;
        return 1;
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

static size_t edge_slot(const MaskAutomaton *a, uint64_t key) {
        size_t mask = ((size_t) 1 << a->bits) - 1,
               i = (size_t) ((key * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - a->bits));

        while (a->keys[i] != 0 && a->keys[i] != key)
                i = (i + 1) & mask;
        return i;
}

/* The child of node u by byte c, or 0 (the root is nobody's child). */
static uint32_t edge_get(const MaskAutomaton *a, uint32_t u, uint8_t c) {
        uint64_t key = (uint64_t) u * 256 + c + 1;
        size_t i = edge_slot(a, key);

        return a->keys[i] == key ? a->children[i] : 0;
}

static int edge_put(MaskAutomaton *a, uint32_t u, uint8_t c, uint32_t v) {
        size_t i;

        if ((a->n_edges + 1) * 2 > ((size_t) 1 << a->bits)) {
                MaskAutomaton b = { .bits = a->bits + 1 };

                b.keys = calloc((size_t) 1 << b.bits, sizeof(uint64_t));
                b.children = malloc(((size_t) 1 << b.bits) * sizeof(uint32_t));
                if (!b.keys || !b.children) {
                        free(b.keys);
                        free(b.children);
                        return -ENOMEM;
                }
                for (size_t k = 0; k < ((size_t) 1 << a->bits); k++)
                        if (a->keys[k] != 0) {
                                size_t j = edge_slot(&b, a->keys[k]);

                                b.keys[j] = a->keys[k];
                                b.children[j] = a->children[k];
                        }
                free(a->keys);
                free(a->children);
                a->keys = b.keys;
                a->children = b.children;
                a->bits = b.bits;
        }
        i = edge_slot(a, (uint64_t) u * 256 + c + 1);
        a->keys[i] = (uint64_t) u * 256 + c + 1;
        a->children[i] = v;
        a->n_edges++;
        return 0;
}

static int node_new(MaskAutomaton *a, uint32_t parent, uint8_t c, uint32_t *ret) {
        if (a->n_nodes == a->allocated) {
                size_t n = MAX(a->allocated * 2, (size_t) 64);
                MaskNode *nodes = realloc(a->nodes, n * sizeof(MaskNode));

                if (!nodes)
                        return -ENOMEM;
                a->nodes = nodes;
                a->allocated = n;
        }
        a->nodes[a->n_nodes] = (MaskNode){
                .parent = parent,
                .byte = c,
                .depth = a->n_nodes == 0 ? 0 : a->nodes[parent].depth + 1,
                .leaf = true,
        };
        if (a->n_nodes > 0)
                a->nodes[parent].leaf = false;
        *ret = (uint32_t) a->n_nodes++;
        return 0;
}

/* The state after byte c from state s. Amortised O(1): each step down the failure links shortens the
 * state's string, which each byte lengthens by at most one. */
static uint32_t automaton_step(const MaskAutomaton *a, uint32_t s, uint8_t c) {
        for (;;) {
                uint32_t v = edge_get(a, s, c);

                if (v != 0 || s == 0)
                        return v;
                s = a->nodes[s].fail;
        }
}

static int automaton_build(const MaskList *l, MaskAutomaton *a) {
        _cleanup_free_ uint32_t *count = NULL, *order = NULL;
        uint32_t root;
        int r;

        /* Values are at most MASK_LIST_MAX * MASK_VALUE_MAX bytes: node numbers fit in 32 bits. */
        a->bits = 6;
        a->keys = calloc((size_t) 1 << a->bits, sizeof(uint64_t));
        a->children = malloc(((size_t) 1 << a->bits) * sizeof(uint32_t));
        if (!a->keys || !a->children)
                return -ENOMEM;
        r = node_new(a, 0, 0, &root);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n; i++) {
                uint32_t u = root;

                for (size_t k = 0; k < l->lens[i]; k++) {
                        uint8_t c = (uint8_t) l->values[i][k];
                        uint32_t v = edge_get(a, u, c);

                        if (v == 0) {
                                r = node_new(a, u, c, &v);
                                if (r < 0)
                                        return r;
                                r = edge_put(a, u, c, v);
                                if (r < 0)
                                        return r;
                        }
                        u = v;
                }
                a->nodes[u].out = (uint32_t) l->lens[i];
        }

        /* Failure links in order of depth (a counting sort): a node's failure link and its out come
         * from shorter nodes. */
        count = calloc(l->max_len + 2, sizeof(uint32_t));
        order = malloc(a->n_nodes * sizeof(uint32_t));
        if (!count || !order)
                return -ENOMEM;
        for (size_t v = 0; v < a->n_nodes; v++)
                count[a->nodes[v].depth + 1]++;
        for (size_t d = 1; d < l->max_len + 2; d++)
                count[d] += count[d - 1];
        for (size_t v = 0; v < a->n_nodes; v++)
                order[count[a->nodes[v].depth]++] = (uint32_t) v;
        for (size_t i = 1; i < a->n_nodes; i++) {
                MaskNode *n = a->nodes + order[i];

                n->fail = n->depth == 1 ? 0 : automaton_step(a, a->nodes[n->parent].fail, n->byte);
                if (n->out == 0)
                        n->out = a->nodes[n->fail].out;
        }
        a->generation = l->generation;
        return 0;
}

/* The list's automaton, built if the list changed since; NULL for an empty list. */
static int mask_list_automaton(const MaskList *l, const MaskAutomaton **ret) {
        int r;

        if (l->n == 0) {
                *ret = NULL;
                return 0;
        }
        if (!l->ac->nodes || l->ac->generation != l->generation) {
                automaton_clear(l->ac);
                r = automaton_build(l, l->ac);
                if (r < 0) {
                        automaton_clear(l->ac);
                        return r;
                }
        }
        *ret = l->ac;
        return 0;
}

bool mask_list_matches(const MaskList *l, const char *text, size_t len) {
        const MaskAutomaton *a;
        uint32_t s = 0;

        if (l->n == 0)
                return false;
        if (mask_list_automaton(l, &a) < 0)
                return true; /* out of memory: assume the worst, the callers then drop the text */
        for (size_t p = 0; p < len; p++) {
                s = automaton_step(a, s, (uint8_t) text[p]);
                if (a->nodes[s].out > 0)
                        return true;
        }
        return false;
}

size_t mask_list_cut_value(const MaskList *l, const char *text, size_t len) {
        const MaskAutomaton *a;
        uint32_t s = 0;

        if (l->n == 0)
                return 0;
        if (mask_list_automaton(l, &a) < 0)
                return len; /* out of memory: assume the worst, all of it */
        for (size_t p = 0; p < len; p++)
                s = automaton_step(a, s, (uint8_t) text[p]);
        return a->nodes[s].depth;
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
        free(f->reach);
        *f = (MaskFilter){};
}

static int grow(void **p, size_t *allocated, size_t n, size_t size) {
        void *b;

        if (n <= *allocated)
                return 0;
        b = realloc(*p, n * size);
        if (!b)
                return -ENOMEM;
        *p = b;
        *allocated = n;
        return 0;
}

int mask_filter_feed(MaskFilter *f, const char *data, size_t len, bool eof) {
        const MaskList *l = f->list;
        const MaskAutomaton *a;
        size_t n = f->hold_len + len, p = 0, from = 0, start = f->hold_len, decided, cover_end;
        bool in_cover = f->in_cover;
        uint32_t s = f->state;
        const char *w;
        int r;

        f->out_len = 0;
        if (f->hold_len == 0 && !in_cover && l->n == 0) {
                /* Nothing to mask: the chunk as it is. */
                return out_put(f, data, len);
        }
        r = mask_list_automaton(l, &a);
        if (r < 0)
                return r;
        r = grow((void **) &f->work, &f->work_allocated, n, 1);
        if (r < 0)
                return r;
        r = grow((void **) &f->reach, &f->reach_allocated, n, sizeof(uint32_t));
        if (r < 0)
                return r;
        if (f->hold_len > 0)
                memcpy(f->work, f->hold, f->hold_len);
        if (len > 0) {
                memcpy(f->work + f->hold_len, data, len);
                memset(f->reach + f->hold_len, 0, len * sizeof(uint32_t));
        }
        w = f->work ?: ""; /* n == 0: nothing allocated yet */
        cover_end = in_cover ? f->cover_rem : 0;

        if (f->generation != l->generation) {
                /* The list grew: the state is the old automaton's. Feed what is held back again,
                 * from the start, so the new values are masked in it too. */
                s = 0;
                start = 0;
                if (f->hold_len > 0)
                        memset(f->reach, 0, f->hold_len * sizeof(uint32_t));
        }
        /* Every match, by its end: the longest ending at each byte is the union of all of them
         * ending there; it is recorded at its beginning. */
        for (size_t i = start; a && i < n; i++) {
                uint32_t m;

                s = automaton_step(a, s, (uint8_t) w[i]);
                m = a->nodes[s].out;
                if (m > 0)
                        f->reach[i + 1 - m] = MAX(f->reach[i + 1 - m], m);
        }
        /* A match can only still begin within the state's string (not at its first byte if no value
         * continues it): everything before is decided. */
        if (eof || !a)
                decided = n;
        else
                decided = n - a->nodes[s].depth + (a->nodes[s].leaf && a->nodes[s].depth > 0);

        for (; p < decided; p++) {
                uint32_t m = f->reach[p];

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
        if (n - p > 0) {
                memmove(f->hold, w + p, n - p);
                memmove(f->reach, f->reach + p, (n - p) * sizeof(uint32_t));
        }
        f->hold_len = n - p;
        f->in_cover = in_cover;
        f->cover_rem = in_cover ? cover_end - p : 0;
        f->state = eof ? 0 : s;
        f->generation = l->generation;
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
