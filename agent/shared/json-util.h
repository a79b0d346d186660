/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>

static inline void json_object_putp(json_object **o) {
        if (*o)
                *o = (json_object_put(*o), NULL);
}

/* Parses a whole text the agent wrote itself (state.json, run-state.json): deeper than json-c's default
 * of 32 levels, since contexts may nest 64 deep (EXPR_VALUE_MAX_DEPTH). NULL on any error. */
static inline json_object *json_parse_state(const char *text) {
        json_tokener *tok = json_tokener_new_ex(80);
        json_object *o;

        if (!tok)
                return NULL;
        o = json_tokener_parse_ex(tok, text, -1);
        if (json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(o);
                o = NULL;
        }
        json_tokener_free(tok);
        return o;
}
