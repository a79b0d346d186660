/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>

static inline void json_object_putp(json_object **o) {
        if (*o)
                *o = (json_object_put(*o), NULL);
}
