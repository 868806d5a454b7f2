import type { Kysely } from 'kysely';
import type { Dialect } from '../types.ts';
import { millis } from './helpers.ts';

/**
 * Sessions remember which password they were opened with: `password_at` is the user's
 * `password_changed_at` that the login verified against. A session whose stamp is no longer the
 * user's is over — which also ends a login that verified the old password while a change was
 * committing (its session row may land after the change revoked the others). Sessions from before
 * this migration have none and keep the older rule (created before the last change: over).
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('password_at', millis(dialect)).execute();
}
