import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/types.ts';
import { openRecord, type RecordBinding, rewrapRecord, type SealedRecord, sealRecord } from './envelope.ts';
import { SecretNotFoundError } from './errors.ts';
import type { MasterKeyRing } from './master-key.ts';

/**
 * The vault: secrets (provider credentials, webhook signing keys, TOTP seeds…) encrypted at rest in
 * the `secrets` table. Callers name what a secret is for (`purpose`); asking for it under another
 * purpose finds nothing, and the purpose is bound into the encryption so a row edit cannot change it.
 */
export interface Vault {
  /** Encrypts and stores; replaces the secret when `id` exists. Returns the id. */
  put(input: PutSecret): Promise<string>;
  /**
   * Encrypts and stores under `input.id` unless a secret with that id exists; true when this call
   * stored it. For secrets generated once per deployment: replicas starting together all keep the
   * first one written (an upsert would let a later writer replace a key others already use).
   */
  putIfAbsent(input: PutSecret & { id: string }): Promise<boolean>;
  /** Decrypts. Throws SecretNotFoundError, or SecretDecryptError (wrong key, tampered or swapped row). */
  get(id: string, purpose: string): Promise<string>;
  /** Returns whether a secret was deleted. */
  delete(id: string): Promise<boolean>;
  /**
   * Re-wraps every data key not under the current master version, in batches of `batchSize`,
   * each batch in its own transaction; ciphertexts are untouched. Safe while serving (each row
   * names its own version, and every configured version can unwrap) and idempotent.
   */
  rotateMaster(options?: { batchSize?: number }): Promise<{ rewrapped: number }>;
  /** The same vault working inside a transaction (src/store/tx.ts), e.g. to commit a secret with its audit entry. */
  inTx(tx: { db: Store['db'] }): Vault;
}

export interface PutSecret {
  id?: string;
  purpose: string;
  workspaceId?: string | null;
  plaintext: string | Buffer;
}

export interface VaultOptions {
  store: Store;
  keys: MasterKeyRing;
  clock: Clock;
}

const DEFAULT_BATCH = 100;

export function createVault({ store, keys, clock }: VaultOptions): Vault {
  const { db } = store;

  async function write(input: PutSecret, ifAbsent: boolean): Promise<{ id: string; inserted: boolean }> {
    const id = input.id ?? `sec_${randomUUID()}`;
    requireName('id', id);
    requireName('purpose', input.purpose);
    const binding: RecordBinding = { id, purpose: input.purpose, workspaceId: input.workspaceId ?? null };
    // A Buffer we made from a string is ours to wipe; a caller's Buffer stays the caller's.
    const owned = typeof input.plaintext === 'string';
    const plaintext =
      typeof input.plaintext === 'string' ? Buffer.from(input.plaintext, 'utf8') : input.plaintext;
    let sealed: SealedRecord;
    try {
      sealed = sealRecord(keys, binding, plaintext);
    } finally {
      if (owned) plaintext.fill(0);
    }
    const now = clock.now();
    const columns = {
      purpose: binding.purpose,
      workspace_id: binding.workspaceId,
      master_key_version: sealed.masterKeyVersion,
      wrapped_key: sealed.wrappedKey,
      ciphertext: sealed.ciphertext,
      updated_at: now,
    };
    const result = await db
      .insertInto('secrets')
      .values({ id, ...columns, created_at: now })
      .onConflict((oc) => (ifAbsent ? oc.column('id').doNothing() : oc.column('id').doUpdateSet(columns)))
      .executeTakeFirst();
    return { id, inserted: Number(result.numInsertedOrUpdatedRows ?? 0n) > 0 };
  }

  const put = async (input: PutSecret): Promise<string> => (await write(input, false)).id;
  const putIfAbsent = async (input: PutSecret & { id: string }): Promise<boolean> =>
    (await write(input, true)).inserted;

  async function get(id: string, purpose: string): Promise<string> {
    const row = await db
      .selectFrom('secrets')
      .select(['id', 'purpose', 'workspace_id', 'master_key_version', 'wrapped_key', 'ciphertext'])
      .where('id', '=', id)
      .executeTakeFirst();
    // A purpose mismatch is reported as absence: a caller must not learn what else an id holds.
    if (!row || row.purpose !== purpose) throw new SecretNotFoundError(id);
    // The caller's purpose, not the column, goes into the AAD: the record must prove it.
    const plaintext = openRecord(keys, { id, purpose, workspaceId: row.workspace_id }, sealedOf(row));
    try {
      return plaintext.toString('utf8');
    } finally {
      plaintext.fill(0);
    }
  }

  async function remove(id: string): Promise<boolean> {
    const result = await db.deleteFrom('secrets').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async function rotateMaster(options: { batchSize?: number } = {}): Promise<{ rewrapped: number }> {
    const batchSize = options.batchSize ?? DEFAULT_BATCH;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError('batchSize must be a positive integer');
    const current = keys.current.version;
    let rewrapped = 0;
    // Keyset pagination by id: every pass moves forward, even past rows a concurrent put replaced.
    let after: string | undefined;
    for (;;) {
      let query = db
        .selectFrom('secrets')
        .select(['id', 'purpose', 'workspace_id', 'master_key_version', 'wrapped_key', 'ciphertext'])
        .where('master_key_version', '!=', current)
        .orderBy('id')
        .limit(batchSize);
      if (after !== undefined) query = query.where('id', '>', after);
      const rows = await query.execute();
      const last = rows.at(-1);
      if (!last) break;
      after = last.id;
      // Crypto outside the transaction keeps it short; the guarded update below makes it safe.
      const updates = rows.map((row) => ({
        row,
        next: rewrapRecord(
          keys,
          { id: row.id, purpose: row.purpose, workspaceId: row.workspace_id },
          sealedOf(row),
        ),
      }));
      const now = clock.now();
      rewrapped += await db.transaction().execute(async (trx) => {
        let n = 0;
        for (const { row, next } of updates) {
          // Only if the row is still what was read: a concurrent put already wrote the current version.
          const result = await trx
            .updateTable('secrets')
            .set({ master_key_version: next.masterKeyVersion, wrapped_key: next.wrappedKey, updated_at: now })
            .where('id', '=', row.id)
            .where('master_key_version', '=', row.master_key_version)
            .where('wrapped_key', '=', row.wrapped_key)
            .executeTakeFirst();
          n += Number(result.numUpdatedRows);
        }
        return n;
      });
    }
    return { rewrapped };
  }

  return {
    put,
    putIfAbsent,
    get,
    delete: remove,
    rotateMaster,
    inTx: (tx) => createVault({ store: { ...store, db: tx.db }, keys, clock }),
  };
}

function sealedOf(row: {
  master_key_version: number | string;
  wrapped_key: string;
  ciphertext: string;
}): SealedRecord {
  return {
    masterKeyVersion: Number(row.master_key_version),
    wrappedKey: row.wrapped_key,
    ciphertext: row.ciphertext,
  };
}

function requireName(what: string, value: string): void {
  // Ids and purposes appear in error messages and logs, so they must be plain, bounded names.
  if (!/^[A-Za-z0-9._:-]{1,200}$/.test(value)) {
    throw new TypeError(`secret ${what} must be 1-200 characters of letters, digits and . _ : -`);
  }
}
