#!/usr/bin/env node
// Entry point for `npx portcullis`. Portcullis runs its TypeScript directly on Node.js 24 (type
// stripping, node:sqlite, crypto.argon2). npm puts the pinned Node 24 from devDependencies first
// on PATH for npx and npm scripts; when an older `node` runs this file anyway, re-run the CLI on
// the pinned binary if it is installed, otherwise explain what is needed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'src', 'cli', 'run.ts');
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  await import(cli);
} else {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write(
      `portcullis needs Node.js 24 or later (this is ${process.version}). Run \`npm ci\` to install the pinned version.\n`,
    );
    process.exit(1);
  }
  const result = spawnSync(pinned, [cli, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
