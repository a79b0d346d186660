/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* MESSAGE_ID of each structured journal event; the catalog explains each (journalctl -x). */
#define MESSAGE_RUN_SUBMITTED "9def8d3039f0409a9d0ca3ce2e749360"
#define MESSAGE_RUN_CONCLUDED "a9fb116ac182460ab7eeb643e45d790b"
#define MESSAGE_JOB_CONCLUDED "dfdcda571a12426c916c7cfaade1c8f1"
#define MESSAGE_STEP_STARTED "9ad28248467541c5a73a1b593f0be545"
#define MESSAGE_STEP_CONCLUDED "cd0a5dd9fee94dcea38617521444c2b0"
#define MESSAGE_ORPHAN_KILLED "19d13d81660b4defadff197a2b967d8a"
#define MESSAGE_JOB_SLICE_KILLED "6bdf5068fe5d4d998e6431ce998a292f"
#define MESSAGE_RUN_INTERRUPTED "ce81cb51fe8a419798c16c2529209e0e"
