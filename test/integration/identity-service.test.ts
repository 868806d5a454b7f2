import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AuditContext } from '../../src/audit/events.ts';
import { verifyAuditLog } from '../../src/audit/verify.ts';
import { PortcullisError } from '../../src/errors/catalogue.ts';
import { IdentityError } from '../../src/identity/errors.ts';
import type { LoginResult } from '../../src/identity/service.ts';
import { dumpDatabase, ManualClock } from '../contract/keys-helpers.ts';
import {
  dialects,
  type IdentityPlace,
  type IdentityRig,
  identityRig,
  openIdentityPlace,
} from '../helpers/identity.ts';

/**
 * The identity service (src/identity/service.ts) as the server and CLI wire it (wire.ts), over a
 * real store, vault, pepper, audit log and in-process counters: bootstrap, login and its identical
 * failures, sessions, refresh rotation, password changes, invitations, and the audit trail each
 * change leaves — with no password, token or code stored or logged anywhere.
 * MFA and login throttling through the service: identity-mfa.test.ts.
 */

const MINUTE = 60_000;
export const pw = () => `Pcx-${randomBytes(12).toString('base64url')}`;
const ctx = (ip = '192.0.2.10'): AuditContext => ({
  actor: null,
  clientIp: ip,
  userAgent: 'tests',
  requestId: null,
});

async function refusal(p: Promise<unknown>): Promise<PortcullisError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PortcullisError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

async function identityRefusal(p: Promise<unknown>): Promise<IdentityError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof IdentityError, String(err));
    return err;
  }
  assert.fail('expected an IdentityError');
}

