// Child processes that never outlive the test file that started them.
//
// `node --test` runs each file in a process of its own and, when the file overruns
// --test-timeout, ends that process with SIGTERM. Node's default SIGTERM action exits at once,
// without 'exit' handlers, so an emulator started by the file would live on as an orphan; and
// since it writes to the runner's stderr, the runner (and ctest behind it) would wait for it
// until ctest's own timeout. Here every child is killed when the file ends, however it ends,
// and a child's stderr is forwarded through a pipe of this process, never handed to the runner.
'use strict';
const { spawn } = require('node:child_process');

const owned = new Set();

function killAll() {
  for (const child of owned) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

process.on('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
  });
}

// spawn() with stdout piped (for the lines a child prints when it is ready) and stderr forwarded;
// `options` as spawn() takes them (cwd, env).
function spawnOwned(command, args, options = {}) {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.on('data', (chunk) => process.stderr.write(chunk));
  owned.add(child);
  child.once('exit', () => owned.delete(child));
  return child;
}

// Ends `child` with SIGTERM and resolves once it has exited.
function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

module.exports = { spawnOwned, stopChild };
