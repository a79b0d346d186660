/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* The users of running jobs, runner-0 … runner-499: UIDs and GIDs 60500 … 60999, below systemd's
 * DynamicUser= range (61184 on) and above Debian's regular users (README, "Steps are untrusted"). */
#define JOB_UID_MIN 60500U
#define JOB_USERS 500U

typedef struct Manager Manager;
typedef struct ManagedRun ManagedRun;

/* The job's user, taken (or found again, after a restart) and its records written: 0, -EUSERS (none
 * free) or -errno. */
int job_user_acquire(ManagedRun *mr, size_t job);
/* After a restart, before any job takes a user: the one a running job had. */
void job_user_recover(ManagedRun *mr, size_t job);
/* Its processes gone: the job's workspace and files out of the user's reach, the user given back. */
void job_user_release(ManagedRun *mr, size_t job, const char *workspace);
unsigned job_users_free(Manager *m);
void job_users_sweep(Manager *m);
