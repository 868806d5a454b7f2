import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { APIError } from 'openai';
import { systemClock } from '../../src/clock.ts';
import { aggregateUsage } from '../../src/usage/records.ts';
import { createWorkspaceRepository } from '../../src/workspaces/repository.ts';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';

/**
 * Per-user limits (issue 6 item 1): a workspace's `perUser` limits bound each member over all the
 * keys they created together, so a member cannot multiply an allowance by minting more keys; keys
 * made by a management key or the CLI belong to no member and are not counted against anyone.
 */
describe('per-user limits', () => {
  let dp: DataPlaneFixture;
  const alice = 'usr_AAAAAAAAAAAAAAAAAAAAAA';
  const bob = 'usr_BBBBBBBBBBBBBBBBBBBBBB';

  before(async () => {
    dp = await startDataPlane();
    await createWorkspaceRepository({ store: dp.gateway.store, clock: systemClock }).setLimits(
      dp.workspaceId,
      {
        perUser: { rpm: 2 },
      },
    );
    dp.gateway.dataPlane.limits.invalidate(dp.workspaceId);
  });
  after(() => dp.close());

  const ask = (key: string) =>
    dp.openai(key).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });

  it("counts all of a member's keys together, and members apart", async () => {
    const a1 = await dp.newKey({ createdBy: alice });
    const a2 = await dp.newKey({ createdBy: alice });
    const b1 = await dp.newKey({ createdBy: bob });
    await ask(a1);
    await ask(a2);
    const refused = await ask(a1).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(refused instanceof APIError, 'the third call of the minute across alice’s keys is refused');
    assert.equal(refused.status, 429);
    assert.equal((refused.error as { code?: string }).code, 'rate_limited');
    assert.match(refused.message, /user/);
    const fresh = await dp.newKey({ createdBy: alice });
    await assert.rejects(ask(fresh), (err: unknown) => err instanceof APIError && err.status === 429);
    // Bob has his own allowance; a key made by no member is not a member's.
    await ask(b1);
    await ask(dp.key);
    await ask(dp.key);
    await ask(dp.key);
  });

  it('shows the user level in the usage view of a key', async () => {
    const key = await dp.keys.create({ workspaceId: dp.workspaceId, name: 'view', createdBy: bob });
    const usage = await dp.gateway.dataPlane.limits.usage({
      workspaceId: dp.workspaceId,
      key: { id: key.record.id, limits: key.record.limits, userId: bob },
    });
    const row = usage.usage.find((r) => r.scope === 'user');
    assert.ok(row, JSON.stringify(usage.usage));
    assert.equal(row.max, 2);
    assert.equal(row.used, 1, "bob's earlier call counts against him");
  });

  it('GET /members/{userId}/limits shows a member their per-user allowance (Owner or Admin view)', async () => {
    const password = `Pw-${Math.random().toString(36).slice(2)}-${Date.now()}`;
    const { user } = await dp.gateway.identity.bootstrap(
      { email: 'owner@example.com', password, workspace: 'acme' },
      { actor: 'test' },
    );
    const login = await fetch(`${dp.gateway.url}/admin/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'owner@example.com', password }),
    });
    const { accessToken } = (await login.json()) as { accessToken: string };
    const res = await fetch(`${dp.gateway.url}/admin/api/v1/members/${user.id}/limits`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { usage: { scope: string; limit: string; max: number }[] };
    assert.deepEqual(
      body.usage.filter((r) => r.scope === 'user').map((r) => [r.limit, r.max]),
      [['rpm', 2]],
    );
    const missing = await fetch(`${dp.gateway.url}/admin/api/v1/members/usr_CCCCCCCCCCCCCCCCCCCCCC/limits`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    assert.equal(missing.status, 404);
  });

  it('usage aggregates by user: the member who created each key', async () => {
    await dp.gateway.auditing.events.flush();
    const byUser = await aggregateUsage(dp.gateway.store, { workspaceId: dp.workspaceId, by: 'user' });
    const byKey = await aggregateUsage(dp.gateway.store, { workspaceId: dp.workspaceId, by: 'key' });
    const groups = byUser.map((r) => r.group);
    assert.ok(groups.includes(alice) && groups.includes(bob) && groups.includes(''), groups.join(','));
    const total = (rows: { requests: number }[]) => rows.reduce((n, r) => n + r.requests, 0);
    assert.equal(total(byUser), total(byKey));
  });
});
