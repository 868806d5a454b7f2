#!/usr/bin/env node
// Entry point for `npx portcullis`. Portcullis runs its TypeScript directly on Node.js 24 (type
// stripping, node:sqlite, crypto.argon2). The CLI runs in a child process on this Node when it is
// new enough, else on the pinned Node 24 from devDependencies, with node:sqlite's experimental
// warning switched off; signals are passed on so `serve` shuts down gracefully under any
// process manager.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'src', 'cli', 'run.ts');
const major = Number(process.versions.node.split('.')[0]);
const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
const node = major >= 24 ? process.execPath : existsSync(pinned) ? pinned : undefined;

if (node === undefined) {
  process.stderr.write(
    `portcullis needs Node.js 24 or later (this is ${process.version}). Run \`npm ci\` to install the pinned version.\n`,
  );
  process.exit(1);
}

const child = spawn(node, ['--disable-warning=ExperimentalWarning', cli, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal ? 1 : 0));
});
