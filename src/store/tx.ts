import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { Store } from './types.ts';

/**
 * A unit of work that repositories can join: every query goes through `db` (a Kysely transaction,
 * which has the same API as `store.db`), and side effects that must not happen before the data is
 * committed (cache invalidations, revocation broadcasts) are queued with `afterCommit`.
 *
 * Inside a transaction, never touch `store.db`: on SQLite there is one connection, held by the
 * transaction until it ends, so a query on `store.db` would wait for it forever.
 */
export interface Tx {
  readonly db: Kysely<Database>;
  afterCommit(effect: () => unknown): void;
}

/** Runs a side effect now (outside a transaction) or after commit (inside one). */
export type AfterCommit = (effect: () => unknown) => Promise<void> | void;

export const immediately: AfterCommit = async (effect) => {
  await effect();
};

/**
 * Runs `fn` in one transaction (BEGIN IMMEDIATE on SQLite) and, once committed, its queued side
 * effects in order. A side effect that fails is reported to `onEffectError`, never to the caller:
 * the change itself is committed.
 */
export async function transact<T>(
  store: Pick<Store, 'db'>,
  fn: (tx: Tx) => Promise<T>,
  onEffectError: (err: unknown) => void = () => undefined,
): Promise<T> {
  const effects: (() => unknown)[] = [];
  const result = await store.db
    .transaction()
    .execute((trx) => fn({ db: trx, afterCommit: (effect) => void effects.push(effect) }));
  for (const effect of effects) {
    try {
      await effect();
    } catch (err) {
      onEffectError(err);
    }
  }
  return result;
}
