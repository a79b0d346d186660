/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

/* actions/checkout, built in (README, "The run's source"): a bash script the step's user runs in the
 * step's scope like any run: step, with the run's source snapshot on its standard input. It unpacks
 * it into the workspace (INPUT_PATH under it), a git repository with the run's commit checked out
 * for a git bundle (INPUT_FETCH_DEPTH commits of history, 0: all), the files of a tar; INPUT_CLEAN=true
 * empties the directory first. RUNNER_SOURCE_FORMAT says which (git-bundle, tar, none). */
extern const char run_checkout_script[];
#define RUN_CHECKOUT_SHELL "bash --noprofile --norc -eo pipefail {0}"

/* The with: inputs once evaluated: path relative and inside the workspace (no .. component), clean
 * true or false, fetch-depth a number. -EINVAL with *ret_why (static text) otherwise. */
int run_checkout_check(const char *path, const char *clean, const char *fetch_depth, const char **ret_why);
