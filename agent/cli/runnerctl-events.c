/* SPDX-License-Identifier: GPL-2.0-or-later */
/* runnerctl events: a run's timeline, read back from the journal. Only entries runner-agent itself
 * wrote count (journald's trusted _UID=0 and _COMM=runner-agent): a step may write what it likes to
 * the journal, fields named RUNNER_* included, and must not be able to forge the timeline. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "escape.h"
#include "json-util.h"
#include "macro.h"
#include "runnerctl.h"

static const char *field(sd_journal *j, const char *name, char *buf, size_t size) {
        const void *data;
        size_t len, n = strlen(name);

        if (sd_journal_get_data(j, name, &data, &len) < 0 || len <= n + 1)
                return NULL;
        len -= n + 1;
        len = MIN(len, size - 1);
        memcpy(buf, (const char *) data + n + 1, len);
        buf[len] = '\0';
        return buf;
}

static void format_time(uint64_t usec, char *buf, size_t size) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;
        size_t n;

        if (!localtime_r(&t, &tm)) {
                snprintf(buf, size, "?");
                return;
        }
        n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(buf + n, size - n, ".%03u", (unsigned) (usec % USEC_PER_SEC / 1000));
}

/* Takes v, also on failure. */
static int add(json_object *o, const char *key, json_object *v) {
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static json_object *entry_to_json(sd_journal *j, uint64_t usec) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        char stamp[64];
        const void *data;
        size_t len;

        if (!o)
                return NULL;
        format_time(usec, stamp, sizeof(stamp));
        if (add(o, "timestamp", json_object_new_string(stamp)) < 0 ||
                add(o, "realtime_usec", json_object_new_uint64(usec)) < 0)
                return NULL;
        SD_JOURNAL_FOREACH_DATA(j, data, len) {
                const char *eq = memchr(data, '=', len);
                _cleanup_free_ char *key = NULL;

                if (!eq)
                        continue;
                key = strndup(data, (size_t) (eq - (const char *) data));
                if (!key)
                        return NULL;
                if (strncmp(key, "RUNNER_", 7) != 0 && !streq(key, "MESSAGE") && !streq(key, "MESSAGE_ID") &&
                        !streq(key, "PRIORITY"))
                        continue;
                if (add(o, key,
                            json_object_new_string_len(
                                    eq + 1, (int) (len - (size_t) (eq + 1 - (const char *) data)))) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

int verb_events(int argc, char *argv[]) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        _cleanup_(json_object_putp) json_object *array = NULL;
        _cleanup_free_ char *e_event = NULL, *e_message = NULL;
        char match[64];
        uint64_t id, origin = 0;
        unsigned n = 0;
        int r;

        if (parse_run_id(argv[1], &id) < 0)
                return EXIT_USAGE;

        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0) {
                fprintf(stderr, "runnerctl: failed to open the journal: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        snprintf(match, sizeof(match), "RUNNER_RUN_ID=%" PRIu64, id);
        r = sd_journal_add_match(j, match, 0);
        if (r >= 0)
                r = sd_journal_add_match(j, "_UID=0", 0);
        if (r >= 0)
                r = sd_journal_add_match(j, "_COMM=runner-agent", 0);
        if (r < 0) {
                fprintf(stderr, "runnerctl: failed to filter the journal: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        if (arg_json) {
                array = json_object_new_array();
                if (!array)
                        return EXIT_FAILED;
        }

        /* Times count from the cancel request, or from the first event if there was none. */
        SD_JOURNAL_FOREACH(j) {
                char event[64];
                uint64_t usec;

                if (!field(j, "RUNNER_EVENT", event, sizeof(event)) ||
                        sd_journal_get_realtime_usec(j, &usec) < 0)
                        continue;
                if (origin == 0)
                        origin = usec;
                if (streq(event, "cancel-requested")) {
                        origin = usec;
                        break;
                }
        }
        r = sd_journal_seek_head(j);
        if (r < 0) {
                fprintf(stderr, "runnerctl: failed to read the journal: %s\n", strerror(-r));
                return EXIT_FAILED;
        }

        SD_JOURNAL_FOREACH(j) {
                char event[64], message[2048], stamp[64];
                uint64_t usec;

                if (!field(j, "RUNNER_EVENT", event, sizeof(event)))
                        continue;
                if (sd_journal_get_realtime_usec(j, &usec) < 0)
                        continue;
                n++;
                if (arg_json) {
                        json_object *o = entry_to_json(j, usec);
                        if (!o || json_object_array_add(array, o) < 0) {
                                json_object_put(o);
                                fprintf(stderr, "runnerctl: %s\n", strerror(ENOMEM));
                                return EXIT_FAILED;
                        }
                        continue;
                }
                if (n == 1)
                        printf("%-23s  %10s  %-16s  %s\n", "TIME", "+SECONDS", "EVENT", "WHAT");
                format_time(usec, stamp, sizeof(stamp));
                /* The messages name steps and jobs as the workflow does. */
                e_event = mfree(e_event);
                e_message = mfree(e_message);
                e_event = escape_for_terminal(event);
                e_message = escape_for_terminal(field(j, "MESSAGE", message, sizeof(message)) ?: "");
                if (!e_event || !e_message) {
                        fprintf(stderr, "runnerctl: %s\n", strerror(ENOMEM));
                        return EXIT_FAILED;
                }
                printf("%-23s  %+10.3f  %-16s  %s\n", stamp, ((double) usec - (double) origin) / 1e6,
                        e_event, e_message);
        }

        if (arg_json) {
                puts(json_object_to_json_string_ext(
                        array, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                return 0;
        }
        if (n == 0) {
                fprintf(stderr, "runnerctl: no events of run %" PRIu64 " in the journal%s\n", id,
                        geteuid() == 0
                                ? ""
                                : " (reading the system journal needs root or the systemd-journal or adm group)");
                return EXIT_FAILED;
        }
        return 0;
}
