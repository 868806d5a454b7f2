import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { totpCodeAt } from '../../src/identity/totp.ts';
import {
  type AdminSuite,
  type Call,
  type Credentials,
  newPassword,
  type Person,
  startAdminSuite,
} from '../helpers/admin-users.ts';

/**
 * The rules around the role matrix (docs/rbac.md), through real HTTP: only Owners touch the Owner
 * role and the last Owner stays; a User grants only data-plane scopes; a workspace that requires
 * MFA refuses members without it; removing a member revokes their keys, and demoting one revokes
 * the keys their new role could not grant (and the invitations it could not send). The matrix
 * itself, cell by cell: admin-rbac.test.ts.
 */

type Role = 'owner' | 'admin' | 'user';

describe('admin API: roles, owners and what membership carries', () => {
  let s: AdminSuite;
  let owner: Person;
  let admin: Person;
  let user: Person;
  let acme: string;
  /** A key the User created. */
  let userKey: { id: string; key: string };
  let n = 0;
  const unique = (prefix: string) => `${prefix}-${++n}-${Date.now().toString(36)}`;
  const as = (who: Role, workspace?: string): Credentials => {
    const p = { owner, admin, user }[who];
    return { token: p.token, workspace: workspace ?? acme };
  };

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
    s = await startAdminSuite('admin_roles');
    acme = s.dp.workspaceId;
    owner = await s.bootstrapOwner(s.email('owner'), newPassword());
    admin = await s.invite(as('owner'), { email: s.email('admin'), role: 'admin', password: newPassword() });
    user = await s.invite(as('owner'), { email: s.email('user'), role: 'user', password: newPassword() });
    const minted = await s.call(as('user'), { method: 'POST', path: '/keys', body: { name: 'users-own' } });
    assert.equal(minted.status, 201, minted.text);
    userKey = { id: minted.body.id, key: minted.body.key };
  });

  after(async () => {
    await s?.close();
  });

  it('only Owners touch the Owner role; an Admin is refused (403), an Owner may', async () => {
    const asAdmin = as('admin');
    const forbidden = async (c: Call, what: string) => {
      const res = await s.call(asAdmin, c);
      assert.equal(res.status, 403, `${what}: ${res.text}`);
      assert.equal(res.body.error.code, 'role_forbidden', what);
    };
    await forbidden(
      { method: 'POST', path: '/members', body: { email: s.email('x-owner'), role: 'owner' } },
      'invite an Owner',
    );
    await forbidden(
      { method: 'PATCH', path: `/members/${user.id}`, body: { role: 'owner' } },
      'promote to Owner',
    );
    await forbidden(
      { method: 'PATCH', path: `/members/${admin.id}`, body: { role: 'owner' } },
      'promote themselves',
    );
    await forbidden(
      { method: 'PATCH', path: `/members/${owner.id}`, body: { role: 'admin' } },
      'demote an Owner',
    );
    await forbidden({ method: 'DELETE', path: `/members/${owner.id}` }, 'remove an Owner');
    const ownerInvite = await s.call(as('owner'), {
      method: 'POST',
      path: '/members',
      body: { email: s.email('pending-owner'), role: 'owner' },
    });
    assert.equal(ownerInvite.status, 201);
    await forbidden(
      { method: 'DELETE', path: `/invitations/${ownerInvite.body.id}` },
      "revoke an Owner's invitation",
    );
    const roles = await s.call(as('owner'), { method: 'GET', path: '/members' });
    const roleOf = (id: string) => roles.body.data.find((m: { userId: string }) => m.userId === id)?.role;
    assert.deepEqual(
      [roleOf(owner.id), roleOf(admin.id), roleOf(user.id)],
      ['owner', 'admin', 'user'],
      'nothing changed',
    );

    // An Admin still manages Admins and Users.
    const demote = await s.call(asAdmin, {
      method: 'PATCH',
      path: `/members/${user.id}`,
      body: { role: 'admin' },
    });
    assert.equal(demote.status, 200, demote.text);
    const back = await s.call(asAdmin, {
      method: 'PATCH',
      path: `/members/${user.id}`,
      body: { role: 'user' },
    });
    assert.equal(back.body.role, 'user');

    // The Owner does it all: a second Owner joins, is demoted, promoted back, and removed.
    const second = await s.invite(as('owner'), {
      email: s.email('second-owner'),
      role: 'owner',
      password: newPassword(),
    });
    const asOwner = as('owner');
    const step = async (c: Call, status: number, what: string) => {
      const res = await s.call(asOwner, c);
      assert.equal(res.status, status, `${what}: ${res.text}`);
      return res;
    };
    assert.equal(
      (await step({ method: 'PATCH', path: `/members/${second.id}`, body: { role: 'admin' } }, 200, 'demote'))
        .body.role,
      'admin',
    );
    assert.equal(
      (
        await step(
          { method: 'PATCH', path: `/members/${second.id}`, body: { role: 'owner' } },
          200,
          'promote',
        )
      ).body.role,
      'owner',
    );
    await step(
      { method: 'DELETE', path: `/invitations/${ownerInvite.body.id}` },
      200,
      "revoke an Owner's invitation",
    );
    await step({ method: 'DELETE', path: `/members/${second.id}` }, 200, 'remove an Owner');
  });

  it('the last Owner can be neither demoted nor removed (409 last_owner)', async () => {
    for (const c of [
      { method: 'PATCH', path: `/members/${owner.id}`, body: { role: 'admin' } },
      { method: 'DELETE', path: `/members/${owner.id}` },
    ] as Call[]) {
      const res = await s.call(as('owner'), c);
      assert.equal(res.status, 409, `${c.method}: ${res.text}`);
      assert.equal(res.body.error.code, 'last_owner');
      assert.match(res.body.error.message, /Owner/);
    }
    const members = await s.call(as('owner'), { method: 'GET', path: '/members' });
    assert.equal(members.body.data.find((m: { userId: string }) => m.userId === owner.id)?.role, 'owner');
  });

  it('a User grants only data-plane scopes: no admin:* key, by creating or by changing one (403, param scopes)', async () => {
    for (const c of [
      { method: 'POST', path: '/keys', body: { name: 'escalate', scopes: ['admin:read'] } },
      { method: 'POST', path: '/keys', body: { name: 'escalate', scopes: ['chat', 'admin:write'] } },
      { method: 'PATCH', path: `/keys/${userKey.id}`, body: { scopes: ['chat', 'admin:write'] } },
    ] as Call[]) {
      const res = await s.call(as('user'), c);
      assert.equal(res.status, 403, `${c.method} ${c.path}: ${res.text}`);
      assert.equal(res.body.error.code, 'role_forbidden');
      assert.equal(res.body.error.param, 'scopes');
    }
    const mine = await s.call(as('user'), { method: 'GET', path: '/keys' });
    assert.ok(
      mine.body.data.every((k: { scopes: string[] }) => !k.scopes.some((sc) => sc.startsWith('admin:'))),
    );
    // Within the data plane a User may narrow their own key.
    const narrow = await s.call(as('user'), {
      method: 'PATCH',
      path: `/keys/${userKey.id}`,
      body: { scopes: ['chat'] },
    });
    assert.equal(narrow.status, 200, narrow.text);
  });

  it('a workspace that requires MFA refuses its members without MFA, and only an enrolled Owner can require it', async () => {
    const scratch = await scratchWorkspace('owner');
    const inScratch = (p: Person): Credentials => ({ token: p.token, workspace: scratch });
    const require = { method: 'PATCH', path: '/workspace', body: { mfaRequired: true } } as const;
    const early = await s.call(inScratch(owner), require);
    assert.equal(early.status, 403, early.text);
    assert.equal(early.body.error.code, 'mfa_enrollment_required', 'the Owner must have MFA first');

    // A fresh Owner login with MFA: enrol, confirm, require.
    const enroll = await s.call(inScratch(owner), {
      method: 'POST',
      path: '/auth/mfa/enroll',
      body: { password: owner.password },
    });
    assert.equal(enroll.status, 200, enroll.text);
    const confirm = await s.call(inScratch(owner), {
      method: 'POST',
      path: '/auth/mfa/confirm',
      body: { code: totpCodeAt(enroll.body.secret, Date.now()) },
    });
    assert.equal(confirm.status, 200, confirm.text);
    const required = await s.call(inScratch(owner), require);
    assert.equal(required.status, 200, required.text);
    assert.equal(required.body.mfaRequired, true);

    // The admin of acme joins the scratch workspace (existing account: its password).
    const invited = await s.call(inScratch(owner), {
      method: 'POST',
      path: '/members',
      body: { email: admin.email, role: 'admin' },
    });
    const joined = await s.call(
      { anonymous: true },
      {
        method: 'POST',
        path: '/auth/invitations/accept',
        body: { token: invited.body.token, password: admin.password },
      },
    );
    assert.equal(joined.status, 200, joined.text);
    for (const c of [
      { method: 'GET', path: '/workspace' },
      { method: 'GET', path: '/keys' },
      { method: 'POST', path: '/keys', body: { name: 'no-mfa' } },
    ] as Call[]) {
      const res = await s.call(inScratch(admin), c);
      assert.equal(res.status, 403, `${c.method} ${c.path}: ${res.text}`);
      assert.equal(res.body.error.code, 'mfa_enrollment_required');
    }
    // Elsewhere, and on their own account, nothing changes.
    assert.equal((await s.call(as('admin'), { method: 'GET', path: '/keys' })).status, 200);
    assert.equal((await s.call(inScratch(admin), { method: 'GET', path: '/auth/me' })).status, 200);
    assert.equal(
      (await s.call(inScratch(owner), { method: 'GET', path: '/keys' })).status,
      200,
      'the enrolled Owner works',
    );
  });

  it('removing a member revokes the keys they created there, at once', async () => {
    const leaver = await s.invite(as('owner'), {
      email: s.email('leaver'),
      role: 'user',
      password: newPassword(),
    });
    const minted = await s.call(
      { token: leaver.token, workspace: acme },
      { method: 'POST', path: '/keys', body: { name: 'leavers' } },
    );
    assert.equal(minted.status, 201);
    const chat = (key: string) =>
      s.dp
        .openai(key)
        .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    assert.ok((await chat(minted.body.key)).choices.length > 0);
    const removed = await s.call(as('admin'), { method: 'DELETE', path: `/members/${leaver.id}` });
    assert.equal(removed.status, 200, removed.text);
    assert.equal(removed.body.revokedKeys, 1);
    await assert.rejects(chat(minted.body.key), (err: { code?: string }) => err.code === 'api_key_revoked');
    // And the former member sees nothing of the workspace any more: it answers like a missing one.
    const gone = await s.call({ token: leaver.token, workspace: acme }, { method: 'GET', path: '/keys' });
    assert.equal(gone.status, 404, gone.text);
  });

  it('invitations are the sender’s authority: a demoted Owner’s Owner invitations and a removed member’s invitations are revoked', async () => {
    const second = await s.invite(as('owner'), {
      email: s.email('owner2'),
      role: 'owner',
      password: newPassword(),
    });
    const asSecond = { token: second.token, workspace: acme };
    const send = async (role: Role, name: string) => {
      const res = await s.call(asSecond, {
        method: 'POST',
        path: '/members',
        body: { email: s.email(name), role },
      });
      assert.equal(res.status, 201, res.text);
      return res.body as { id: string; token: string };
    };
    const ownerInvite = await send('owner', 'future-owner');
    const userInvite = await send('user', 'future-user');
    const demoted = await s.call(as('owner'), {
      method: 'PATCH',
      path: `/members/${second.id}`,
      body: { role: 'admin' },
    });
    assert.equal(demoted.status, 200, demoted.text);
    const pending = async () =>
      (
        (await s.call(as('owner'), { method: 'GET', path: '/invitations' })).body.data as { id: string }[]
      ).map((i) => i.id);
    assert.ok(!(await pending()).includes(ownerInvite.id), 'an Admin could not send it: revoked');
    assert.ok((await pending()).includes(userInvite.id), 'an Admin could: kept');
    const accept = await s.call(
      { anonymous: true },
      {
        method: 'POST',
        path: '/auth/invitations/accept',
        body: { token: ownerInvite.token, password: newPassword() },
      },
    );
    assert.equal(accept.status, 400, accept.text);
    assert.equal(accept.body.error.code, 'invalid_invitation');

    const removed = await s.call(as('owner'), { method: 'DELETE', path: `/members/${second.id}` });
    assert.equal(removed.status, 200, removed.text);
    assert.ok(!(await pending()).includes(userInvite.id), 'a removed member’s invitations go with them');
    const audit = await s.call(as('owner'), {
      method: 'GET',
      path: '/audit?action=member.invitation_revoked&limit=500',
    });
    const targets = (audit.body.data as { target: string }[]).map((e) => e.target);
    assert.ok(targets.includes(ownerInvite.id) && targets.includes(userInvite.id), 'both audited');
  });

  it('an invitation holds only while its sender could still send it, whatever path took that away', async () => {
    const sender = await s.invite(as('owner'), {
      email: s.email('sender'),
      role: 'admin',
      password: newPassword(),
    });
    const sent = await s.call(
      { token: sender.token, workspace: acme },
      { method: 'POST', path: '/members', body: { email: s.email('late-joiner'), role: 'user' } },
    );
    assert.equal(sent.status, 201, sent.text);
    // The membership goes without removeMember (as a data-subject erasure or a race would take it).
    await s.dp.gateway.store.db
      .deleteFrom('workspace_members')
      .where('workspace_id', '=', acme)
      .where('user_id', '=', sender.id)
      .execute();
    const accept = await s.call(
      { anonymous: true },
      {
        method: 'POST',
        path: '/auth/invitations/accept',
        body: { token: sent.body.token, password: newPassword() },
      },
    );
    assert.equal(accept.status, 400, accept.text);
    assert.equal(accept.body.error.code, 'invalid_invitation');
  });

  it('demoting an Admin to User revokes the management keys they minted, and only those', async () => {
    const demoted = await s.invite(as('owner'), {
      email: s.email('demoted'),
      role: 'admin',
      password: newPassword(),
    });
    const mint = async (name: string, scopes: string[]) => {
      const res = await s.call(
        { token: demoted.token, workspace: acme },
        { method: 'POST', path: '/keys', body: { name, scopes } },
      );
      assert.equal(res.status, 201, res.text);
      return res.body as { id: string; key: string };
    };
    const management = await mint('demoted-mgmt', ['admin:read', 'admin:write']);
    const data = await mint('demoted-chat', ['chat']);
    const changed = await s.call(as('owner'), {
      method: 'PATCH',
      path: `/members/${demoted.id}`,
      body: { role: 'user' },
    });
    assert.equal(changed.status, 200, changed.text);
    // Without this, the demoted member kept admin:write through the key, and could invite an Admin.
    const invite = await s.call(
      { key: management.key },
      { method: 'POST', path: '/members', body: { email: s.email('comeback'), role: 'admin' } },
    );
    assert.equal(invite.status, 401, invite.text);
    assert.equal(invite.body.error.code, 'api_key_revoked');
    const chat = await s.dp
      .openai(data.key)
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    assert.ok(chat.choices.length > 0, 'a key the User could have minted stays');
    await s.dp.gateway.auditing.events.flush();
    const audit = await s.call(as('owner'), { method: 'GET', path: '/audit?action=key.revoked&limit=500' });
    assert.ok(
      audit.body.data.some((e: { target: string }) => e.target === management.id),
      'audited',
    );
  });
});
