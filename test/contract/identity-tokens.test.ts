import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityError } from '../../src/identity/errors.ts';
import { INVITATION_TTL_MS } from '../../src/identity/invitations.ts';
import { newOpaqueToken } from '../../src/identity/opaque-tokens.ts';
import { dialects } from '../helpers/identity.ts';
import { FAKE_HASH, openRepos, type RepoEnv } from './identity-helpers.ts';
import { dumpDatabase } from './keys-helpers.ts';

/**
 * Invitations and login sessions (src/identity/invitations.ts, sessions.ts) over the real store, on
 * SQLite and (with TEST_DATABASE_URL) PostgreSQL: one-time invitation tokens, refresh-token rotation
 * with reuse detection (RFC 9700 §4.14.2), concurrent rotation, expiry, and tokens stored only as
 * keyed hashes.
 */

const HOUR = 3_600_000;

for (const d of dialects) {
  describe(`identity invitations and sessions on ${d.name}`, { skip: d.skip }, () => {
    let env: RepoEnv;
    let n = 0;
    /** Every raw token this suite saw: none may appear anywhere in the database. */
    const rawTokens: string[] = [];

    before(async () => {
      env = await openRepos(d.name);
    });
    after(async () => {
      await env?.close();
    });

    const newUser = (label = 'user') =>
      env.users.create({ email: `${label}${++n}@example.com`, passwordHash: FAKE_HASH });
    const newWorkspace = () => env.workspaces.create(`ws-${d.name}-${++n}`);

    describe('invitations', () => {
      it('finds a pending invitation by its token and accepts it once', async () => {
        const ws = await newWorkspace();
        const inviter = await newUser('inviter');
        const { invitation, token } = await env.invitations.create({
          workspaceId: ws.id,
          email: ' New.Person@Example.com',
          role: 'admin',
          invitedBy: inviter.id,
        });
        rawTokens.push(token);
        assert.match(token, /^pci_[A-Za-z0-9_-]{43}$/);
        assert.equal(invitation.email, 'new.person@example.com');
        assert.equal(invitation.expiresAt - invitation.createdAt, INVITATION_TTL_MS);
        assert.equal((await env.invitations.findPending(token))?.id, invitation.id);
        assert.deepEqual(
          (await env.invitations.listPending(ws.id)).map((i) => i.id),
          [invitation.id],
        );
        for (const wrong of [
          '',
          'pci_short',
          token.replace('pci_', 'pcr_'),
          newOpaqueToken('invite'),
          `${token} `,
        ]) {
          assert.equal(await env.invitations.findPending(wrong), undefined);
        }
        const raced = await Promise.all([
          env.invitations.markAccepted(invitation.id),
          env.invitations.markAccepted(invitation.id),
        ]);
        assert.equal(raced.filter(Boolean).length, 1, 'accepted exactly once');
        assert.equal(await env.invitations.markAccepted(invitation.id), false);
        assert.equal(await env.invitations.findPending(token), undefined);
        assert.deepEqual(await env.invitations.listPending(ws.id), []);
        await assert.rejects(
          env.invitations.create({
            workspaceId: ws.id,
            email: 'not-an-email',
            role: 'user',
            invitedBy: inviter.id,
          }),
          (err) => err instanceof IdentityError && err.code === 'invalid_user_input',
        );
      });

      it('an expired or revoked invitation is not found and cannot be accepted', async () => {
        const ws = await newWorkspace();
        const other = await newWorkspace();
        const create = () =>
          env.invitations.create({
            workspaceId: ws.id,
            email: `inv${++n}@example.com`,
            role: 'user',
            invitedBy: 'usr_x',
          });
        const revoked = await create();
        rawTokens.push(revoked.token);
        assert.equal(
          await env.invitations.revoke(other.id, revoked.invitation.id),
          undefined,
          'other workspace',
        );
        assert.equal((await env.invitations.revoke(ws.id, revoked.invitation.id))?.id, revoked.invitation.id);
        assert.equal(await env.invitations.revoke(ws.id, revoked.invitation.id), undefined, 'only once');
        assert.equal(await env.invitations.findPending(revoked.token), undefined);
        assert.equal(await env.invitations.markAccepted(revoked.invitation.id), false);

        const expiring = await create();
        rawTokens.push(expiring.token);
        env.clock.advance(INVITATION_TTL_MS - 1);
        assert.ok(await env.invitations.findPending(expiring.token), 'valid until the last millisecond');
        env.clock.advance(1);
        assert.equal(await env.invitations.findPending(expiring.token), undefined);
        assert.equal(await env.invitations.markAccepted(expiring.invitation.id), false);
        assert.equal(await env.invitations.revoke(ws.id, expiring.invitation.id), undefined);
        assert.deepEqual(await env.invitations.listPending(ws.id), []);
      });
    });

    describe('sessions', () => {
      const newSession = async (userId: string, ttlMs = HOUR) => {
        const created = await env.sessions.create({
          userId,
          amr: ['pwd'],
          clientIp: '203.0.113.7',
          userAgent: 'x'.repeat(300),
          ttlMs,
          passwordAt: 1,
        });
        rawTokens.push(created.refreshToken);
        return created;
      };

      it('rotates the refresh token on use; presenting the old one again revokes the session', async () => {
        const user = await newUser();
        const { session, refreshToken } = await newSession(user.id);
        assert.match(refreshToken, /^pcr_[A-Za-z0-9_-]{43}$/);
        assert.equal(session.userAgent?.length, 256, 'user agent is bounded');
        assert.deepEqual((await env.sessions.findActive(session.id))?.amr, ['pwd']);

        env.clock.advance(1000);
        const first = await env.sessions.rotate(refreshToken);
        assert.ok(first.ok);
        rawTokens.push(first.refreshToken);
        assert.notEqual(first.refreshToken, refreshToken);
        assert.equal(first.session.id, session.id);
        assert.equal(first.session.lastUsedAt, env.clock.now());
        const second = await env.sessions.rotate(first.refreshToken);
        assert.ok(second.ok);
        rawTokens.push(second.refreshToken);

        const reuse = await env.sessions.rotate(refreshToken);
        assert.equal(reuse.ok, false);
        assert.equal(!reuse.ok && reuse.reason, 'reused');
        assert.equal(await env.sessions.findActive(session.id), undefined, 'the family is revoked');
        const latest = await env.sessions.rotate(second.refreshToken);
        assert.deepEqual(latest, { ok: false, reason: 'invalid' }, 'even the newest token is dead');
      });

      it('of two concurrent rotations of one token exactly one wins', async () => {
        const user = await newUser();
        const { session, refreshToken } = await newSession(user.id);
        const results = await Promise.all([
          env.sessions.rotate(refreshToken),
          env.sessions.rotate(refreshToken),
        ]);
        for (const r of results) if (r.ok) rawTokens.push(r.refreshToken);
        assert.equal(results.filter((r) => r.ok).length, 1);
        const loser = results.find((r) => !r.ok);
        assert.equal(loser && !loser.ok && loser.reason, 'reused');
        assert.equal(await env.sessions.findActive(session.id), undefined, 'a reuse ends the session');
      });

      it('an expired session is invalid; garbage tokens are invalid', async () => {
        const user = await newUser();
        const { session, refreshToken } = await newSession(user.id, 60_000);
        env.clock.advance(60_000);
        assert.equal(await env.sessions.findActive(session.id), undefined);
        assert.deepEqual(await env.sessions.listActive(user.id), []);
        assert.deepEqual(await env.sessions.rotate(refreshToken), { ok: false, reason: 'invalid' });
        for (const junk of [
          '',
          'pcr_',
          newOpaqueToken('refresh'),
          newOpaqueToken('invite'),
          'x'.repeat(5000),
        ]) {
          assert.deepEqual(await env.sessions.rotate(junk), { ok: false, reason: 'invalid' });
        }
      });

      it('revokes one session of its own user, or all but the one kept', async () => {
        const user = await newUser();
        const stranger = await newUser();
        const s1 = await newSession(user.id);
        env.clock.advance(1);
        const s2 = await newSession(user.id);
        env.clock.advance(1);
        const s3 = await newSession(user.id);
        const theirs = await newSession(stranger.id);
        assert.deepEqual(
          (await env.sessions.listActive(user.id)).map((s) => s.id),
          [s3.session.id, s2.session.id, s1.session.id],
        );
        assert.equal(
          await env.sessions.revoke(stranger.id, s1.session.id, 'x'),
          false,
          "another user's session",
        );
        assert.equal(await env.sessions.revoke(user.id, s1.session.id, 'logout'), true);
        assert.equal(await env.sessions.revoke(user.id, s1.session.id, 'logout'), false, 'only once');
        assert.equal(await env.sessions.revokeAll(user.id, 'password_changed', s2.session.id), 1);
        assert.deepEqual(
          (await env.sessions.listActive(user.id)).map((s) => s.id),
          [s2.session.id],
        );
        assert.ok((await env.sessions.rotate(s2.refreshToken)).ok, 'the kept session still refreshes');
        assert.ok(await env.sessions.findActive(theirs.session.id), "other users' sessions untouched");
        assert.equal(await env.sessions.revokeAll(user.id, 'admin'), 1);
        assert.deepEqual(await env.sessions.listActive(user.id), []);
      });
    });

    it('no raw refresh or invitation token appears anywhere in the database', async () => {
      assert.ok(rawTokens.length >= 10);
      const dump = await dumpDatabase(env.store);
      for (const token of rawTokens) {
        assert.ok(!dump.includes(token), 'a raw token is stored');
        // Nor its random part without the prefix (e.g. stored in another encoding of the same bytes).
        assert.ok(!dump.includes(token.slice(4)), 'a raw token body is stored');
      }
    });
  });
}
