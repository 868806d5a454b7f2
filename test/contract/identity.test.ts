import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityError } from '../../src/identity/errors.ts';
import { dialects } from '../helpers/identity.ts';
import { FAKE_HASH, openRepos, type RepoEnv, refusedWith } from './identity-helpers.ts';

/**
 * Users and members (src/identity/users.ts, members.ts) over the real store, on SQLite and (with
 * TEST_DATABASE_URL) PostgreSQL: normalised unique emails, TOTP steps and recovery codes used once,
 * and the last-Owner rule. Races run as real concurrent calls: on PostgreSQL they are separate
 * connections, which is where check-then-act bugs show. Invitations and sessions: identity-tokens.test.ts.
 */

for (const d of dialects) {
  describe(`identity users and members on ${d.name}`, { skip: d.skip }, () => {
    let env: RepoEnv;
    let n = 0;

    before(async () => {
      env = await openRepos(d.name);
    });
    after(async () => {
      await env?.close();
    });

    const newUser = (label = 'user') =>
      env.users.create({ email: `${label}${++n}@example.com`, passwordHash: FAKE_HASH });
    const newWorkspace = () => env.workspaces.create(`ws-${d.name}-${++n}`);

    describe('users', () => {
      it('creates a user with a normalised email and finds it by any spelling', async () => {
        const user = await env.users.create({ email: '  Alice.Doe@Example.COM ', passwordHash: FAKE_HASH });
        assert.equal(user.email, 'alice.doe@example.com');
        assert.equal(user.name, 'alice.doe');
        assert.deepEqual([user.mfaEnabled, user.disabled], [false, false]);
        assert.ok(!JSON.stringify(user).includes('argon2'), 'the public shape carries no hash');
        const found = await env.users.findByEmail('ALICE.DOE@example.com  ');
        assert.equal(found?.id, user.id);
        assert.equal(found?.password_hash, FAKE_HASH);
        assert.equal((await env.users.findById(user.id))?.email, 'alice.doe@example.com');
        assert.equal(await env.users.findByEmail('nobody@example.com'), undefined);
      });

      it('refuses a duplicate email whatever its case (user_exists), and bad input', async () => {
        await env.users.create({ email: 'bob@example.com', passwordHash: FAKE_HASH });
        await refusedWith(
          'user_exists',
          env.users.create({ email: 'BOB@Example.com', passwordHash: FAKE_HASH }),
        );
        for (const email of [
          '',
          'bob',
          'bob@localhost',
          'a b@example.com',
          `${'x'.repeat(65)}@example.com`,
        ]) {
          await refusedWith('invalid_user_input', env.users.create({ email, passwordHash: FAKE_HASH }));
        }
        for (const name of ['   ', 'x'.repeat(101), 'line\nbreak', 'bell\u0007']) {
          const err = await refusedWith(
            'invalid_user_input',
            env.users.create({ email: `named${++n}@example.com`, name, passwordHash: FAKE_HASH }),
          );
          assert.equal(err.field, 'name');
        }
      });

      it('refuses a concurrent duplicate with user_exists, never a raw database error', async () => {
        const results = await Promise.allSettled([
          env.users.create({ email: 'race@example.com', passwordHash: FAKE_HASH }),
          env.users.create({ email: 'RACE@example.com', passwordHash: FAKE_HASH }),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        const refused = results.find((r) => r.status === 'rejected');
        assert.ok(refused?.status === 'rejected');
        assert.ok(refused.reason instanceof IdentityError, String(refused.reason));
        assert.equal(refused.reason.code, 'user_exists');
      });

      it('accepts each TOTP step once: the same or an older step is a replay', async () => {
        const user = await newUser();
        await env.users.enableMfa(user.id, 1000);
        assert.equal(await env.users.useTotpStep(user.id, 1000), false, 'the confirming step');
        assert.equal(await env.users.useTotpStep(user.id, 999), false, 'an older step');
        assert.equal(await env.users.useTotpStep(user.id, 1001), true);
        assert.equal(await env.users.useTotpStep(user.id, 1001), false, 'replay');
        const raced = await Promise.all([
          env.users.useTotpStep(user.id, 1002),
          env.users.useTotpStep(user.id, 1002),
          env.users.useTotpStep(user.id, 1002),
        ]);
        assert.equal(raced.filter(Boolean).length, 1, 'exactly one concurrent use wins');
        assert.equal(Number((await env.users.findById(user.id))?.mfa_last_step), 1002);
      });

      it('uses each recovery code once, even concurrently; disabling MFA drops them', async () => {
        const user = await newUser();
        const stranger = await newUser();
        const code = (i: number) => ({ hash: `h${i}`, lookup: `l${i}` });
        await env.users.enableMfa(user.id, 1);
        await env.users.replaceRecoveryCodes(user.id, [code(1), code(2), code(3)]);
        await env.users.replaceRecoveryCodes(stranger.id, [code(9)]);
        const codes = await env.users.unusedRecoveryCodes(user.id);
        assert.deepEqual(codes.map((c) => c.hash).sort(), ['h1', 'h2', 'h3']);

        // The keyed lookup finds the one unused row of this user, never another user's.
        const first = await env.users.findRecoveryCode(user.id, 'l1');
        assert.equal(first?.hash, 'h1');
        assert.equal(await env.users.findRecoveryCode(user.id, 'l9'), undefined, "another user's code");
        assert.equal(await env.users.findRecoveryCode(stranger.id, 'l1'), undefined);
        assert.ok(first);
        assert.equal(await env.users.useRecoveryCode(first.id), true);
        assert.equal(await env.users.useRecoveryCode(first.id), false);
        assert.equal(await env.users.findRecoveryCode(user.id, 'l1'), undefined, 'a used code is not found');

        const second = await env.users.findRecoveryCode(user.id, 'l2');
        assert.ok(second);
        const raced = await Promise.all([
          env.users.useRecoveryCode(second.id),
          env.users.useRecoveryCode(second.id),
        ]);
        assert.deepEqual(raced.filter(Boolean).length, 1, 'exactly one concurrent use wins');
        assert.equal((await env.users.unusedRecoveryCodes(user.id)).length, 1);

        await env.users.replaceRecoveryCodes(user.id, [code(4)]);
        assert.deepEqual(
          (await env.users.unusedRecoveryCodes(user.id)).map((c) => c.hash),
          ['h4'],
          'regenerating replaces every old code, used or not',
        );
        assert.equal(await env.users.findRecoveryCode(user.id, 'l3'), undefined);
        await env.users.disableMfa(user.id);
        assert.deepEqual(await env.users.unusedRecoveryCodes(user.id), []);
        assert.equal((await env.users.unusedRecoveryCodes(stranger.id)).length, 1, "others' codes stay");
        const row = await env.users.findById(user.id);
        assert.deepEqual(
          [row?.mfa_enabled_at, row?.mfa_secret_id, Number(row?.mfa_last_step)],
          [null, null, 0],
        );
      });
    });

    describe('members', () => {
      it('adds, lists and changes roles, refusing to lose the last Owner', async () => {
        const ws = await newWorkspace();
        const owner = await newUser('owner');
        const other = await newUser('member');
        await env.members.add(ws.id, owner.id, 'owner');
        env.clock.advance(1);
        await env.members.add(ws.id, other.id, 'user');
        await refusedWith('member_exists', env.members.add(ws.id, other.id, 'admin'));
        assert.deepEqual(
          (await env.members.list(ws.id)).map((m) => [m.email, m.role]),
          [
            [owner.email, 'owner'],
            [other.email, 'user'],
          ],
        );

        const lastOwner = await refusedWith('last_owner', env.members.changeRole(ws.id, owner.id, 'admin'));
        assert.match(lastOwner.message, /without an Owner/);
        await refusedWith('last_owner', env.members.remove(ws.id, owner.id));
        await refusedWith('member_not_found', env.members.changeRole(ws.id, 'usr_nobody', 'user'));
        await refusedWith('member_not_found', env.members.remove(ws.id, 'usr_nobody'));

        assert.equal(await env.members.changeRole(ws.id, other.id, 'owner'), 'user');
        assert.equal(
          await env.members.changeRole(ws.id, owner.id, 'admin'),
          'owner',
          'two Owners: one may go',
        );
        await refusedWith('last_owner', env.members.remove(ws.id, other.id));
        assert.equal(await env.members.remove(ws.id, owner.id), 'admin');
        assert.deepEqual(
          (await env.members.list(ws.id)).map((m) => [m.userId, m.role]),
          [[other.id, 'owner']],
        );
      });

      it('two concurrent demotions of the two Owners: at most one succeeds, an Owner remains', async () => {
        for (let round = 0; round < 5; round++) {
          const ws = await newWorkspace();
          const a = await newUser('owner-a');
          const b = await newUser('owner-b');
          await env.members.add(ws.id, a.id, 'owner');
          await env.members.add(ws.id, b.id, 'owner');
          // Alternate demote/demote and demote/remove: both paths must hold the workspace lock.
          const results = await Promise.allSettled([
            env.members.changeRole(ws.id, a.id, 'admin'),
            round % 2 === 0 ? env.members.changeRole(ws.id, b.id, 'user') : env.members.remove(ws.id, b.id),
          ]);
          assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}`);
          for (const r of results) {
            if (r.status === 'rejected') {
              assert.ok(r.reason instanceof IdentityError, String(r.reason));
              assert.equal(r.reason.code, 'last_owner');
            }
          }
          const owners = (await env.members.list(ws.id)).filter((m) => m.role === 'owner');
          assert.equal(owners.length, 1, `round ${round}: the workspace keeps exactly one Owner`);
        }
      });

      it('two concurrent adds of one user: one joins, the other gets member_exists', async () => {
        const ws = await newWorkspace();
        const user = await newUser();
        const results = await Promise.allSettled([
          env.members.add(ws.id, user.id, 'user'),
          env.members.add(ws.id, user.id, 'owner'),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        const refused = results.find((r) => r.status === 'rejected');
        assert.ok(refused?.status === 'rejected' && refused.reason instanceof IdentityError, String(refused));
        assert.equal(refused.reason.code, 'member_exists');
        assert.equal((await env.members.list(ws.id)).length, 1);
      });

      it('membershipsOf lists live workspaces only', async () => {
        const user = await newUser();
        const live = await newWorkspace();
        const doomed = await newWorkspace();
        await env.members.add(live.id, user.id, 'admin');
        await env.members.add(doomed.id, user.id, 'owner');
        assert.equal((await env.members.membershipsOf(user.id)).length, 2);
        await env.workspaces.softDelete(doomed.id);
        assert.deepEqual(await env.members.membershipsOf(user.id), [
          { workspaceId: live.id, workspaceName: live.name, role: 'admin' },
        ]);
        assert.deepEqual(await env.members.membershipsOf('usr_nobody'), []);
      });
    });
  });
}
