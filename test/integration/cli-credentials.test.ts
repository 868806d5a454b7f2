import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/gateway.ts';

/**
 * `portcullis workspaces|credentials|aliases` as a user runs them: a real process on a local SQLite
 * store. Every byte the CLI writes is collected and searched for the provider secrets at the end.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'src/cli/run.ts');

const tmp = tempDir('pcx-cli-credentials-');
after(() => tmp.remove());
const output: string[] = [];

function cli(args: string[], env: Record<string, string> = {}) {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PORTCULLIS_') && k !== 'DATABASE_URL' && k !== 'REDIS_URL') clean[k] = v;
  }
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', CLI, ...args], {
    env: { ...clean, PORTCULLIS_DATA_DIR: path.join(tmp.dir, 'data'), PORTCULLIS_LOG_LEVEL: 'info', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  output.push(r.stdout, r.stderr);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json<T>(r: { code: number | null; stdout: string; stderr: string }): T {
  assert.equal(r.code, 0, r.stderr || r.stdout);
  return JSON.parse(r.stdout) as T;
}

interface CredentialOut {
  id: string;
  name: string;
  provider: string;
  baseUrl: string;
  models: string[];
  masked: string;
}

describe('portcullis credentials CLI', () => {
  const fileSecret = `sk-proj-${randomBytes(24).toString('base64url')}`;
  const envSecret = `gsk_${randomBytes(24).toString('base64url')}`;
  const flagSecret = `sk-${randomBytes(24).toString('base64url')}`;

  after(() => {
    const all = output.join('\n');
    for (const s of [fileSecret, envSecret, flagSecret]) {
      assert.ok(!all.includes(s), 'a provider secret appeared in CLI output');
      assert.ok(!all.includes(s.slice(-16)), 'part of a provider secret appeared in CLI output');
    }
  });

  it('creates a workspace, adds credentials from a file and from the environment, and lists them masked', () => {
    const ws = json<{ id: string; name: string }>(cli(['workspaces', 'create', '--name', 'acme', '--json']));
    assert.match(ws.id, /^wsp_/);
    assert.equal(ws.name, 'acme');
    assert.deepEqual(
      json<{ name: string }[]>(cli(['workspaces', 'list', '--json'])).map((w) => w.name),
      ['acme'],
    );

    const secretFile = path.join(tmp.dir, 'openai.key');
    writeFileSync(secretFile, `${fileSecret}\n`, { mode: 0o600 });
    const fromFile = json<CredentialOut>(
      cli([
        'credentials',
        'add',
        '--workspace',
        'acme',
        '--name',
        'openai-main',
        '--provider',
        'openai',
        '--secret-file',
        secretFile,
        '--models',
        'gpt-4o*,o3*',
        '--json',
      ]),
    );
    assert.equal(fromFile.provider, 'openai');
    assert.equal(fromFile.baseUrl, 'https://api.openai.com/v1');
    assert.deepEqual(fromFile.models, ['gpt-4o*', 'o3*']);
    assert.equal(fromFile.masked, `sk-proj-${fileSecret.slice(8, 11)}…${fileSecret.slice(-4)}`);

    const fromEnv = json<CredentialOut>(
      cli(
        [
          'credentials',
          'add',
          '-w',
          ws.id,
          '--name',
          'groq',
          '--provider',
          'openai-compatible',
          '--base-url',
          'https://api.groq.com/openai/v1',
          '--models',
          'llama-*',
          '--secret-env',
          'GROQ_KEY',
          '--json',
        ],
        { GROQ_KEY: envSecret },
      ),
    );
    assert.equal(fromEnv.masked, `gsk_${envSecret.slice(4, 7)}…${envSecret.slice(-4)}`);

    const listed = cli(['credentials', 'list', '--workspace', 'acme', '--json']);
    const list = json<Record<string, unknown>[]>(listed);
    assert.deepEqual(
      list.map((c) => [c.name, c.masked]),
      [
        ['openai-main', fromFile.masked],
        ['groq', fromEnv.masked],
      ],
    );
    for (const c of list) {
      assert.deepEqual(
        Object.keys(c).sort(),
        [
          'baseUrl',
          'createdAt',
          'id',
          'masked',
          'models',
          'name',
          'options',
          'provider',
          'updatedAt',
          'workspaceId',
        ],
        'only metadata and the masked form',
      );
    }
    const text = cli(['credentials', 'list', '--workspace', 'acme']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /openai-main\s+openai\s+gpt-4o\*,o3\*\s+sk-proj-/);
  });

  it('sets, lists and removes aliases in fallback order', () => {
    const set = json<{ targets: { credential: string; model: string }[] }>(
      cli([
        'aliases',
        'set',
        '-w',
        'acme',
        '--name',
        'smart',
        '--target',
        'groq:llama-3.3-70b',
        '--target',
        'openai-main:gpt-4o',
        '--json',
      ]),
    );
    assert.deepEqual(set.targets, [
      { credential: 'groq', model: 'llama-3.3-70b' },
      { credential: 'openai-main', model: 'gpt-4o' },
    ]);
    const text = cli(['aliases', 'list', '-w', 'acme']);
    assert.match(text.stdout, /smart\s+groq:llama-3\.3-70b → openai-main:gpt-4o/);

    const refused = cli(['credentials', 'remove', '-w', 'acme', '--name', 'groq']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /target of the model alias\(es\) "smart"/);
    const unknown = cli(['aliases', 'set', '-w', 'acme', '--name', 'x', '--target', 'nope:gpt-4o', '--json']);
    assert.equal(unknown.code, 1);
    assert.equal(
      (JSON.parse(unknown.stdout) as { error: { code: string } }).error.code,
      'credential_not_found',
    );

    assert.equal(cli(['aliases', 'remove', '-w', 'acme', '--name', 'smart']).code, 0);
    assert.deepEqual(json<unknown[]>(cli(['aliases', 'list', '-w', 'acme', '--json'])), []);
    const removed = json<{ removed: boolean }>(
      cli(['credentials', 'remove', '-w', 'acme', '--name', 'groq', '--json']),
    );
    assert.equal(removed.removed, true);
  });

  it('refuses secrets on the command line, bad arguments and private base URLs with clear errors', () => {
    const flag = cli([
      'credentials',
      'add',
      '-w',
      'acme',
      '--name',
      'x',
      '--provider',
      'openai',
      '--secret',
      flagSecret,
    ]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--secret is not accepted: .*shell history/);

    const none = cli(['credentials', 'add', '-w', 'acme', '--name', 'x', '--provider', 'openai']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--secret-file FILE or --secret-env VAR/);
    assert.match(none.stderr, /usage: portcullis credentials add/);

    const noWorkspace = cli(['credentials', 'list']);
    assert.equal(noWorkspace.code, 2);
    assert.match(noWorkspace.stderr, /--workspace is required/);

    const missingEnv = cli([
      'credentials',
      'add',
      '-w',
      'acme',
      '--name',
      'x',
      '--provider',
      'openai',
      '--secret-env',
      'NOPE_KEY',
    ]);
    assert.equal(missingEnv.code, 1);
    assert.match(missingEnv.stderr, /NOPE_KEY is not set/);

    const args = ['credentials', 'add', '-w', 'acme', '--name', 'local', '--provider', 'openai-compatible'];
    const rest = ['--models', 'llama*', '--secret-env', 'K', '--json'];
    const metadata = cli([...args, '--base-url', 'https://169.254.169.254/v1', ...rest], { K: flagSecret });
    assert.equal(metadata.code, 1);
    const err = (JSON.parse(metadata.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'base_url_refused');
    assert.match(err.message, /instance-metadata/);

    const privateUrl = cli([...args, '--base-url', 'http://10.0.0.1:8000/v1', ...rest.slice(0, -1)], {
      K: flagSecret,
    });
    assert.equal(privateUrl.code, 1);
    assert.match(privateUrl.stderr, /https.*PORTCULLIS_EGRESS_ALLOW/);
    const privateHttps = cli([...args, '--base-url', 'https://10.0.0.1:8000/v1', ...rest.slice(0, -1)], {
      K: flagSecret,
    });
    assert.equal(privateHttps.code, 1);
    assert.match(
      privateHttps.stderr,
      /10\.0\.0\.1 is a private address.*PORTCULLIS_EGRESS_ALLOW=10\.0\.0\.1/,
    );

    const allowed = json<CredentialOut>(
      cli([...args, '--base-url', 'http://10.0.0.1:8000/v1', ...rest], {
        K: flagSecret,
        PORTCULLIS_EGRESS_ALLOW: '10.0.0.1',
      }),
    );
    assert.equal(allowed.baseUrl, 'http://10.0.0.1:8000/v1');

    const unknownWs = cli(['credentials', 'list', '-w', 'nowhere', '--json']);
    assert.equal(unknownWs.code, 1);
    assert.equal(
      (JSON.parse(unknownWs.stdout) as { error: { code: string } }).error.code,
      'workspace_not_found',
    );
  });

  it('deletes a workspace softly', () => {
    assert.equal(cli(['workspaces', 'delete']).code, 2);
    const deleted = json<{ deleted: boolean; name: string }>(cli(['workspaces', 'delete', 'acme', '--json']));
    assert.equal(deleted.deleted, true);
    assert.deepEqual(json<unknown[]>(cli(['workspaces', 'list', '--json'])), []);
    assert.equal(cli(['credentials', 'list', '-w', 'acme']).code, 1);
  });
});
