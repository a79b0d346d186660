/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdbool.h>
#include <stdio.h>

#include "macro.h"
#include "timespan.h"

/* A configuration value longer than this is a typo, not a time span. */
#define TIMESPAN_INPUT_MAX 256

static const struct {
        const char *suffix;
        uint64_t usec;
} units[] = {
        { "seconds", USEC_PER_SEC },
        { "second", USEC_PER_SEC },
        { "sec", USEC_PER_SEC },
        { "s", USEC_PER_SEC },
        { "minutes", 60 * USEC_PER_SEC },
        { "minute", 60 * USEC_PER_SEC },
        { "min", 60 * USEC_PER_SEC },
        { "months", 2629800 * USEC_PER_SEC },
        { "month", 2629800 * USEC_PER_SEC },
        { "msec", USEC_PER_MSEC },
        { "ms", USEC_PER_MSEC },
        { "m", 60 * USEC_PER_SEC },
        { "hours", 3600 * USEC_PER_SEC },
        { "hour", 3600 * USEC_PER_SEC },
        { "hr", 3600 * USEC_PER_SEC },
        { "h", 3600 * USEC_PER_SEC },
        { "days", 86400 * USEC_PER_SEC },
        { "day", 86400 * USEC_PER_SEC },
        { "d", 86400 * USEC_PER_SEC },
        { "weeks", 604800 * USEC_PER_SEC },
        { "week", 604800 * USEC_PER_SEC },
        { "w", 604800 * USEC_PER_SEC },
        { "years", 31557600 * USEC_PER_SEC },
        { "year", 31557600 * USEC_PER_SEC },
        { "y", 31557600 * USEC_PER_SEC },
        { "usec", 1 },
        { "us", 1 },
        { "\xc2\xb5s", 1 }, /* µs */
        { "M", 2629800 * USEC_PER_SEC },
};

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_unit_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (unsigned char) c >= 0x80;
}

static const char *skip_space(const char *p) {
        while (is_space(*p))
                p++;
        return p;
}

static int lookup_unit(const char *p, size_t n, uint64_t *ret) {
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strlen(units[i].suffix) == n && strneq(units[i].suffix, p, n)) {
                        *ret = units[i].usec;
                        return 0;
                }
        return -EINVAL;
}

static int add_checked(uint64_t *acc, uint64_t v) {
        if (*acc > UINT64_MAX - 1 - v) /* UINT64_MAX itself means infinity */
                return -ERANGE;
        *acc += v;
        return 0;
}

int parse_timespan(const char *s, uint64_t *ret_usec) {
        uint64_t total = 0;
        bool any = false;
        const char *p;
        int r;

        if (!s || strnlen(s, TIMESPAN_INPUT_MAX + 1) > TIMESPAN_INPUT_MAX)
                return -EINVAL;

        p = skip_space(s);
        if (strneq(p, "infinity", STRLEN("infinity")) && *skip_space(p + STRLEN("infinity")) == '\0') {
                *ret_usec = USEC_INFINITY;
                return 0;
        }

        while (*(p = skip_space(p)) != '\0') {
                uint64_t whole = 0, unit, part = 0;
                const char *frac = NULL, *u;
                size_t nfrac = 0;

                if (*p == '-')
                        return -ERANGE;
                if (!is_digit(*p) && !(*p == '.' && is_digit(p[1])))
                        return -EINVAL;

                for (; is_digit(*p); p++) {
                        if (whole > (UINT64_MAX - 9) / 10)
                                return -ERANGE;
                        whole = whole * 10 + (uint64_t) (*p - '0');
                }
                if (*p == '.') {
                        frac = ++p;
                        while (is_digit(*p))
                                p++;
                        nfrac = (size_t) (p - frac);
                }

                p = skip_space(p);
                u = p;
                while (is_unit_char(*p))
                        p++;
                if (p == u) {
                        /* Only a separated bare number is seconds: "1.2.3s" is a typo, not 1.2s + 0.3s. */
                        if (*p != '\0' && !is_space(p[-1]))
                                return -EINVAL;
                        unit = USEC_PER_SEC;
                } else {
                        r = lookup_unit(u, (size_t) (p - u), &unit);
                        if (r < 0)
                                return r;
                }

                if (whole > 0 && unit > UINT64_MAX / whole)
                        return -ERANGE;
                part = whole * unit;

                /* The fraction is applied digit by digit, so "2.5s" is exact and precision below one
                 * microsecond is dropped rather than rounded up. */
                for (size_t i = 0, m = unit; i < nfrac && m > 0; i++) {
                        m /= 10;
                        part += (uint64_t) (frac[i] - '0') * m;
                }

                r = add_checked(&total, part);
                if (r < 0)
                        return r;
                any = true;
        }

        if (!any)
                return -EINVAL;

        *ret_usec = total;
        return 0;
}

const char *format_timespan(char *buf, size_t size, uint64_t usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } table[] = {
                { "y", 31557600 * USEC_PER_SEC },
                { "month", 2629800 * USEC_PER_SEC },
                { "w", 604800 * USEC_PER_SEC },
                { "d", 86400 * USEC_PER_SEC },
                { "h", 3600 * USEC_PER_SEC },
                { "min", 60 * USEC_PER_SEC },
                { "s", USEC_PER_SEC },
                { "ms", USEC_PER_MSEC },
                { "us", 1 },
        };
        size_t n = 0;

        if (size == 0)
                return buf;
        buf[0] = '\0';

        if (usec == USEC_INFINITY) {
                snprintf(buf, size, "infinity");
                return buf;
        }
        if (usec == 0) {
                snprintf(buf, size, "0");
                return buf;
        }

        for (size_t i = 0; i < ELEMENTSOF(table) && usec > 0; i++) {
                uint64_t k = usec / table[i].usec;
                int w;

                if (k == 0)
                        continue;
                usec -= k * table[i].usec;
                w = snprintf(buf + n, size - n, "%s%llu%s", n > 0 ? " " : "", (unsigned long long) k,
                        table[i].suffix);
                if (w < 0 || (size_t) w >= size - n) {
                        buf[n] = '\0'; /* drop the part that did not fit, whole */
                        break;
                }
                n += (size_t) w;
        }
        return buf;
}
