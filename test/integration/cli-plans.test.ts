import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/gateway.ts';

/**
 * `portcullis plans …`, `limits set` and `prices set` on a local SQLite store: the change and
 * its audit entry land together (issue 6, items 1 and 2). Enforcement of plans is tested on the
 * limit stage itself (src/limits/named-plans.test.ts).
 */
describe('portcullis plans, limits set and prices set (CLI, audited)', () => {
  const tmp = tempDir();
  after(() => tmp.remove());
  const masterKey = randomBytes(32).toString('base64');

  function cli(args: string[]) {
    const r = runCli(args, { PORTCULLIS_DATA_DIR: tmp.dir, PORTCULLIS_MASTER_KEY: masterKey });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  function audited(action: string): { action: string; target: string; details: Record<string, unknown> }[] {
    return cli(['audit', 'export', '--workspace', 'acme', '--action', action])
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  }

  it('defines, assigns, lists and removes plans, each change with its audit entry', () => {
    cli(['workspaces', 'create', '--name', 'acme']);
    const key = JSON.parse(cli(['keys', 'create', '--workspace', 'acme', '--name', 'bot', '--json'])) as {
      id: string;
    };
    cli([
      'plans',
      'set',
      '--workspace',
      'acme',
      '--name',
      'free',
      '--rpm',
      '10',
      '--budget-usd',
      '5',
      '--budget-window',
      'day',
    ]);
    cli(['plans', 'set', '--workspace', 'acme', '--name', 'team', '--concurrency', '20']);
    cli(['plans', 'assign', '--workspace', 'acme', '--plan', 'free', '--key', key.id]);
    cli(['plans', 'assign', '--workspace', 'acme', '--plan', 'team']);

    const listed = JSON.parse(cli(['plans', 'list', '--workspace', 'acme', '--json']));
    assert.deepEqual(listed.plans, {
      free: { rpm: 10, budgetUsd: 5, budgetWindow: 'day' },
      team: { concurrency: 20 },
    });
    assert.equal(listed.workspace, 'team');
    assert.deepEqual(listed.keys, { [key.id]: 'free' });

    const show = JSON.parse(cli(['limits', 'show', '--key', key.id, '--json'])) as {
      usage: { scope: string; plan?: string; limit: string }[];
    };
    assert.deepEqual(
      show.usage.map((r) => [r.scope, r.plan, r.limit]),
      [
        ['plan', 'free', 'rpm'],
        ['plan', 'team', 'concurrency'],
        ['plan', 'free', 'budget'],
      ],
    );

    cli(['plans', 'unassign', '--workspace', 'acme', '--key', key.id]);
    cli(['plans', 'remove', '--workspace', 'acme', '--name', 'team']);
    const after = JSON.parse(cli(['plans', 'list', '--workspace', 'acme', '--json']));
    assert.deepEqual(Object.keys(after.plans), ['free']);
    assert.equal(after.workspace, undefined);
    assert.deepEqual(after.keys, {});

    assert.deepEqual(
      audited('plans.*').map((e) => [e.action, e.details]),
      [
        ['plans.set', { name: 'free', changed: ['budgetUsd', 'budgetWindow', 'rpm'] }],
        ['plans.set', { name: 'team', changed: ['concurrency'] }],
        ['plans.assigned', { plan: 'free', scope: 'key' }],
        ['plans.assigned', { plan: 'team', scope: 'workspace' }],
        ['plans.unassigned', { plan: 'free', scope: 'key' }],
        ['plans.removed', { name: 'team', unassignedKeys: 0, workspaceUnassigned: true }],
      ],
    );
    assert.equal(audited('plans.assigned')[0]?.target, key.id);
  });

  it('refuses to put a key of another workspace on a plan', () => {
    cli(['workspaces', 'create', '--name', 'other']);
    const key = JSON.parse(cli(['keys', 'create', '--workspace', 'other', '--name', 'x', '--json'])) as {
      id: string;
    };
    const r = runCli(['plans', 'assign', '--workspace', 'acme', '--plan', 'free', '--key', key.id], {
      PORTCULLIS_DATA_DIR: tmp.dir,
      PORTCULLIS_MASTER_KEY: masterKey,
    });
    assert.notEqual(r.code, 0);
    assert.deepEqual(JSON.parse(cli(['plans', 'list', '--workspace', 'acme', '--json'])).keys, {});
  });

  it('audits limits set and prices set with the names of the fields that changed', () => {
    cli(['limits', 'set', '--workspace', 'acme', '--rpm', '100', '--budget-usd', '50']);
    cli(['limits', 'set', '--workspace', 'acme', '--model', 'gpt-4o', '--tpm', '1000']);
    cli([
      'prices',
      'set',
      '--workspace',
      'acme',
      '--model',
      'local-llama',
      '--input-per-mtok',
      '0.2',
      '--output-per-mtok',
      '0.6',
    ]);
    cli([
      'prices',
      'set',
      '--workspace',
      'acme',
      '--model',
      'local-llama',
      '--input-per-mtok',
      '0.3',
      '--output-per-mtok',
      '0.6',
    ]);
    assert.deepEqual(
      audited('limits.set').map((e) => e.details),
      [
        { scope: 'workspace', changed: ['budgetUsd', 'budgetWindow', 'rpm'] },
        { scope: 'model', changed: ['models'] },
      ],
    );
    assert.deepEqual(
      audited('prices.set').map((e) => e.details),
      [
        { model: 'local-llama', changed: ['inputMicrosPerMtok', 'outputMicrosPerMtok'] },
        { model: 'local-llama', changed: ['inputMicrosPerMtok'] },
      ],
    );
  });
});