for (const d of dialects) {
  describe(`identity service on ${d.name}`, { skip: d.skip }, () => {
    const clock = new ManualClock();
    let place: IdentityPlace;
    let rig: IdentityRig;
    /** Every secret this suite handled: the last test looks for each in every table and log. */
    const secrets: string[] = [];
    const remember = (r: LoginResult): LoginResult => {
      secrets.push(r.accessToken, r.refreshToken);
      return r;
    };
    let owner: { id: string; email: string; password: string; workspaceId: string };

    before(async () => {
      place = await openIdentityPlace(d.name, clock);
      rig = await identityRig(place, clock, {
        freeFailures: 20,
        ipFreeFailures: 200,
        accountLockAfter: 100,
        ipLockAfter: 1000,
      });
    });
    after(async () => {
      await rig?.flush();
      await place?.close();
    });

    const newUser = async (label: string) => {
      const password = pw();
      secrets.push(password);
      const user = await rig.service.createUser({ email: `${label}@example.com`, password }, ctx());
      return { ...user, password };
    };
    const login = async (email: string, password: string, ip?: string) =>
      remember(await rig.service.login({ email, password }, ctx(ip)));

    it('bootstrap creates the first Owner and workspace once, then refuses', async () => {
      const cli: AuditContext = {
        actor: 'cli:ops',
        clientIp: null,
        userAgent: 'portcullis-cli',
        requestId: null,
      };
      const weak = await identityRefusal(
        rig.service.bootstrap({ email: 'owner@example.com', password: 'short', workspace: 'acme' }, cli),
      );
      assert.deepEqual([weak.code, weak.rule, weak.field], ['weak_password', 'too_short', 'password']);
      const common = await identityRefusal(
        rig.service.bootstrap(
          { email: 'owner@example.com', password: 'password1234', workspace: 'acme' },
          cli,
        ),
      );
      assert.equal(common.rule, 'common');
      const named = await identityRefusal(
        rig.service.bootstrap(
          { email: 'owner@example.com', password: 'my-owner-password', workspace: 'acme' },
          cli,
        ),
      );
      assert.equal(named.rule, 'contains_email');
      assert.equal(await rig.service.users.count(), 0, 'refusals create nothing');

      // Two operators (or two replicas' init jobs) at once: exactly one becomes the first Owner.
      const head = await rig.auditHead();
      const candidates = [
        { email: ' Owner@Example.com', password: pw(), workspace: 'acme' },
        ...[1, 2, 3, 4, 5].map((i) => ({
          email: `rival${i}@example.com`,
          password: pw(),
          workspace: `rival${i}`,
        })),
      ];
      secrets.push(...candidates.map((c) => c.password));
      const raced = await Promise.allSettled(candidates.map((c) => rig.service.bootstrap(c, cli)));
      assert.equal(raced.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one bootstrap wins');
      for (const r of raced) {
        if (r.status === 'rejected') {
          assert.ok(r.reason instanceof IdentityError, String(r.reason));
          assert.equal(r.reason.code, 'user_exists');
        }
      }
      const index = raced.findIndex((r) => r.status === 'fulfilled');
      const won = raced[index];
      const winner = candidates[index];
      assert.ok(won?.status === 'fulfilled' && winner);
      const { user, workspace } = won.value;
      owner = { id: user.id, email: user.email, password: winner.password, workspaceId: workspace.id };
      assert.equal(user.email, winner.email.trim().toLowerCase());
      assert.equal(await rig.service.users.count(), 1);
      assert.deepEqual(
        (await rig.service.members.list(workspace.id)).map((m) => [m.userId, m.role]),
        [[user.id, 'owner']],
      );
      assert.deepEqual(
        (await rig.auditAfter(head)).map((e) => [e.action, e.actor, e.target, e.workspace, e.details]),
        [
          ['user.created', 'cli:ops', user.id, null, {}],
          ['workspace.created', 'cli:ops', workspace.id, workspace.id, { name: winner.workspace }],
          ['member.added', 'cli:ops', user.id, workspace.id, { role: 'owner' }],
        ],
      );

      const again = await identityRefusal(
        rig.service.bootstrap({ email: 'second@example.com', password: pw(), workspace: 'other' }, cli),
      );
      assert.equal(again.code, 'user_exists');
      assert.match(again.message, /initialised already/);
      assert.equal(await rig.service.users.count(), 1);
      for (const name of [
        'other',
        ...candidates.map((c) => c.workspace).filter((w) => w !== winner.workspace),
      ]) {
        assert.equal(await place.workspaces.find(name), undefined, 'nothing of a refused bootstrap stays');
      }
    });

    it('login: right password gets tokens; wrong password and unknown email fail identically', async () => {
      const ok = await login(owner.email.toUpperCase(), owner.password);
      assert.equal(ok.user.id, owner.id);
      assert.ok(ok.accessTokenExpiresAt - clock.now() <= 15 * MINUTE);
      const me = await rig.service.authenticate(ok.accessToken);
      assert.deepEqual([me.user.id, me.session.id, me.amr], [owner.id, ok.sessionId, ['pwd']]);

      const head = await rig.auditHead();
      const timed = async (email: string) => {
        const started = performance.now();
        const err = await refusal(rig.service.login({ email, password: 'Wrong-password-123' }, ctx()));
        return { err, ms: performance.now() - started };
      };
      const wrong = await timed(owner.email);
      const unknown = await timed('nobody-here@example.com');
      for (const { err } of [wrong, unknown]) {
        assert.deepEqual(
          [err.code, err.status, err.message],
          [wrong.err.code, wrong.err.status, wrong.err.message],
        );
        assert.deepEqual(err.headers, wrong.err.headers);
      }
      assert.equal(wrong.err.code, 'invalid_credentials');
      // Both spend one argon2id verification (OWASP Authentication Cheat Sheet); generous bound for CI noise.
      assert.ok(unknown.ms > wrong.ms / 3, `unknown email ${unknown.ms} ms vs wrong password ${wrong.ms} ms`);
      assert.deepEqual(
        (await rig.auditAfter(head)).map((e) => [e.action, e.outcome, e.target, e.details]),
        [
          ['auth.login_failed', 'failure', owner.id, { reason: 'invalid_credentials' }],
          ['auth.login_failed', 'failure', null, { reason: 'invalid_credentials' }],
        ],
      );
    });

    it('refresh rotates; replaying a used refresh token ends the session; logout ends it too', async () => {
      const first = await login(owner.email, owner.password);
      const second = remember(await rig.service.refresh(first.refreshToken, ctx()));
      assert.equal(second.sessionId, first.sessionId);
      assert.notEqual(second.refreshToken, first.refreshToken);
      assert.ok(await rig.service.authenticate(second.accessToken));

      const head = await rig.auditHead();
      const reused = await refusal(rig.service.refresh(first.refreshToken, ctx('203.0.113.66')));
      assert.deepEqual([reused.code, reused.status], ['refresh_token_reused', 401]);
      for (const token of [first.accessToken, second.accessToken]) {
        assert.equal((await refusal(rig.service.authenticate(token))).code, 'invalid_access_token');
      }
      assert.equal(
        (await refusal(rig.service.refresh(second.refreshToken, ctx()))).code,
        'invalid_refresh_token',
      );
      assert.deepEqual(
        (await rig.auditAfter(head)).map((e) => [e.action, e.outcome, e.target]),
        [['auth.refresh_reused', 'denied', first.sessionId]],
      );

      const third = await login(owner.email, owner.password);
      const me = await rig.service.authenticate(third.accessToken);
      await rig.service.logout(me.user, third.sessionId, ctx());
      assert.equal((await refusal(rig.service.authenticate(third.accessToken))).code, 'invalid_access_token');
      assert.equal(
        (await refusal(rig.service.refresh(third.refreshToken, ctx()))).code,
        'invalid_refresh_token',
      );
      for (const junk of ['', 'garbage', 'x'.repeat(5000)]) {
        assert.equal((await refusal(rig.service.authenticate(junk))).code, 'invalid_access_token');
        assert.equal((await refusal(rig.service.refresh(junk, ctx()))).code, 'invalid_refresh_token');
      }
    });

    it('a disabled user cannot log in, and their sessions stop working', async () => {
      const user = await newUser('disabled');
      const session = await login(user.email, user.password);
      await rig.service.users.setDisabled(user.id, true);
      const err = await refusal(rig.service.login({ email: user.email, password: user.password }, ctx()));
      assert.equal(err.code, 'invalid_credentials', 'the same answer as a wrong password');
      assert.equal(
        (await refusal(rig.service.authenticate(session.accessToken))).code,
        'invalid_access_token',
      );
      assert.equal(
        (await refusal(rig.service.refresh(session.refreshToken, ctx()))).code,
        'invalid_refresh_token',
      );
      await rig.service.users.setDisabled(user.id, false);
      assert.ok(await login(user.email, user.password));
    });

    it('changing the password revokes every other session and keeps the current one', async () => {
      const user = await newUser('changer');
      const current = await login(user.email, user.password);
      clock.advance(MINUTE);
      const other = await login(user.email, user.password, '198.51.100.2');
      clock.advance(MINUTE);
      const me = await rig.service.authenticate(current.accessToken);

      const change = (currentPassword: string, newPassword: string) =>
        rig.service.changePassword(me.user, current.sessionId, { currentPassword, newPassword }, ctx());
      assert.equal((await refusal(change('Wrong-password-123', pw()))).code, 'invalid_credentials');
      const weak = await identityRefusal(change(user.password, 'changer-is-me-1'));
      assert.deepEqual([weak.code, weak.rule], ['weak_password', 'contains_email']);

      const newPassword = pw();
      secrets.push(newPassword);
      const head = await rig.auditHead();
      assert.deepEqual(await change(user.password, newPassword), { revokedSessions: 1 });
      assert.deepEqual(
        (await rig.auditAfter(head)).map((e) => [e.action, e.actor, e.target, e.details]),
        [['user.password_changed', user.id, user.id, { revokedSessions: 1 }]],
      );
      assert.equal((await rig.service.authenticate(current.accessToken)).session.id, current.sessionId);
      const refreshed = remember(await rig.service.refresh(current.refreshToken, ctx()));
      assert.ok(await rig.service.authenticate(refreshed.accessToken), 'the kept session goes on');
      assert.equal((await refusal(rig.service.authenticate(other.accessToken))).code, 'invalid_access_token');
      assert.equal(
        (await refusal(rig.service.refresh(other.refreshToken, ctx()))).code,
        'invalid_refresh_token',
      );
      assert.equal(
        (await refusal(rig.service.login({ email: user.email, password: user.password }, ctx()))).code,
        'invalid_credentials',
      );
      assert.ok(await login(user.email, newPassword));
    });

    it('authenticate refuses a live session older than the last password change', async () => {
      const user = await newUser('stale');
      const session = await login(user.email, user.password);
      clock.advance(1000);
      // A password set without revoking sessions (what a bug or a direct write would leave behind).
      const row = await rig.service.users.findById(user.id);
      assert.ok(row);
      await rig.service.users.setPassword(user.id, row.password_hash);
      assert.ok(await rig.service.sessions.findActive(session.sessionId), 'the session itself is live');
      assert.equal(
        (await refusal(rig.service.authenticate(session.accessToken))).code,
        'invalid_access_token',
      );
    });

    it('a login that verified the old password while a change committed gets no usable session', async () => {
      const user = await newUser('racing');
      const newPassword = pw();
      secrets.push(newPassword);
      const cli: AuditContext = { actor: 'cli:ops', clientIp: null, userAgent: null, requestId: null };
      // The race, made deterministic: the login reads the user row, then the change commits (same
      // millisecond: the clock does not move), then the login verifies the old hash it read and
      // opens its session — after the change revoked every session there was.
      const users = rig.service.users;
      const findByEmail = users.findByEmail;
      users.findByEmail = async (email) => {
        users.findByEmail = findByEmail;
        const stale = await findByEmail.call(users, email);
        await rig.service.resetPassword(user.id, newPassword, cli);
        return stale;
      };
      const raced = await login(user.email, user.password);
      assert.equal((await refusal(rig.service.authenticate(raced.accessToken))).code, 'invalid_access_token');
      assert.equal(
        (await refusal(rig.service.refresh(raced.refreshToken, ctx()))).code,
        'invalid_refresh_token',
      );
      // The new password opens a session that works, in the same millisecond.
      const fresh = await login(user.email, newPassword);
      assert.equal((await rig.service.authenticate(fresh.accessToken)).user.id, user.id);
    });

    it('a password change authenticated before an operator reset cannot undo the reset', async () => {
      const user = await newUser('reset-race');
      const session = await login(user.email, user.password);
      // The request authenticated (its user row loaded) before the reset committed.
      const authed = await rig.service.authenticate(session.accessToken);
      const operatorPassword = pw();
      const attackerPassword = pw();
      secrets.push(operatorPassword, attackerPassword);
      const cli: AuditContext = { actor: 'cli:ops', clientIp: null, userAgent: null, requestId: null };
      await rig.service.resetPassword(user.id, operatorPassword, cli);
      const refused = await refusal(
        rig.service.changePassword(
          authed.user,
          authed.session.id,
          { currentPassword: user.password, newPassword: attackerPassword },
          ctx(),
        ),
      );
      assert.equal(refused.code, 'invalid_credentials');
      assert.equal(
        (await refusal(rig.service.login({ email: user.email, password: attackerPassword }, ctx()))).code,
        'invalid_credentials',
      );
      assert.ok(await login(user.email, operatorPassword), 'the reset stands');
    });

    it('resetPassword (operator) ends every session of the user', async () => {
      const user = await newUser('reset');
      const session = await login(user.email, user.password);
      clock.advance(1000);
      const newPassword = pw();
      secrets.push(newPassword);
      const head = await rig.auditHead();
      const cli: AuditContext = { actor: 'cli:ops', clientIp: null, userAgent: null, requestId: null };
      assert.deepEqual(await rig.service.resetPassword(user.id, newPassword, cli), { revokedSessions: 1 });
      assert.equal(
        (await refusal(rig.service.authenticate(session.accessToken))).code,
        'invalid_access_token',
      );
      assert.deepEqual(
        (await rig.auditAfter(head)).map((e) => [e.action, e.actor, e.target]),
        [['user.password_changed', 'cli:ops', user.id]],
      );
      assert.equal(
        (await identityRefusal(rig.service.resetPassword('usr_nobody', pw(), cli))).code,
        'user_not_found',
      );
    });

    it('invitations: accepted once, with a policy-checked password; audited', async () => {
      const actor = { ...ctx(), actor: owner.id };
      const head = await rig.auditHead();
      const { token, invitation } = await rig.service.invite(
        { workspaceId: owner.workspaceId, email: 'Invitee@Example.com', role: 'admin' },
        actor,
      );
      secrets.push(token);
      const dup = await identityRefusal(
        rig.service.invite({ workspaceId: owner.workspaceId, email: owner.email, role: 'user' }, actor),
      );
      assert.equal(dup.code, 'member_exists');

      const weak = await identityRefusal(rig.service.acceptInvitation({ token, password: 'short' }, ctx()));
      assert.equal(weak.code, 'weak_password');
      assert.ok(await rig.service.invitations.findPending(token), 'a refused accept keeps the invitation');
      const password = pw();
      secrets.push(password);
      const joined = await rig.service.acceptInvitation({ token, password, name: 'Invitee' }, ctx());
      assert.deepEqual(
        [joined.user.email, joined.workspaceId, joined.role],
        ['invitee@example.com', owner.workspaceId, 'admin'],
      );
      assert.equal(
        (await refusal(rig.service.acceptInvitation({ token, password }, ctx()))).code,
        'invalid_invitation',
      );
      assert.deepEqual(
        (await rig.auditAfter(head)).map((e) => [e.action, e.actor, e.target, e.workspace, e.details]),
        [
          ['member.invited', owner.id, invitation.id, owner.workspaceId, { role: 'admin' }],
          ['user.created', joined.user.id, joined.user.id, null, {}],
          [
            'member.added',
            joined.user.id,
            joined.user.id,
            owner.workspaceId,
            { role: 'admin', invitation: invitation.id },
          ],
        ],
      );
      assert.ok(await login('invitee@example.com', password));

      // An existing account joins another workspace with its own password, never a new one.
      const ws = await place.workspaces.create('second');
      await rig.service.members.add(ws.id, owner.id, 'owner');
      const again = await rig.service.invite(
        { workspaceId: ws.id, email: 'invitee@example.com', role: 'user' },
        actor,
      );
      secrets.push(again.token);
      const wrong = await refusal(
        rig.service.acceptInvitation({ token: again.token, password: pw() }, ctx()),
      );
      assert.equal(wrong.code, 'invalid_credentials');
      const second = await rig.service.acceptInvitation({ token: again.token, password }, ctx());
      assert.deepEqual([second.user.id, second.role], [joined.user.id, 'user']);
      assert.equal((await rig.service.members.membershipsOf(joined.user.id)).length, 2);
    });

    it('no password, token or code is stored or logged anywhere; the audit chain verifies', async () => {
      await rig.flush();
      assert.ok(secrets.length > 20);
      const dump = await dumpDatabase(place.store);
      const notes = JSON.stringify(rig.notes);
      const logs = place.logs.join('\n');
      for (const secret of secrets) {
        for (const [where, text] of [
          ['database', dump],
          ['audit notes', notes],
          ['logs', logs],
        ] as const) {
          assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 4)}…) is in the ${where}`);
        }
      }
      const report = await verifyAuditLog(place.store, undefined);
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      assert.ok(report.entries >= 15);
    });
  });
}
