import type { Clock } from '../clock.ts';
import type { Tx } from '../store/tx.ts';
import type { Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';

/**
 * A workspace's own model prices, for custom or self-hosted models the maintained table does not
 * know, or to override it. Integer micro-dollars per million tokens (1 USD/Mtok = 1,000,000).
 */
export interface ModelPrice {
  workspaceId: string;
  model: string;
  inputMicrosPerMtok: number;
  outputMicrosPerMtok: number;
  updatedAt: number;
}

export interface PriceRepository {
  /** Creates or replaces the price of `model` in a workspace. */
  set(price: Omit<ModelPrice, 'updatedAt'>): Promise<ModelPrice>;
  list(workspaceId: string): Promise<ModelPrice[]>;
  remove(workspaceId: string, model: string): Promise<boolean>;
  /** The same repository inside `tx` (src/store/tx.ts), so a change commits with its audit entry. */
  inTx(tx: Tx): PriceRepository;
}

/** The most a price may be: $1,000,000 per million tokens keeps every product below 2^53. */
export const MAX_MICROS_PER_MTOK = 1_000_000_000_000;

export function createPriceRepository({
  store,
  clock,
}: {
  store: Pick<Store, 'db'>;
  clock: Clock;
}): PriceRepository {
  const { db } = store;
  return {
    inTx: (tx) => createPriceRepository({ store: tx, clock }),
    async set(price) {
      for (const v of [price.inputMicrosPerMtok, price.outputMicrosPerMtok]) {
        if (!Number.isSafeInteger(v) || v < 0 || v > MAX_MICROS_PER_MTOK)
          throw new RangeError('a price must be from 0 to 1,000,000 USD per million tokens');
      }
      if (price.model.length === 0 || price.model.length > 256)
        throw new RangeError('a model name is 1-256 characters');
      const now = clock.now();
      const existing = await db
        .selectFrom('model_prices')
        .select('id')
        .where('workspace_id', '=', price.workspaceId)
        .where('model', '=', price.model)
        .executeTakeFirst();
      const values = {
        input_micros_per_mtok: price.inputMicrosPerMtok,
        output_micros_per_mtok: price.outputMicrosPerMtok,
        updated_at: now,
      };
      if (existing) {
        await db.updateTable('model_prices').set(values).where('id', '=', existing.id).execute();
      } else {
        await db
          .insertInto('model_prices')
          .values({
            id: newId('prc'),
            workspace_id: price.workspaceId,
            model: price.model,
            created_at: now,
            ...values,
          })
          .execute();
      }
      return { ...price, updatedAt: now };
    },
    async list(workspaceId) {
      const rows = await db
        .selectFrom('model_prices')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .orderBy('model')
        .execute();
      return rows.map((r) => ({
        workspaceId: r.workspace_id,
        model: r.model,
        inputMicrosPerMtok: Number(r.input_micros_per_mtok),
        outputMicrosPerMtok: Number(r.output_micros_per_mtok),
        updatedAt: Number(r.updated_at),
      }));
    },
    async remove(workspaceId, model) {
      const result = await db
        .deleteFrom('model_prices')
        .where('workspace_id', '=', workspaceId)
        .where('model', '=', model)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}
