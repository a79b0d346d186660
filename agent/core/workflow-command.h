/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Workflow commands (README, "Workflow commands"): lines a step prints to stdout or stderr, in
 * GitHub's syntax
 *
 *     ::NAME[ KEY=VALUE[,KEY=VALUE]...]::DATA
 *
 * after optional leading whitespace, with GitHub's escaping: in DATA %25 is '%', %0D CR and %0A LF;
 * in a VALUE also %3A ':' and %2C ','. Only the commands below are commands; any other line, also one
 * naming another command, is output. Pure: the scanner that finds the lines in a stream and the
 * parser of one line. */

#define WORKFLOW_COMMAND_LINE_MAX (256U * 1024U) /* a longer line is output, never a command */
#define WORKFLOW_COMMAND_PROPERTIES_MAX 16U

typedef enum WorkflowCommandType {
        WORKFLOW_COMMAND_ADD_MASK,
        WORKFLOW_COMMAND_ERROR,
        WORKFLOW_COMMAND_WARNING,
        WORKFLOW_COMMAND_NOTICE,
        WORKFLOW_COMMAND_DEBUG,
        WORKFLOW_COMMAND_GROUP,
        WORKFLOW_COMMAND_ENDGROUP,
        WORKFLOW_COMMAND_STOP_COMMANDS,
        WORKFLOW_COMMAND_SET_OUTPUT,
        WORKFLOW_COMMAND_SAVE_STATE,
        WORKFLOW_COMMAND_SET_ENV,
        WORKFLOW_COMMAND_ADD_PATH,
        _WORKFLOW_COMMAND_MAX,
} WorkflowCommandType;

typedef struct WorkflowCommandProperty {
        char *key;   /* as given; looked up ignoring case, as GitHub's runner does */
        char *value; /* unescaped */
} WorkflowCommandProperty;

typedef struct WorkflowCommand {
        WorkflowCommandType type;
        WorkflowCommandProperty properties[WORKFLOW_COMMAND_PROPERTIES_MAX];
        size_t n_properties;
        char *data; /* unescaped; may contain NUL bytes: data_len */
        size_t data_len;
} WorkflowCommand;

void workflow_command_done(WorkflowCommand *c);
const char *workflow_command_to_string(WorkflowCommandType t);
/* The value of property key (ignoring case), or NULL. */
const char *workflow_command_property(const WorkflowCommand *c, const char *key);

/* Parses one line (without its newline; a trailing CR is ignored). Returns 1 and fills *ret for a
 * command, 0 for a line that is output, -ENOMEM. As GitHub's runner: properties without '=' or with
 * an empty key or value are ignored, the last of a repeated key (ignoring case) wins, and only the
 * upper-case escapes are unescaped. */
int workflow_command_parse(const char *line, size_t len, WorkflowCommand *ret);

/* The line "::TOKEN::" (leading whitespace and a trailing CR allowed) that ends ::stop-commands::TOKEN. */
bool workflow_command_is_resume(const char *line, size_t len, const char *token, size_t token_len);

/* Unescapes GitHub's data (property: also %3A and %2C) escaping; NUL-terminated. */
int workflow_command_unescape(const char *s, size_t len, bool property, char **ret, size_t *ret_len);

/* Splits a stream into output and the lines that may be commands (those that start, after
 * whitespace, with "::" and are at most WORKFLOW_COMMAND_LINE_MAX long), whatever its chunks. Output
 * comes out as it goes, except a line's beginning that might still turn out to be a candidate (held
 * until it is decided). Cost without ':' in a chunk: one memchr() over it. */
typedef struct CommandScanner {
        bool line_start; /* the next byte begins a line */
        bool in_output;  /* the current line is output up to its newline (too long a candidate) */
        char *pend;      /* the current line's bytes so far: a candidate, or its possible start */
        size_t pend_len, pend_allocated;
} CommandScanner;

typedef struct CommandScannerOps {
        void (*output)(void *userdata, const char *data, size_t len);
        /* A candidate line: len bytes with its newline (or without, at the stream's end). */
        void (*line)(void *userdata, const char *data, size_t len);
} CommandScannerOps;

void command_scanner_init(CommandScanner *s);
void command_scanner_done(CommandScanner *s);
/* eof: the stream ends after data (a held line comes out). -ENOMEM. */
int command_scanner_feed(CommandScanner *s, const char *data, size_t len, bool eof,
        const CommandScannerOps *ops, void *userdata);
