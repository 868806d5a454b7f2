import { type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Database, UsersTable } from '../store/schema.ts';
import type { Tx } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';
import { IdentityError } from './errors.ts';
import { normalizeEmail, requireEmail } from './roles.ts';

/** A user as every interface shows it: no hash, no seed, no codes. */
export interface User {
  id: string;
  email: string;
  name: string;
  mfaEnabled: boolean;
  disabled: boolean;
  createdAt: number;
}

/** The stored row, for the identity services only (it carries the password hash). */
export type UserRecord = UsersTable;

export interface UserRepository {
  create(input: { email: string; name?: string; passwordHash: string }): Promise<User>;
  findByEmail(email: string): Promise<UserRecord | undefined>;
  findById(id: string): Promise<UserRecord | undefined>;
  /** Every user (instance operators, through the local CLI). */
  list(): Promise<User[]>;
  count(): Promise<number>;
  /**
   * Sets the hash and moves the password stamp (`password_changed_at`) forward — strictly, even
   * within one millisecond, so sessions opened with the old password never carry the new stamp.
   * Returns the new stamp. With `ifStamp`, only when the stamp is still that one (the password the
   * caller verified is still the current one), else changes nothing and returns undefined.
   */
  setPassword(id: string, passwordHash: string, ifStamp?: number): Promise<number | undefined>;
  /** Stores the vault id of a seed awaiting confirmation; MFA stays off until `enableMfa`. */
  setPendingMfa(id: string, secretId: string): Promise<void>;
  enableMfa(id: string, step: number): Promise<void>;
  disableMfa(id: string): Promise<void>;
  /**
   * Records `step` as the last TOTP step used, only if it is newer than the one stored: false means
   * the code was already used (a replay, RFC 6238 §5.2), even when two requests race.
   */
  useTotpStep(id: string, step: number): Promise<boolean>;
  replaceRecoveryCodes(userId: string, codes: readonly { hash: string; lookup: string }[]): Promise<void>;
  unusedRecoveryCodes(userId: string): Promise<{ id: string; hash: string }[]>;
  /** The unused code with this lookup value, if any. */
  findRecoveryCode(userId: string, lookup: string): Promise<{ id: string; hash: string } | undefined>;
  /** Marks one recovery code used, only if it was not: false when another request used it first. */
  useRecoveryCode(id: string): Promise<boolean>;
  setDisabled(id: string, disabled: boolean): Promise<void>;
  inTx(tx: Tx): UserRepository;
}

export function toUser(row: UserRecord): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    mfaEnabled: row.mfa_enabled_at !== null,
    disabled: row.disabled_at !== null,
    createdAt: Number(row.created_at),
  };
}

const NAME_MAX = 100;

