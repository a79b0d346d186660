/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>

#include "run.h"
#include "workflow.h"

/* The internal state of a run, for the agent to carry an unfinished run over its own restart (README,
 * Running workflows: state lives in /var/lib/runner-agent/runs/<RUN>/). Unlike run_to_json(), which is
 * the public status of `runnerctl status --json`, this is everything the state machine decides with:
 * phases, cancellation stages, timers, the jobs' environments and PATH additions. Deadlines are kept as
 * the CLOCK_MONOTONIC µs they are; the agent must trust them only within the same boot. Pure. */

/* 2: jobs are instances of the workflow's job definitions, each with "instance" and "number" (README,
 * "Restarts"). Version 1 (one job per definition, in workflow order) is still read, so that an agent
 * upgraded under running workflows takes them over. */
#define RUN_STATE_VERSION 2
/* Job instances of one run. */
#define RUN_STATE_MAX_JOBS 65536U

/* Every string of the state (names, messages, units, sources, PATH entries, context values). */
#define RUN_STATE_MAX_STRING EXPR_VALUE_MAX_SIZE
/* $GITHUB_PATH additions of one job. */
#define RUN_STATE_MAX_PATHS 100000U
/* Members of one object or array of a context (github, runner, env, outputs), at any depth. */
#define RUN_STATE_MAX_MEMBERS 100000U

/* The state as a JSON object with "version": RUN_STATE_VERSION. The agent may add keys of its own
 * beside those; run_state_from_json() ignores unknown top-level keys. Returns 0, -ENOMEM, or -EINVAL
 * for a context holding what JSON cannot carry (a number that is not finite, a key with a NUL). */
int run_state_to_json(const Run *run, json_object **ret);

/* Rebuilds the run that run_state_to_json() saw, for workflow (the same workflow.yml, loaded again). The
 * state is untrusted: anything malformed, out of range or inconsistent with itself or with workflow
 * gives -EBADMSG and a one-line reason in *ret_error (to free; ret_error may be NULL), such as
 * "jobs[1].steps[0].cancel_stage: unknown value 'x'". Takes ownership of workflow, also on failure. */
int run_state_from_json(json_object *o, Workflow *workflow, Run **ret, char **ret_error);

/* The values the state holds masked (README, "Secrets"): a job's environment (step RUN_STATE_JOB_ENV),
 * a step's outputs or its action's state that contain a secret or a masked value are written with them as
 * ***, so that no secret reaches the state directory; for a restarted agent to carry the run on with the
 * real values, they are kept elsewhere (the run's secret store, on a tmpfs), as this JSON text. *ret NULL:
 * the state holds the value as it is. */
#define RUN_STATE_JOB_ENV SIZE_MAX
/* ... or the state a JavaScript action's step saved (GITHUB_STATE, README, "Actions"): its step's index
 * with this bit. */
#define RUN_STATE_STEP_STATE (SIZE_MAX / 2U + 1U)
int run_state_unmasked_text(const Run *run, size_t job, size_t step, char **ret);
/* Puts such a text back into a run read with run_state_from_json(), in place of the masked value.
 * Returns 1, 0 when the state has no value there (it was saved before the value was set) or no such
 * job yet (one a matrix from an expression appended), -EBADMSG for a text that is not one or a step
 * the job does not have, -ENOMEM. */
int run_state_unmask(Run *run, size_t job, size_t step, const char *text);
