/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define MIN(a, b) \
        ({ \
                __auto_type _a_ = (a); \
                __auto_type _b_ = (b); \
                _a_ < _b_ ? _a_ : _b_; \
        })

#define MAX(a, b) \
        ({ \
                typeof(a) _a_ = (a); \
                typeof(b) _b_ = (b); \
                _a_ > _b_ ? _a_ : _b_; \
        })

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define STRLEN(x) (sizeof("" x "") - 1)

/* Hands ownership of a pointer or fd to the caller, leaving the cleanup variable inert. */
#define TAKE_GENERIC(var, type, nullvalue) \
        ({ \
                type *_pvar_ = &(var); \
                type _var_ = *_pvar_; \
                type _nullvalue_ = nullvalue; \
                *_pvar_ = _nullvalue_; \
                _var_; \
        })
#define TAKE_PTR(ptr) TAKE_GENERIC(ptr, typeof(ptr), NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, int, -EBADF)

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* Closes fd if it is valid and returns -EBADF, so that "fd = safe_close(fd);" resets it. Never changes
 * errno: cleanup paths run after the error we want to report was set. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        (void) safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void close_pairp(int (*p)[2]) {
        (void) safe_close((*p)[0]);
        (void) safe_close((*p)[1]);
}
#define _cleanup_close_pair_ _cleanup_(close_pairp)

/* Defines a cleanup function for a type whose destructor returns NULL, e.g. sd_bus_unref(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p) { \
                if (*p) \
                        *p = func(*p); \
        }

#define RET_NERRNO(expr) \
        ({ \
                __auto_type _value_ = (expr); \
                _value_ < 0 ? -errno : _value_; \
        })

static inline int negative_errno(void) {
        /* Only call this when something set errno; a 0 here would turn a failure into a success. */
        return errno > 0 ? -errno : -EIO;
}

/* Whether x equals one of the listed values. */
#define IN_SET(x, first, ...) \
        ({ \
                bool _found_ = false; \
                const __typeof__(x) _set_[] = { first, __VA_ARGS__ }; \
                for (size_t _i_ = 0; _i_ < ELEMENTSOF(_set_); _i_++) \
                        if ((x) == _set_[_i_]) { \
                                _found_ = true; \
                                break; \
                        } \
                _found_; \
        })

#define streq(a, b) (strcmp((a), (b)) == 0)
/* Both NULL, or the same string. */
static inline bool streq_ptr(const char *a, const char *b) {
        return a == b || (a && b && streq(a, b));
}
/* Enough characters for any value of an integer type in decimal, with sign and NUL. */
#define DECIMAL_STR_MAX(type) \
        (2U + (sizeof(type) <= 1 ? 3U : sizeof(type) <= 2 ? 5U : sizeof(type) <= 4 ? 10U : 20U))

static inline bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

#define USEC_PER_SEC ((uint64_t) 1000000ULL)
#define USEC_PER_MSEC ((uint64_t) 1000ULL)
#define NSEC_PER_USEC ((uint64_t) 1000ULL)
#define USEC_INFINITY ((uint64_t) UINT64_MAX)
