/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <stdio.h>

#include "expr-lexer.h"
#include "macro.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Length of the Unicode white space JavaScript trims at s (NBSP, BOM, U+1680, U+2000–U+200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000), or 0. */
static size_t unicode_space_len(const unsigned char *s, size_t n) {
        if (n >= 2 && s[0] == 0xc2 && s[1] == 0xa0)
                return 2;
        if (n >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)
                return 3;
        if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
                return 3;
        if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 &&
                ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
                return 3;
        if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
                return 3;
        if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
                return 3;
        return 0;
}

static size_t space_len(const char *s, size_t n) {
        if (n >= 1 && is_space(s[0]))
                return 1;
        return unicode_space_len((const unsigned char *) s, n);
}

static bool prefix_eq(const char *s, size_t n, const char *p) {
        size_t l = strlen(p);
        return n == l && strneq(s, p, l);
}

static int parse_radix(const char *s, size_t n, unsigned base, double *ret) {
        double v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                unsigned d;

                if (is_digit(c))
                        d = (unsigned) (c - '0');
                else if (c >= 'a' && c <= 'f')
                        d = (unsigned) (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        d = (unsigned) (c - 'A' + 10);
                else
                        return -EINVAL;
                if (d >= base)
                        return -EINVAL;
                v = v * base + d;
        }
        *ret = v;
        return 0;
}

int expr_parse_number(const char *s, size_t n, double *ret) {
        char buf[512];
        size_t i = 0, k;
        bool negative = false, digits = false;
        double v;

        /* trim */
        while (n > 0 && (k = space_len(s, n)) > 0) {
                s += k;
                n -= k;
        }
        while (n > 0) {
                if (is_space(s[n - 1]))
                        n--;
                else if (n >= 2 && unicode_space_len((const unsigned char *) s + n - 2, 2) == 2)
                        n -= 2;
                else if (n >= 3 && unicode_space_len((const unsigned char *) s + n - 3, 3) == 3)
                        n -= 3;
                else
                        break;
        }

        if (n == 0) {
                *ret = 0;
                return 0;
        }

        if (n > 2 && s[0] == '0') {
                switch (s[1]) {
                case 'x':
                case 'X':
                        return parse_radix(s + 2, n - 2, 16, ret);
                case 'o':
                case 'O':
                        return parse_radix(s + 2, n - 2, 8, ret);
                case 'b':
                case 'B':
                        return parse_radix(s + 2, n - 2, 2, ret);
                }
        }

        if (s[0] == '+' || s[0] == '-') {
                negative = s[0] == '-';
                i = 1;
        }
        if (prefix_eq(s + i, n - i, "Infinity")) {
                *ret = negative ? -INFINITY : INFINITY;
                return 0;
        }

        /* digits [. digits] | . digits, then [eE [+-] digits]: checked here, converted by strtod(),
         * which would otherwise also take "inf", "nan" and hex floats. */
        for (k = i; k < n && is_digit(s[k]); k++)
                digits = true;
        if (k < n && s[k] == '.')
                for (k++; k < n && is_digit(s[k]); k++)
                        digits = true;
        if (!digits)
                return -EINVAL;
        if (k < n && (s[k] == 'e' || s[k] == 'E')) {
                size_t e = ++k;
                if (k < n && (s[k] == '+' || s[k] == '-'))
                        e = ++k;
                while (k < n && is_digit(s[k]))
                        k++;
                if (k == e)
                        return -EINVAL;
        }
        if (k != n)
                return -EINVAL;
        if (n >= sizeof(buf)) /* only a run of zeros or digits beyond double precision gets here */
                return -EINVAL;

        memcpy(buf, s, n);
        buf[n] = '\0';
        v = strtod(buf, NULL);
        *ret = v;
        return 0;
}

static bool is_boundary(const char *s, size_t n) {
        switch (s[0]) {
        case '(':
        case '[':
        case ')':
        case ']':
        case ',':
        case '.':
        case '!':
        case '>':
        case '<':
        case '=':
        case '&':
        case '|':
                return true;
        }
        return space_len(s, n) > 0;
}

