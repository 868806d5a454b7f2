import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createLogger, type Logger } from '../../src/logger.ts';

/** Every log line a component wrote, raw, so tests can grep for secrets and prompt text. */
export interface CapturedLogs {
  lines: string[];
  logger: Logger;
  text(): string;
}

export function captureLogs(level: Config['log']['level'] = 'debug'): CapturedLogs {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ log: { level } }, sink);
  return { lines, logger, text: () => lines.join('') };
}

export function tempDir(prefix = 'pcx-test-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A validated, frozen config for tests: loopback, any free port, a temp data dir, plus overrides as env vars. */
export function testConfig(dataDir: string, env: Record<string, string> = {}): Readonly<Config> {
  return loadConfig({
    env: { PORTCULLIS_PORT: '0', PORTCULLIS_DATA_DIR: dataDir, PORTCULLIS_LOG_LEVEL: 'debug', ...env },
  }).config;
}
