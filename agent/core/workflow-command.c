/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "workflow-command.h"

static const char *const command_names[_WORKFLOW_COMMAND_MAX] = {
        [WORKFLOW_COMMAND_ADD_MASK] = "add-mask",
        [WORKFLOW_COMMAND_ERROR] = "error",
        [WORKFLOW_COMMAND_WARNING] = "warning",
        [WORKFLOW_COMMAND_NOTICE] = "notice",
        [WORKFLOW_COMMAND_DEBUG] = "debug",
        [WORKFLOW_COMMAND_GROUP] = "group",
        [WORKFLOW_COMMAND_ENDGROUP] = "endgroup",
        [WORKFLOW_COMMAND_STOP_COMMANDS] = "stop-commands",
        [WORKFLOW_COMMAND_SET_OUTPUT] = "set-output",
        [WORKFLOW_COMMAND_SAVE_STATE] = "save-state",
        [WORKFLOW_COMMAND_SET_ENV] = "set-env",
        [WORKFLOW_COMMAND_ADD_PATH] = "add-path",
};

const char *workflow_command_to_string(WorkflowCommandType t) {
        return t >= 0 && t < _WORKFLOW_COMMAND_MAX ? command_names[t] : NULL;
}

void workflow_command_done(WorkflowCommand *c) {
        for (size_t i = 0; i < c->n_properties; i++) {
                free(c->properties[i].key);
                free(c->properties[i].value);
        }
        free(c->data);
        *c = (WorkflowCommand){};
}

const char *workflow_command_property(const WorkflowCommand *c, const char *key) {
        for (size_t i = 0; i < c->n_properties; i++)
                if (strcasecmp(c->properties[i].key, key) == 0)
                        return c->properties[i].value;
        return NULL;
}

/* What .NET's string.Trim() takes away, in ASCII (a step's output is bytes; GitHub's runner also
 * trims Unicode spaces, which we leave). */
static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* A line without its newline, a trailing CR and leading whitespace, as GitHub's runner reads it. */
static void trim_line(const char **p, const char **end) {
        if (*end > *p && (*end)[-1] == '\n')
                (*end)--;
        if (*end > *p && (*end)[-1] == '\r')
                (*end)--;
        while (*p < *end && is_space(**p))
                (*p)++;
}

int workflow_command_unescape(const char *s, size_t len, bool property, char **ret, size_t *ret_len) {
        char *out = malloc(len + 1);
        size_t o = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '%' && len - i >= 3) {
                        char c = 0;

                        /* Upper case only: GitHub's runner replaces these exact strings. */
                        if (s[i + 1] == '2' && s[i + 2] == '5')
                                c = '%';
                        else if (s[i + 1] == '0' && s[i + 2] == 'D')
                                c = '\r';
                        else if (s[i + 1] == '0' && s[i + 2] == 'A')
                                c = '\n';
                        else if (property && s[i + 1] == '3' && s[i + 2] == 'A')
                                c = ':';
                        else if (property && s[i + 1] == '2' && s[i + 2] == 'C')
                                c = ',';
                        if (c) {
                                out[o++] = c;
                                i += 2;
                                continue;
                        }
                }
                out[o++] = s[i];
        }
        out[o] = '\0';
        *ret = out;
        if (ret_len)
                *ret_len = o;
        return 0;
}

static int add_property(WorkflowCommand *c, const char *s, size_t len) {
        const char *eq = memchr(s, '=', len);
        size_t klen;
        char *key = NULL, *value = NULL;
        int r;

        /* GitHub splits at the first '=' dropping empty parts: "k=" and "=v" set nothing. */
        if (!eq)
                return 0;
        klen = (size_t) (eq - s);
        if (klen == 0 || klen == len - 1)
                return 0;
        key = strndup(s, klen);
        if (!key)
                return -ENOMEM;
        r = workflow_command_unescape(eq + 1, len - klen - 1, true, &value, NULL);
        if (r < 0) {
                free(key);
                return r;
        }
        for (size_t i = 0; i < c->n_properties; i++)
                if (strcasecmp(c->properties[i].key, key) == 0) {
                        free(key);
                        free(c->properties[i].value);
                        c->properties[i].value = value;
                        return 0;
                }
        if (c->n_properties >= WORKFLOW_COMMAND_PROPERTIES_MAX) {
                free(key);
                free(value);
                return 0;
        }
        c->properties[c->n_properties++] = (WorkflowCommandProperty){ .key = key, .value = value };
        return 0;
}

