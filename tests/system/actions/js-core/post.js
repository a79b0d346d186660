// SPDX-License-Identifier: GPL-2.0-or-later
const core = require('@actions/core');

core.info(`post ran, state ${core.getState('from-main')}, input ${core.getInput('who')}`);
