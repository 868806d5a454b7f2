import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_ACTIONS, type AdminAction, ROLE_MATRIX } from '../../src/admin/rbac.ts';
import { DATA_PLANE_SCOPES, type Scope } from '../../src/keys/types.ts';
import {
  type AdminSuite,
  type Answer,
  type Call,
  type Credentials,
  newPassword,
  type Person,
  startAdminSuite,
} from '../helpers/admin-users.ts';

/**
 * Every cell of the role matrix (docs/rbac.md, src/admin/rbac.ts) through real HTTP: for each
 * action, a representative route called as an Owner, an Admin and a User (user sessions) and as
 * an `admin:read` and an `admin:write` management key. What each answer must be is computed from
 * ROLE_MATRIX itself, so an action added to the matrix without a probe here fails, and a cell
 * changed in the matrix without the code following fails too. The rules around the matrix (the
 * Owner role, the last Owner, what a User may grant, MFA-required workspaces, keys revoked with
 * membership) are admin-roles.test.ts.
 */

type Role = 'owner' | 'admin' | 'user';
type Who = Role | 'admin:read key' | 'admin:write key';
const WHO: readonly Who[] = ['owner', 'admin', 'user', 'admin:read key', 'admin:write key'];
/** The management keys hold the data-plane scopes too, so the no-escalation rule (tested in admin-api) never masks a cell. */
const KEY_SCOPES: Record<'admin:read key' | 'admin:write key', Scope[]> = {
  'admin:read key': ['admin:read', ...DATA_PLANE_SCOPES],
  'admin:write key': ['admin:write', ...DATA_PLANE_SCOPES],
};

type Expected =
  | { allowed: true; own: boolean }
  | {
      allowed: false;
      code: 'role_forbidden' | 'insufficient_scope' | 'user_session_required';
      action: AdminAction;
    };

/** What `can` must answer, from the matrix: the route's own action first (function level), then the cell's. */
function expected(who: Who, actions: readonly AdminAction[]): Expected {
  let own = false;
  for (const action of actions) {
    const rule = ROLE_MATRIX[action];
    if (who === 'admin:read key' || who === 'admin:write key') {
      if (rule.key === null) return { allowed: false, code: 'user_session_required', action };
      if (!KEY_SCOPES[who].includes(rule.key)) return { allowed: false, code: 'insufficient_scope', action };
    } else {
      const grant = rule[who];
      if (grant === 'none') return { allowed: false, code: 'role_forbidden', action };
      if (grant === 'own') own = true;
    }
  }
  return { allowed: true, own };
}

/** A route that exercises one action. */
interface Probe {
  /** The action the route is declared with, when the cell's action is checked inside it. */
  gate?: AdminAction;
  /** `others`: an object some other member created; `own`: one the caller created. */
  call(object: 'others' | 'own'): Call;
  /** The route acts on one object, so a User's `own` grant is tested on another member's too (404). */
  perObject?: boolean;
  /** Destructive when allowed: an allowed caller runs it in a scratch workspace of its own. */
  scratch?: boolean;
}