int workflow_command_parse(const char *line, size_t len, WorkflowCommand *ret) {
        WorkflowCommand c = {};
        const char *p = line, *end = line + len, *info, *info_end, *space, *sep;
        size_t name_len;
        int r;

        if (len > WORKFLOW_COMMAND_LINE_MAX)
                return 0;
        trim_line(&p, &end);
        if (end - p < 4 || p[0] != ':' || p[1] != ':')
                return 0;
        info = p + 2;
        sep = memmem(info, (size_t) (end - info), "::", 2);
        if (!sep)
                return 0;
        info_end = sep;
        space = memchr(info, ' ', (size_t) (info_end - info));
        name_len = (size_t) ((space ?: info_end) - info);
        c.type = _WORKFLOW_COMMAND_MAX;
        for (size_t t = 0; t < _WORKFLOW_COMMAND_MAX; t++)
                if (strlen(command_names[t]) == name_len && memcmp(command_names[t], info, name_len) == 0)
                        c.type = (WorkflowCommandType) t;
        if (c.type == _WORKFLOW_COMMAND_MAX)
                return 0;

        if (space) {
                const char *q = space + 1, *qe = info_end;

                while (q < qe && is_space(*q))
                        q++;
                while (qe > q && is_space(qe[-1]))
                        qe--;
                while (q < qe) {
                        const char *comma = memchr(q, ',', (size_t) (qe - q)) ?: qe;

                        if (comma > q) {
                                r = add_property(&c, q, (size_t) (comma - q));
                                if (r < 0) {
                                        workflow_command_done(&c);
                                        return r;
                                }
                        }
                        q = comma + (comma < qe);
                }
        }
        r = workflow_command_unescape(sep + 2, (size_t) (end - sep - 2), false, &c.data, &c.data_len);
        if (r < 0) {
                workflow_command_done(&c);
                return r;
        }
        *ret = c;
        return 1;
}

bool workflow_command_is_resume(const char *line, size_t len, const char *token, size_t token_len) {
        const char *p = line, *end = line + len;

        trim_line(&p, &end);
        return token_len > 0 && (size_t) (end - p) == token_len + 4 && memcmp(p, "::", 2) == 0 &&
                memcmp(p + 2, token, token_len) == 0 && memcmp(p + 2 + token_len, "::", 2) == 0;
}

/* ---- the scanner ---- */

void command_scanner_init(CommandScanner *s) {
        *s = (CommandScanner){ .line_start = true };
}

void command_scanner_done(CommandScanner *s) {
        free(s->pend);
        *s = (CommandScanner){};
}

static int pend_put(CommandScanner *s, const char *data, size_t len) {
        if (len == 0)
                return 0;
        if (s->pend_len + len > s->pend_allocated) {
                size_t a = MAX(s->pend_allocated * 2, s->pend_len + len);
                char *p = realloc(s->pend, a);

                if (!p)
                        return -ENOMEM;
                s->pend = p;
                s->pend_allocated = a;
        }
        memcpy(s->pend + s->pend_len, data, len);
        s->pend_len += len;
        return 0;
}

typedef enum LineKind {
        LINE_NOT,   /* output */
        LINE_MAYBE, /* whitespace and at most one ':' so far */
        LINE_CANDIDATE,
} LineKind;

static LineKind classify(const char *s, size_t len) {
        size_t i = 0;

        while (i < len && is_space(s[i]))
                i++;
        if (i == len)
                return LINE_MAYBE;
        if (s[i] != ':')
                return LINE_NOT;
        if (i + 1 == len)
                return LINE_MAYBE;
        return s[i + 1] == ':' ? LINE_CANDIDATE : LINE_NOT;
}

/* data[from, to) without a newline, at a line start: held if it may still become a candidate. */
static int hold_or_output(CommandScanner *s, const char *data, size_t from, size_t to, bool at_start,
        const CommandScannerOps *ops, void *userdata) {
        size_t q = to;

        /* The partial last line: where it starts, if it is all whitespace and maybe one ':'. */
        if (q > from && data[q - 1] == ':')
                q--;
        while (q > from && is_space(data[q - 1]))
                q--;
        if (!((q == from && at_start) || (q > from && data[q - 1] == '\n'))) {
                /* The tail's line goes on with output: no candidate. */
                ops->output(userdata, data + from, to - from);
                s->line_start = false;
                return 0;
        }
        ops->output(userdata, data + from, q - from);
        s->line_start = true;
        return pend_put(s, data + q, to - q);
}

/* The first "::" in data: memchr(3) runs at the memory's pace, where glibc's memmem(3) with a
 * two-byte needle looks at each byte in turn (a 4x slower copy of a 100 MB step output). */
