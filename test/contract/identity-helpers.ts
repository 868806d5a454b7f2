import assert from 'node:assert/strict';
import { IdentityError, type IdentityErrorCode } from '../../src/identity/errors.ts';
import { createInvitationRepository, type InvitationRepository } from '../../src/identity/invitations.ts';
import { createMemberRepository, type MemberRepository } from '../../src/identity/members.ts';
import { createSessionStore, type SessionStore } from '../../src/identity/sessions.ts';
import { createUserRepository, type UserRepository } from '../../src/identity/users.ts';
import { type DialectName, type IdentityPlace, openIdentityPlace } from '../helpers/identity.ts';
import { ManualClock } from './keys-helpers.ts';

/**
 * Shared by the identity contract suites (identity.test.ts, identity-tokens.test.ts): the
 * repositories over one isolated store. Password and code hashes are opaque strings to the
 * repositories, so a fake PHC string keeps these suites free of argon2 time; the service suites
 * (test/integration/identity-*.test.ts) use real ones.
 */

export const FAKE_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$dGFnZ2VkdGFnZ2VkdGFnZ2VkdGFnZ2VkdGFn';

export async function refusedWith(code: IdentityErrorCode, p: Promise<unknown>): Promise<IdentityError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof IdentityError, `expected IdentityError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

export interface RepoEnv extends IdentityPlace {
  clock: ManualClock;
  users: UserRepository;
  members: MemberRepository;
  invitations: InvitationRepository;
  sessions: SessionStore;
}

export async function openRepos(dialect: DialectName): Promise<RepoEnv> {
  const clock = new ManualClock();
  const place = await openIdentityPlace(dialect, clock);
  const opts = { store: place.store, clock };
  return {
    ...place,
    clock,
    users: createUserRepository(opts),
    members: createMemberRepository(opts),
    invitations: createInvitationRepository({ ...opts, pepper: place.pepper }),
    sessions: createSessionStore({ ...opts, pepper: place.pepper }),
  };
}
