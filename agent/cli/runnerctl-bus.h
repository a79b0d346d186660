/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* runnerctl's verbs that talk to runner-agent over D-Bus. Each returns the process exit status. */
int verb_run(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);
int verb_list(int argc, char *argv[]);
int verb_logs(int argc, char *argv[]);
