import { stringify } from 'yaml';
import { maskedConfig } from '../config/load.ts';
import type { Command } from './context.ts';

export const configCheckCommand: Command = {
  name: ['config', 'check'],
  summary: 'Validate the configuration and print the effective settings, secrets masked.',
  usage: 'portcullis config check [--config FILE] [--json]',
  async run(ctx) {
    const loaded = ctx.loadConfig();
    const effective = maskedConfig(loaded.config);
    const data = {
      valid: true,
      configFile: loaded.configFile ?? null,
      config: effective,
      sources: loaded.sources,
    };
    const from = Object.entries(loaded.sources)
      .map(([k, v]) => `  ${k} ← ${v}`)
      .join('\n');
    return {
      data,
      text: `configuration is valid\n\n${stringify(effective).trimEnd()}\n${from ? `\nset explicitly:\n${from}\n` : ''}`,
    };
  },
};