describe('admin API: the role matrix, cell by cell', () => {
  let s: AdminSuite;
  let owner: Person;
  let admin: Person;
  let user: Person;
  const keys = {} as Record<'admin:read key' | 'admin:write key', string>;
  let acme: string;
  /** A key the User created (with its raw secret), and one the Owner created. */
  let userKey: { id: string; key: string };
  let ownerKey: { id: string; key: string };
  let n = 0;
  const unique = (prefix: string) => `${prefix}-${++n}-${Date.now().toString(36)}`;

  const as = (who: Who, workspace?: string): Credentials => {
    if (who === 'admin:read key' || who === 'admin:write key') return { key: keys[who] };
    const p = { owner, admin, user }[who];
    return { token: p.token, workspace: workspace ?? acme };
  };

  const PROBES: Record<AdminAction, Probe> = {
    'workspace:read': { call: () => ({ method: 'GET', path: '/workspace' }) },
    'workspace:write': { call: () => ({ method: 'PATCH', path: '/workspace', body: { name: 'acme' } }) },
    'workspace:delete': { scratch: true, call: () => ({ method: 'DELETE', path: '/workspace' }) },
    'workspace:security': {
      gate: 'workspace:write',
      call: () => ({ method: 'PATCH', path: '/workspace', body: { mfaRequired: false } }),
    },
    'members:read': { call: () => ({ method: 'GET', path: '/members' }) },
    'members:write': {
      call: () => ({
        method: 'POST',
        path: '/members',
        body: { email: s.email(unique('m')), role: 'user' },
      }),
    },
    'owners:write': {
      gate: 'members:write',
      call: () => ({
        method: 'POST',
        path: '/members',
        body: { email: s.email(unique('o')), role: 'owner' },
      }),
    },
    'keys:read': {
      perObject: true,
      call: (object) => ({ method: 'GET', path: `/keys/${object === 'own' ? userKey.id : ownerKey.id}` }),
    },
    'keys:write': {
      perObject: true,
      call: (object) => ({
        method: 'PATCH',
        path: `/keys/${object === 'own' ? userKey.id : ownerKey.id}`,
        body: { name: unique('renamed') },
      }),
    },
    'credentials:read': { call: () => ({ method: 'GET', path: '/credentials/openai-main' }) },
    'credentials:write': {
      call: () => ({ method: 'PATCH', path: '/credentials/anthropic-main', body: { models: ['claude-*'] } }),
    },
    'aliases:read': { call: () => ({ method: 'GET', path: '/aliases' }) },
    'aliases:write': {
      call: () => ({
        method: 'PUT',
        path: '/aliases/rbac',
        body: { targets: [{ credential: 'openai-main', model: 'gpt-4o' }] },
      }),
    },
    'guardrails:read': { call: () => ({ method: 'GET', path: '/guardrails' }) },
    'guardrails:write': { call: () => ({ method: 'PUT', path: '/guardrails', body: {} }) },
    'limits:read': { call: () => ({ method: 'GET', path: '/limits' }) },
    'limits:write': { call: () => ({ method: 'PUT', path: '/limits', body: { rpm: 100_000 } }) },
    'budgets:write': {
      gate: 'limits:write',
      scratch: true,
      // A new amount every time: only a change of the budget needs budgets:write.
      call: () => ({
        method: 'PUT',
        path: '/limits',
        body: { rpm: 100_000, budgetUsd: ++n, budgetWindow: 'month' },
      }),
    },
    'audit:read': { call: () => ({ method: 'GET', path: '/audit?limit=5' }) },
    'usage:read': { call: () => ({ method: 'GET', path: '/usage?by=key' }) },
  };

  function check(answer: Answer, want: Expected, label: string): void {
    if (want.allowed) {
      assert.ok(
        answer.status >= 200 && answer.status < 300,
        `${label}: allowed, got ${answer.status} ${answer.text}`,
      );
      return;
    }
    assert.equal(answer.status, 403, `${label}: ${answer.text}`);
    assert.equal(answer.body.error.code, want.code, label);
    assert.equal(answer.body.error.type, 'permission_error', label);
    // The refusal names what was refused (the action of the cell that refused, in words).
    const rule = ROLE_MATRIX[want.action];
    const named = want.code === 'insufficient_scope' ? (rule.key ?? '') : rule.what;
    assert.ok(
      answer.body.error.message.toLowerCase().includes(named.toLowerCase()),
      `${label}: ${answer.body.error.message}`,
    );
  }

  async function scratchWorkspace(who: Role): Promise<string> {
    const created = await s.call(as(who), {
      method: 'POST',
      path: '/workspaces',
      body: { name: unique('scratch') },
    });
    assert.equal(created.status, 201, created.text);
    return created.body.id;
  }

  before(async () => {
    s = await startAdminSuite('admin_rbac');
    acme = s.dp.workspaceId;
    owner = await s.bootstrapOwner(s.email('owner'), newPassword());
    admin = await s.invite(
      { token: owner.token },
      { email: s.email('admin'), role: 'admin', password: newPassword() },
    );
    user = await s.invite(
      { token: owner.token },
      { email: s.email('user'), role: 'user', password: newPassword() },
    );
    for (const who of ['admin:read key', 'admin:write key'] as const) {
      keys[who] = await s.dp.newKey({ name: who.replace(/[: ]/g, '-'), scopes: KEY_SCOPES[who] });
    }
    const mint = async (p: Person, name: string) => {
      const res = await s.call(
        { token: p.token, workspace: acme },
        { method: 'POST', path: '/keys', body: { name } },
      );
      assert.equal(res.status, 201, res.text);
      return { id: res.body.id as string, key: res.body.key as string };
    };
    userKey = await mint(user, 'users-own');
    ownerKey = await mint(owner, 'owners-own');
  });

  after(async () => {
    await s?.close();
  });

  it('has a probe for every action in ROLE_MATRIX', () => {
    const missing = ADMIN_ACTIONS.filter((a) => PROBES[a] === undefined);
    assert.deepEqual(missing, [], 'add a representative route to PROBES for each new action');
  });

  for (const action of ADMIN_ACTIONS) {
    it(`${action}: ${WHO.join(', ')}`, async () => {
      const probe = PROBES[action];
      assert.ok(probe, `no probe for ${action}`);
      const chain = probe.gate && probe.gate !== action ? [probe.gate, action] : [action];
      for (const who of WHO) {
        const want = expected(who, chain);
        const label = `${action} as ${who}`;
        if (want.allowed && probe.scratch && (who === 'owner' || who === 'admin' || who === 'user')) {
          const scratch = await scratchWorkspace(who);
          check(await s.call(as(who, scratch), probe.call('others')), want, `${label} (scratch workspace)`);
          continue;
        }
        if (want.allowed && want.own) {
          check(await s.call(as(who), probe.call('own')), want, `${label}, on their own`);
          if (probe.perObject) {
            const other = await s.call(as(who), probe.call('others'));
            assert.equal(other.status, 404, `${label}, on another member's: ${other.text}`);
            assert.equal(other.body.error.code, 'resource_not_found');
          }
          continue;
        }
        check(await s.call(as(who), probe.call('others')), want, label);
      }
    });
  }

  it("'own' at collection level: a User lists only their own keys and reads only their own usage", async () => {
    for (const [key, model] of [
      [userKey.key, 'gpt-4o'],
      [ownerKey.key, 'gpt-4o-mini'],
    ] as const) {
      const done = await s.dp
        .openai(key)
        .chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] });
      assert.ok(done.choices.length > 0);
    }
    await s.dp.gateway.auditing.events.flush();
    const groups = async (who: Who, path: string, field: string) =>
      ((await s.call(as(who), { method: 'GET', path })).body.data as Record<string, string>[]).map(
        (r) => r[field],
      );

    assert.deepEqual(await groups('user', '/keys', 'id'), [userKey.id]);
    const all = await groups('owner', '/keys', 'id');
    assert.ok(all.includes(userKey.id) && all.includes(ownerKey.id));

    assert.deepEqual(await groups('user', '/usage?by=key', 'group'), [userKey.id]);
    const usage = await groups('admin', '/usage?by=key', 'group');
    assert.ok(usage.includes(userKey.id) && usage.includes(ownerKey.id), 'an Admin reads everyone’s');
  });
});