static const char *find_colons(const char *data, size_t len) {
        const char *end = data + len;

        while (data + 1 < end) {
                const char *c = memchr(data, ':', (size_t) (end - data) - 1);
                if (!c)
                        return NULL;
                if (c[1] == ':')
                        return c;
                data = c + 1;
        }
        return NULL;
}

static int scan(
        CommandScanner *s, const char *data, size_t len, const CommandScannerOps *ops, void *userdata) {
        size_t p = 0, search = 0;

        while (search < len) {
                const char *h = find_colons(data + search, len - search);
                const char *nl;
                size_t ls, hi;

                if (!h)
                        break;
                hi = (size_t) (h - data);
                ls = hi;
                while (ls > p && is_space(data[ls - 1]))
                        ls--;
                if (!((ls == p && p == 0 && s->line_start) || (ls > 0 && data[ls - 1] == '\n'))) {
                        /* Inside a line: nothing more of it can be a command. */
                        nl = memchr(h, '\n', len - hi);
                        if (!nl) {
                                ops->output(userdata, data + p, len - p);
                                s->line_start = false;
                                return 0;
                        }
                        search = (size_t) (nl - data) + 1;
                        continue;
                }
                /* A candidate line from ls. */
                ops->output(userdata, data + p, ls - p);
                p = ls;
                nl = memchr(h, '\n', len - hi);
                if (!nl) {
                        if (len - ls > WORKFLOW_COMMAND_LINE_MAX) {
                                ops->output(userdata, data + ls, len - ls);
                                s->line_start = false;
                                return 0;
                        }
                        s->line_start = true;
                        return pend_put(s, data + ls, len - ls);
                }
                if ((size_t) (nl - data) + 1 - ls > WORKFLOW_COMMAND_LINE_MAX + 1)
                        ops->output(userdata, data + ls, (size_t) (nl - data) + 1 - ls);
                else
                        ops->line(userdata, data + ls, (size_t) (nl - data) + 1 - ls);
                p = search = (size_t) (nl - data) + 1;
        }
        return hold_or_output(s, data, p, len, p == 0 ? s->line_start : data[p - 1] == '\n', ops, userdata);
}

/* The stream ends: the held line is a candidate, or output. */
static void flush_pend(CommandScanner *s, const CommandScannerOps *ops, void *userdata) {
        if (classify(s->pend, s->pend_len) == LINE_CANDIDATE)
                ops->line(userdata, s->pend, s->pend_len);
        else
                ops->output(userdata, s->pend, s->pend_len);
        s->pend_len = 0;
}

int command_scanner_feed(CommandScanner *s, const char *data, size_t len, bool eof,
        const CommandScannerOps *ops, void *userdata) {
        int r = 0;

        if (s->pend_len > 0 && len == 0 && eof) {
                flush_pend(s, ops, userdata);
                return 0;
        }
        if (s->pend_len > 0) {
                LineKind k = classify(s->pend, s->pend_len);

                if (k == LINE_CANDIDATE) {
                        const char *nl = len > 0 ? memchr(data, '\n', len) : NULL;
                        size_t take = nl ? (size_t) (nl - data) + 1 : len;

                        if (s->pend_len + take > WORKFLOW_COMMAND_LINE_MAX + (nl ? 1 : 0)) {
                                /* Too long for a command: output, up to its newline. */
                                ops->output(userdata, s->pend, s->pend_len);
                                ops->output(userdata, data, take);
                                s->pend_len = 0;
                                s->line_start = nl;
                        } else {
                                r = pend_put(s, data, take);
                                if (r < 0)
                                        return r;
                                if (!nl && !eof)
                                        return 0;
                                ops->line(userdata, s->pend, s->pend_len);
                                s->pend_len = 0;
                                s->line_start = true;
                        }
                        data += take;
                        len -= take;
                } else {
                        /* Only whitespace and a ':' so far: rescan it with what follows, as one. */
                        _cleanup_free_ char *work = malloc(s->pend_len + len);

                        if (!work)
                                return -ENOMEM;
                        memcpy(work, s->pend, s->pend_len);
                        if (len > 0)
                                memcpy(work + s->pend_len, data, len);
                        len += s->pend_len;
                        s->pend_len = 0;
                        s->line_start = true;
                        r = scan(s, work, len, ops, userdata);
                        if (r >= 0 && eof)
                                r = command_scanner_feed(s, NULL, 0, true, ops, userdata);
                        return r;
                }
        }
        if (len > 0) {
                r = scan(s, data, len, ops, userdata);
                if (r < 0)
                        return r;
        }
        if (eof && s->pend_len > 0)
                flush_pend(s, ops, userdata);
        return 0;
}
