import { readFileSync } from 'node:fs';
import type { Command } from './context.ts';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export const versionCommand: Command = {
  name: ['version'],
  summary: 'Print the Portcullis and Node.js versions.',
  usage: 'portcullis version [--json]',
  async run() {
    const data = { portcullis: packageVersion(), node: process.versions.node };
    return { data, text: `portcullis ${data.portcullis} (node ${data.node})` };
  },
};
