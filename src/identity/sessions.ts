import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Database, SessionsTable } from '../store/schema.ts';
import type { Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';
import { hashOpaqueToken, newOpaqueToken } from './opaque-tokens.ts';

/**
 * Login sessions and their refresh tokens (OAuth 2.0 Security BCP, RFC 9700 §4.14.2): every use
 * of a refresh token rotates it, and presenting an already-rotated token again is treated as theft
 * — the whole family (the session) is revoked, which also ends the access tokens issued under it,
 * because access tokens name their session and the session is checked on every request.
 */

export interface Session {
  id: string;
  userId: string;
  /** Authentication methods used at login (RFC 8176): `pwd`, `otp`. */
  amr: string[];
  clientIp: string | null;
  userAgent: string | null;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
  /** The user's password stamp (`password_changed_at`) the session was opened with; null for old rows. */
  passwordAt: number | null;
}

export type RotateOutcome =
  | { ok: true; session: Session; refreshToken: string }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'reused'; session: Session };

export interface SessionStore {
  create(input: {
    userId: string;
    amr: string[];
    clientIp: string | null;
    userAgent: string | null;
    ttlMs: number;
    /** The password stamp of the user record whose password the login verified. */
    passwordAt: number;
  }): Promise<{ session: Session; refreshToken: string }>;
  /** Exchanges a refresh token for a new one; a reuse revokes the session before answering. */
  rotate(refreshToken: string): Promise<RotateOutcome>;
  /** The session if it is live (not revoked, not expired). */
  findActive(id: string): Promise<Session | undefined>;
  listActive(userId: string): Promise<Session[]>;
  /** Revokes one session of the user; false when there was no such live session. */
  revoke(userId: string, sessionId: string, reason: string): Promise<boolean>;
  /** Revokes every live session of the user except `keep`; returns how many. */
  revokeAll(userId: string, reason: string, keep?: string): Promise<number>;
}

function toSession(row: SessionsTable): Session {
  return {
    id: row.id,
    userId: row.user_id,
    amr: JSON.parse(row.amr) as string[],
    clientIp: row.client_ip,
    userAgent: row.user_agent,
    createdAt: Number(row.created_at),
    lastUsedAt: Number(row.last_used_at),
    expiresAt: Number(row.expires_at),
    passwordAt: row.password_at === null ? null : Number(row.password_at),
  };
}

export function createSessionStore(opts: {
  store: Pick<Store, 'db'>;
  clock: Clock;
  pepper: KeyObject;
}): SessionStore {
  const { store, clock, pepper } = opts;

  async function issue(db: Kysely<Database>, sessionId: string): Promise<string> {
    const token = newOpaqueToken('refresh');
    const hash = hashOpaqueToken(pepper, 'refresh', token);
    if (hash === undefined) throw new Error('a new refresh token failed its own shape check');
    await db
      .insertInto('refresh_tokens')
      .values({ token_hash: hash, session_id: sessionId, created_at: clock.now(), used_at: null })
      .execute();
    return token;
  }

  const live = (db: Kysely<Database>, now: number) =>
    db.selectFrom('sessions').selectAll().where('revoked_at', 'is', null).where('expires_at', '>', now);

  async function revokeWhere(
    db: Kysely<Database>,
    where: { userId: string; sessionId?: string; keep?: string },
    reason: string,
  ): Promise<number> {
    const now = clock.now();
    let query = db
      .updateTable('sessions')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('user_id', '=', where.userId)
      .where('revoked_at', 'is', null);
    if (where.sessionId !== undefined) query = query.where('id', '=', where.sessionId);
    if (where.keep !== undefined) query = query.where('id', '!=', where.keep);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  return {
    async create(input) {
      const now = clock.now();
      const row: SessionsTable = {
        id: newId('ses'),
        user_id: input.userId,
        amr: JSON.stringify(input.amr),
        client_ip: input.clientIp,
        user_agent: input.userAgent?.slice(0, 256) ?? null,
        created_at: now,
        last_used_at: now,
        expires_at: now + input.ttlMs,
        revoked_at: null,
        revoked_reason: null,
        password_at: input.passwordAt,
      };
      return store.db.transaction().execute(async (trx) => {
        await trx.insertInto('sessions').values(row).execute();
        return { session: toSession(row), refreshToken: await issue(trx, row.id) };
      });
    },

    async rotate(refreshToken) {
      const hash = hashOpaqueToken(pepper, 'refresh', refreshToken);
      if (hash === undefined) return { ok: false, reason: 'invalid' };
      return store.db.transaction().execute(async (trx): Promise<RotateOutcome> => {
        const now = clock.now();
        const token = await trx
          .selectFrom('refresh_tokens')
          .select(['session_id', 'used_at'])
          .where('token_hash', '=', hash)
          .executeTakeFirst();
        if (!token) return { ok: false, reason: 'invalid' };
        const row = await live(trx, now).where('id', '=', token.session_id).executeTakeFirst();
        if (!row) return { ok: false, reason: 'invalid' };
        // Conditional: of two requests racing with the same token, exactly one wins; the other is a reuse.
        const claimed =
          token.used_at === null
            ? await trx
                .updateTable('refresh_tokens')
                .set({ used_at: now })
                .where('token_hash', '=', hash)
                .where('used_at', 'is', null)
                .executeTakeFirst()
            : undefined;
        if (claimed === undefined || Number(claimed.numUpdatedRows) !== 1) {
          await revokeWhere(trx, { userId: row.user_id, sessionId: row.id }, 'refresh_token_reused');
          return { ok: false, reason: 'reused', session: toSession(row) };
        }
        await trx.updateTable('sessions').set({ last_used_at: now }).where('id', '=', row.id).execute();
        return {
          ok: true,
          session: toSession({ ...row, last_used_at: now }),
          refreshToken: await issue(trx, row.id),
        };
      });
    },

    async findActive(id) {
      const row = await live(store.db, clock.now()).where('id', '=', id).executeTakeFirst();
      return row ? toSession(row) : undefined;
    },

    async listActive(userId) {
      const rows = await live(store.db, clock.now())
        .where('user_id', '=', userId)
        .orderBy('created_at', 'desc')
        .execute();
      return rows.map(toSession);
    },

    async revoke(userId, sessionId, reason) {
      return (await revokeWhere(store.db, { userId, sessionId }, reason)) > 0;
    },

    async revokeAll(userId, reason, keep) {
      return revokeWhere(store.db, { userId, keep }, reason);
    },
  };
}
