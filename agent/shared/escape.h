/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <string.h>

/* Text that came from a workflow or a step (names, ids, messages, sources) is printed on a terminal
 * only through these, so that it cannot move the cursor, clear the screen, set the window title or
 * split one line of a table into two. Newline and tab become \n and \t, every other byte below 0x20
 * and 0x7f becomes \xNN (ESC: \x1b), and so does each byte of a C1 control (U+0080 to U+009F, which
 * some terminals obey) and of anything that is not valid UTF-8. Valid UTF-8 from U+00A0 on is kept.
 * Backslashes are kept too: this is for reading, not for parsing back (the --json output is exact).
 *
 * Return a new string, or NULL when out of memory. */
char *escape_for_terminal_length(const char *s, size_t n);

static inline char *escape_for_terminal(const char *s) {
        return escape_for_terminal_length(s, strlen(s));
}