static bool is_legal_identifier(const char *s, size_t n) {
        if (n == 0 || !(is_alpha(s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

static int set_error(ExprError *error, size_t offset, const char *text, size_t len, int r) {
        if (error) {
                int max = len > 80 ? 80 : (int) len;
                error->offset = offset;
                snprintf(error->message, sizeof(error->message), "Unexpected symbol: '%.*s%s'", max, text,
                        len > 80 ? "…" : "");
        }
        return r;
}

static int push(ExprTokens *t, size_t *allocated, ExprToken tok) {
        if (t->n == *allocated) {
                size_t a = *allocated ? *allocated * 2 : 16;
                ExprToken *p = reallocarray(t->tokens, a, sizeof(ExprToken));
                if (!p) {
                        free(tok.string);
                        return -ENOMEM;
                }
                t->tokens = p;
                *allocated = a;
        }
        t->tokens[t->n++] = tok;
        return 0;
}

static ExprTokenType previous(const ExprTokens *t) {
        return t->n > 0 ? t->tokens[t->n - 1].type : EXPR_TOKEN_EOF;
}

int expr_lex(const char *text, size_t n, ExprTokens *ret, ExprError *error) {
        _cleanup_(expr_tokens_done) ExprTokens t = {};
        size_t allocated = 0, i = 0;
        int r;

        if (n > EXPR_MAX_LENGTH) {
                if (error) {
                        error->offset = 0;
                        snprintf(error->message, sizeof(error->message), "Exceeded max expression length %d",
                                EXPR_MAX_LENGTH);
                }
                return -E2BIG;
        }

        while (i < n) {
                size_t start = i, k;
                ExprToken tok = { .offset = start };
                char c = text[i++];

                switch (c) {
                case '(':
                        tok.type = EXPR_TOKEN_LPAREN;
                        break;
                case ')':
                        tok.type = EXPR_TOKEN_RPAREN;
                        break;
                case '[':
                        tok.type = EXPR_TOKEN_LBRACKET;
                        break;
                case ']':
                        tok.type = EXPR_TOKEN_RBRACKET;
                        break;
                case ',':
                        tok.type = EXPR_TOKEN_COMMA;
                        break;
                case '*':
                        tok.type = EXPR_TOKEN_STAR;
                        break;
                case '!':
                        tok.type = i < n && text[i] == '=' ? (i++, EXPR_TOKEN_NE) : EXPR_TOKEN_BANG;
                        break;
                case '<':
                        tok.type = i < n && text[i] == '=' ? (i++, EXPR_TOKEN_LE) : EXPR_TOKEN_LT;
                        break;
                case '>':
                        tok.type = i < n && text[i] == '=' ? (i++, EXPR_TOKEN_GE) : EXPR_TOKEN_GT;
                        break;
                case '=':
                case '&':
                case '|':
                        if (i < n && text[i] == c) {
                                i++;
                                tok.type = c == '=' ? EXPR_TOKEN_EQ
                                        : c == '&'  ? EXPR_TOKEN_AND
                                                    : EXPR_TOKEN_OR;
                                break;
                        }
                        /* A lone '=', '&' or '|': report it with what follows up to a boundary. */
                        while (i < n && !is_boundary(text + i, n - i))
                                i++;
                        return set_error(error, start, text + start, i - start, -EINVAL);
                case '\'': {
                        _cleanup_free_ char *value = NULL;
                        size_t m = 0;

                        value = malloc(n - start);
                        if (!value)
                                return -ENOMEM;
                        for (;;) {
                                if (i >= n)
                                        return set_error(error, start, text + start, n - start, -EINVAL);
                                if (text[i] == '\'') {
                                        if (i + 1 < n && text[i + 1] == '\'') {
                                                value[m++] = '\'';
                                                i += 2;
                                                continue;
                                        }
                                        i++;
                                        break;
                                }
                                if (text[i] == '\0')
                                        return set_error(error, i, "\\0", 2, -EINVAL);
                                value[m++] = text[i++];
                        }
                        value[m] = '\0';
                        tok.type = EXPR_TOKEN_STRING;
                        tok.string = TAKE_PTR(value);
                        break;
                }
                default:
                        k = space_len(text + start, n - start);
                        if (k > 0) {
                                i = start + k;
                                continue;
                        }

                        /* A dot after something that has properties is member access; elsewhere it
                         * starts a number (".5"). */
                        if (c == '.' &&
                                (previous(&t) == EXPR_TOKEN_IDENTIFIER ||
                                        previous(&t) == EXPR_TOKEN_RBRACKET ||
                                        previous(&t) == EXPR_TOKEN_RPAREN ||
                                        previous(&t) == EXPR_TOKEN_STAR)) {
                                tok.type = EXPR_TOKEN_DOT;
                                break;
                        }

                        if (is_digit(c) || c == '-' || c == '+' || c == '.') {
                                /* A number runs to the next boundary, dots included. */
                                while (i < n && (text[i] == '.' || !is_boundary(text + i, n - i)))
                                        i++;
                                r = expr_parse_number(text + start, i - start, &tok.number);
                                if (r < 0)
                                        return set_error(error, start, text + start, i - start, -EINVAL);
                                tok.type = EXPR_TOKEN_NUMBER;
                                break;
                        }

                        while (i < n && !is_boundary(text + i, n - i))
                                i++;
                        if (!is_legal_identifier(text + start, i - start))
                                return set_error(error, start, text + start, i - start, -EINVAL);
                        tok.type = EXPR_TOKEN_IDENTIFIER;
                        /* After a dot every word is a property name: "a.null" is a property. */
                        if (previous(&t) != EXPR_TOKEN_DOT) {
                                const char *w = text + start;
                                size_t l = i - start;

                                if (prefix_eq(w, l, "true"))
                                        tok.type = EXPR_TOKEN_TRUE;
                                else if (prefix_eq(w, l, "false"))
                                        tok.type = EXPR_TOKEN_FALSE;
                                else if (prefix_eq(w, l, "null"))
                                        tok.type = EXPR_TOKEN_NULL;
                                else if (prefix_eq(w, l, "NaN")) {
                                        tok.type = EXPR_TOKEN_NUMBER;
                                        tok.number = NAN;
                                } else if (prefix_eq(w, l, "Infinity")) {
                                        tok.type = EXPR_TOKEN_NUMBER;
                                        tok.number = INFINITY;
                                }
                        }
                        break;
                }

                tok.length = i - start;
                r = push(&t, &allocated, tok);
                if (r < 0)
                        return r;
        }

        r = push(&t, &allocated, (ExprToken){ .type = EXPR_TOKEN_EOF, .offset = n });
        if (r < 0)
                return r;

        *ret = t;
        t = (ExprTokens){};
        return 0;
}

void expr_tokens_done(ExprTokens *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++)
                free(t->tokens[i].string);
        free(t->tokens);
        *t = (ExprTokens){};
}

const char *expr_token_type_to_string(ExprTokenType t) {
        static const char *const table[_EXPR_TOKEN_MAX] = {
                [EXPR_TOKEN_LPAREN] = "(",
                [EXPR_TOKEN_RPAREN] = ")",
                [EXPR_TOKEN_LBRACKET] = "[",
                [EXPR_TOKEN_RBRACKET] = "]",
                [EXPR_TOKEN_COMMA] = ",",
                [EXPR_TOKEN_DOT] = ".",
                [EXPR_TOKEN_BANG] = "!",
                [EXPR_TOKEN_NE] = "!=",
                [EXPR_TOKEN_EQ] = "==",
                [EXPR_TOKEN_GT] = ">",
                [EXPR_TOKEN_GE] = ">=",
                [EXPR_TOKEN_LT] = "<",
                [EXPR_TOKEN_LE] = "<=",
                [EXPR_TOKEN_AND] = "&&",
                [EXPR_TOKEN_OR] = "||",
                [EXPR_TOKEN_STAR] = "*",
                [EXPR_TOKEN_NUMBER] = "number",
                [EXPR_TOKEN_STRING] = "string",
                [EXPR_TOKEN_IDENTIFIER] = "identifier",
                [EXPR_TOKEN_TRUE] = "true",
                [EXPR_TOKEN_FALSE] = "false",
                [EXPR_TOKEN_NULL] = "null",
                [EXPR_TOKEN_EOF] = "end of expression",
        };

        return t >= 0 && t < _EXPR_TOKEN_MAX ? table[t] : NULL;
}
