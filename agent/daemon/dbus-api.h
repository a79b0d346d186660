/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

#include "manager.h"

/* The D-Bus API, io.runneragent.Agent1 at /io/runneragent/Agent1: see runnerctl(1) and the README.
 * Every method checks the caller: root or a member of runner-admin, else AccessDenied. */

int bus_api_add(Manager *m);
/* Before the bus is closed: every call not answered yet is answered with Error.Busy. */
void bus_api_close(Manager *m);

void bus_emit_run_changed(ManagedRun *mr);
void bus_emit_job_changed(ManagedRun *mr, size_t job);
void bus_emit_step_changed(ManagedRun *mr, size_t job, size_t step);
