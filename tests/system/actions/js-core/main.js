// SPDX-License-Identifier: GPL-2.0-or-later
const core = require('@actions/core');
const { spawn } = require('child_process');
const fs = require('fs');

const who = core.getInput('who', { required: true });
const secret = core.getInput('secret-value');
if (secret) core.setSecret(secret);
core.info(`secret is ${secret}`);
core.setOutput('sentence', `${core.getInput('greeting')}, ${who}!`);
core.saveState('from-main', `pid-${process.pid}`);
core.info(`main ran in ${process.env.GITHUB_ACTION_PATH}`);

const marks = core.getInput('marks');
if (core.getInput('hang') === 'true') {
        const child = spawn('sleep', ['1010'], { stdio: 'ignore' });
        const stamp = (what) => fs.appendFileSync(`${marks}/signals`, `${what} ${Date.now()}\n`);
        process.on('SIGINT', () => stamp('SIGINT'));
        process.on('SIGTERM', () => stamp('SIGTERM'));
        fs.writeFileSync(`${marks}/node-pid`, `${process.pid} ${child.pid}\n`);
        setInterval(() => {}, 1000);
}
