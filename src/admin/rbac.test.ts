import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Scope } from '../keys/types.ts';
import { type ActionRule, ADMIN_ACTIONS, type Grant, grantableScopes, ROLE_MATRIX } from './rbac.ts';
import type { AdminDeps } from './route.ts';
import { adminRoutes } from './routes.ts';

/**
 * docs/rbac.md is the matrix people read; ROLE_MATRIX is the one `can` enforces. Like
 * docs/errors.md and the error catalogue, a test keeps them equal cell for cell, and keeps the
 * "routes" column true: every route declared with an action is listed in that action's row, and
 * every route the page names exists.
 */

const doc = readFileSync(new URL('../../docs/rbac.md', import.meta.url), 'utf8');

interface DocRow {
  rule: ActionRule;
  routes: string[];
}

const GRANTS: readonly Grant[] = ['all', 'own', 'none'];

function grant(cell: string, where: string): Grant {
  assert.ok((GRANTS as readonly string[]).includes(cell), `${where}: "${cell}" is not all, own or none`);
  return cell as Grant;
}

function parseMatrix(markdown: string): Map<string, DocRow> {
  const rows = new Map<string, DocRow>();
  for (const m of markdown.matchAll(/^\| `([a-z]+:[a-z]+)` \|(.*)\|$/gm)) {
    const action = m[1] as string;
    const cells = (m[2] as string).split(' | ').map((c) => c.trim());
    assert.equal(cells.length, 6, `docs/rbac.md row ${action} has 7 columns`);
    const [owner, admin, user, key, what, routes] = cells as [string, string, string, string, string, string];
    assert.ok(!rows.has(action), `docs/rbac.md lists ${action} once`);
    const keyScope = key === '—' ? null : /^`([a-z:]+)`$/.exec(key)?.[1];
    assert.notEqual(keyScope, undefined, `${action}: key column "${key}" is a scope in backticks or —`);
    rows.set(action, {
      rule: {
        owner: grant(owner, `${action} Owner`),
        admin: grant(admin, `${action} Admin`),
        user: grant(user, `${action} User`),
        key: (keyScope ?? null) as Scope | null,
        what,
      },
      routes: [...routes.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^`]*)`/g)].map((r) => `${r[1]} ${r[2]}`),
    });
  }
  return rows;
}

describe('role matrix (docs/rbac.md ↔ ROLE_MATRIX)', () => {
  const rows = parseMatrix(doc);
  const routes = adminRoutes({} as AdminDeps);

  it('has exactly one row per action, in the same order', () => {
    assert.deepEqual([...rows.keys()], ADMIN_ACTIONS);
  });

  it('states every cell exactly as ROLE_MATRIX does', () => {
    for (const action of ADMIN_ACTIONS) {
      const { owner, admin, user, key, what } = ROLE_MATRIX[action];
      assert.deepEqual(
        rows.get(action)?.rule,
        { owner, admin, user, key, what },
        `docs/rbac.md row ${action}`,
      );
    }
  });

  it('lists, for every action, every route declared with it; and names only routes that exist', () => {
    const existing = new Set(routes.map((r) => `${r.method} ${r.path}`));
    for (const r of routes) {
      if (r.action === null) continue;
      assert.ok(
        rows.get(r.action)?.routes.includes(`${r.method} ${r.path}`),
        `docs/rbac.md row ${r.action} names ${r.method} ${r.path}`,
      );
    }
    for (const [action, row] of rows) {
      assert.ok(row.routes.length > 0, `${action} names at least one route`);
      for (const r of row.routes) assert.ok(existing.has(r), `${action}: ${r} is an admin route`);
    }
  });

  it('the parser refuses a malformed table (it is not vacuous)', () => {
    const broken = doc.replace('| `audit:read` | all | all | none |', '| `audit:read` | all | all | al |');
    assert.throws(() => parseMatrix(broken), /"al" is not all, own or none/);
    const changed = parseMatrix(
      doc.replace('| `usage:read` | all | all | own |', '| `usage:read` | all | all | all |'),
    );
    assert.notDeepEqual(changed.get('usage:read')?.rule, ROLE_MATRIX['usage:read']);
  });
});

describe('role matrix invariants', () => {
  it('a management key is never wider than an Admin, and never gets an Owner-only action', () => {
    for (const action of ADMIN_ACTIONS) {
      const rule: ActionRule = ROLE_MATRIX[action];
      if (rule.admin === 'none') assert.equal(rule.key, null, `${action}: Admin cannot, so no key can`);
      if (rule.owner === 'all' && rule.admin === 'none' && rule.user === 'none')
        assert.equal(rule.key, null, `${action} is Owner-only`);
      if (rule.key !== null)
        assert.match(rule.key, /^admin:(read|write)$/, `${action} needs a management scope`);
    }
  });

  it('roles nest: Owner ⊇ Admin ⊇ User, and the Owner may do everything', () => {
    const rank: Record<Grant, number> = { none: 0, own: 1, all: 2 };
    for (const action of ADMIN_ACTIONS) {
      const rule: ActionRule = ROLE_MATRIX[action];
      assert.equal(rule.owner, 'all', `${action}: Owner`);
      assert.ok(rank[rule.admin] >= rank[rule.user], `${action}: Admin ⊇ User`);
    }
  });

  it('reads need admin:read and changes admin:write', () => {
    for (const action of ADMIN_ACTIONS) {
      const rule: ActionRule = ROLE_MATRIX[action];
      if (rule.key === null) continue;
      assert.equal(rule.key, action.endsWith(':read') ? 'admin:read' : 'admin:write', action);
    }
  });

  it('a User grants only data-plane scopes; Admins and Owners any', () => {
    const all = ['chat', 'admin:read'] as const;
    const dataPlane = ['chat'] as const;
    assert.deepEqual(grantableScopes('user', all, dataPlane), dataPlane);
    assert.deepEqual(grantableScopes('admin', all, dataPlane), all);
    assert.deepEqual(grantableScopes('owner', all, dataPlane), all);
  });
});
