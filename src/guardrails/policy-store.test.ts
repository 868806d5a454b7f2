import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { WorkspaceRepository } from '../workspaces/repository.ts';
import { createGuardrailPolicies, PolicyError, writeOverride } from './policy-store.ts';

/** Workspace settings in memory; `hold` makes the next read wait until released. */
function settingsStore() {
  const settings = new Map<string, unknown>();
  let hold: Promise<void> | undefined;
  const repo = {
    async getSetting(_id: string, name: string) {
      const value = structuredClone(settings.get(name));
      if (hold) await hold;
      return value;
    },
    async setSetting(_id: string, name: string, value: unknown) {
      settings.set(name, structuredClone(value));
    },
  };
  return {
    settings,
    workspaces: repo as unknown as WorkspaceRepository,
    holdReads(): () => void {
      let release = (): void => undefined;
      hold = new Promise((resolve) => {
        release = () => {
          hold = undefined;
          resolve();
        };
      });
      return release;
    },
  };
}

const clock = { now: () => 0 };

it('a read that began before an invalidation does not cache the policy it read', async () => {
  const store = settingsStore();
  const policies = createGuardrailPolicies({ workspaces: store.workspaces, clock });
  const release = store.holdReads();
  const stale = policies.effective('wsp_a', 'key_a');
  // The change commits (in another transaction) and the cache is told, while the read is in flight.
  await store.workspaces.setSetting('wsp_a', 'guardrails', { secrets: { action: 'block' } });
  policies.invalidate('wsp_a');
  release();
  assert.equal((await stale).secrets.action, 'redact', 'the in-flight read saw the old settings');
  assert.equal((await policies.effective('wsp_a', 'key_a')).secrets.action, 'block');
});

it('writeOverride merges, replaces and removes, validating the result', async () => {
  const store = settingsStore();
  const ws = store.workspaces;
  await writeOverride(ws, 'wsp_a', { mode: 'merge', override: { pii: { action: 'redact' } } });
  const merged = await writeOverride(ws, 'wsp_a', { mode: 'merge', override: { pii: { where: 'input' } } });
  assert.deepEqual(merged.after, { pii: { action: 'redact', where: 'input' } });
  const replaced = await writeOverride(ws, 'wsp_a', {
    mode: 'replace',
    override: { secrets: { threshold: 0.9 } },
  });
  assert.deepEqual(replaced, {
    before: { pii: { action: 'redact', where: 'input' } },
    after: { secrets: { threshold: 0.9 } },
  });
  await writeOverride(ws, 'wsp_a', { mode: 'replace', override: { pii: { action: 'log' } } }, 'key_a');
  await writeOverride(ws, 'wsp_a', { mode: 'replace', override: { pii: { action: 'block' } } }, 'key_b');
  const removed = await writeOverride(ws, 'wsp_a', { mode: 'remove' }, 'key_a');
  assert.deepEqual(removed, { before: { pii: { action: 'log' } }, after: {} });
  assert.deepEqual(store.settings.get('guardrailKeys'), { key_b: { pii: { action: 'block' } } });
  await assert.rejects(
    writeOverride(ws, 'wsp_a', { mode: 'merge', override: { 'prompt-injection': { action: 'redact' } } }),
    (err: unknown) => err instanceof PolicyError && /prompt-injection\.action/.test(err.problems[0] ?? ''),
  );
  assert.deepEqual(store.settings.get('guardrails'), { secrets: { threshold: 0.9 } }, 'unchanged');
});