export function createUserRepository(
  opts: { store: Pick<Store, 'db'>; clock: Clock },
  db: Kysely<Database> = opts.store.db,
): UserRepository {
  const { clock } = opts;
  const byId = (id: string) => db.selectFrom('users').selectAll().where('id', '=', id);

  return {
    async create(input) {
      const email = requireEmail(input.email);
      const name = (input.name ?? email.split('@')[0] ?? '').trim();
      if (name.length === 0 || name.length > NAME_MAX || /\p{Cc}/u.test(name)) {
        throw new IdentityError('invalid_user_input', `name must be 1-${NAME_MAX} printable characters`, {
          field: 'name',
        });
      }
      const existing = await db
        .selectFrom('users')
        .select('id')
        .where('email', '=', email)
        .executeTakeFirst();
      if (existing)
        throw new IdentityError('user_exists', 'a user with this email exists', { field: 'email' });
      const now = clock.now();
      const row: UserRecord = {
        id: newId('usr'),
        email,
        name,
        password_hash: input.passwordHash,
        password_changed_at: now,
        mfa_secret_id: null,
        mfa_enabled_at: null,
        mfa_last_step: 0,
        disabled_at: null,
        created_at: now,
        updated_at: now,
      };
      // The check above gives the usual answer; this one closes the race between two concurrent
      // creates (the unique index decides, without aborting an enclosing PostgreSQL transaction).
      const inserted = await db
        .insertInto('users')
        .values(row)
        .onConflict((oc) => oc.column('email').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) !== 1)
        throw new IdentityError('user_exists', 'a user with this email exists', { field: 'email' });
      return toUser(row);
    },
    async findByEmail(email) {
      return db.selectFrom('users').selectAll().where('email', '=', normalizeEmail(email)).executeTakeFirst();
    },
    async findById(id) {
      return byId(id).executeTakeFirst();
    },
    async list() {
      const rows = await db.selectFrom('users').selectAll().orderBy('created_at').orderBy('email').execute();
      return rows.map(toUser);
    },
    async count() {
      const row = await db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    },
    async setPassword(id, passwordHash, ifStamp) {
      const now = clock.now();
      const stamp = sql<number>`case when password_changed_at >= ${now} then password_changed_at + 1 else ${now} end`;
      let update = db
        .updateTable('users')
        .set({ password_hash: passwordHash, password_changed_at: stamp, updated_at: now })
        .where('id', '=', id);
      if (ifStamp !== undefined) update = update.where('password_changed_at', '=', ifStamp);
      const result = await update.executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return undefined;
      const row = await db
        .selectFrom('users')
        .select('password_changed_at')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      return Number(row.password_changed_at);
    },
    async setPendingMfa(id, secretId) {
      await db
        .updateTable('users')
        .set({ mfa_secret_id: secretId, mfa_enabled_at: null, updated_at: clock.now() })
        .where('id', '=', id)
        .execute();
    },
    async enableMfa(id, step) {
      const now = clock.now();
      await db
        .updateTable('users')
        .set({ mfa_enabled_at: now, mfa_last_step: step, updated_at: now })
        .where('id', '=', id)
        .execute();
    },
    async disableMfa(id) {
      await db
        .updateTable('users')
        .set({ mfa_secret_id: null, mfa_enabled_at: null, mfa_last_step: 0, updated_at: clock.now() })
        .where('id', '=', id)
        .execute();
      await db.deleteFrom('recovery_codes').where('user_id', '=', id).execute();
    },
    async useTotpStep(id, step) {
      const result = await db
        .updateTable('users')
        .set({ mfa_last_step: step })
        .where('id', '=', id)
        .where('mfa_last_step', '<', step)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    async replaceRecoveryCodes(userId, codes) {
      await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
      const now = clock.now();
      if (codes.length === 0) return;
      await db
        .insertInto('recovery_codes')
        .values(
          codes.map((code) => ({
            id: newId('rcv'),
            user_id: userId,
            code_hash: code.hash,
            lookup: code.lookup,
            created_at: now,
            used_at: null,
          })),
        )
        .execute();
    },
    async findRecoveryCode(userId, lookup) {
      const row = await db
        .selectFrom('recovery_codes')
        .select(['id', 'code_hash'])
        .where('user_id', '=', userId)
        .where('lookup', '=', lookup)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      return row ? { id: row.id, hash: row.code_hash } : undefined;
    },
    async unusedRecoveryCodes(userId) {
      const rows = await db
        .selectFrom('recovery_codes')
        .select(['id', 'code_hash'])
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .execute();
      return rows.map((r) => ({ id: r.id, hash: r.code_hash }));
    },
    async useRecoveryCode(id) {
      const result = await db
        .updateTable('recovery_codes')
        .set({ used_at: clock.now() })
        .where('id', '=', id)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },
    async setDisabled(id, disabled) {
      const now = clock.now();
      await db
        .updateTable('users')
        .set({ disabled_at: disabled ? now : null, updated_at: now })
        .where('id', '=', id)
        .execute();
    },
    inTx: (tx) => createUserRepository(opts, tx.db),
  };
}
