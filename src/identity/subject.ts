import { randomBytes } from 'node:crypto';
import type { AuditContext } from '../audit/events.ts';
import type { AuditLog } from '../audit/log.ts';
import type { Clock } from '../clock.ts';
import type { KeyRepository } from '../keys/repository.ts';
import type { Store } from '../store/types.ts';
import { IdentityError } from './errors.ts';
import { hashPassword } from './password.ts';
import type { IdentityService } from './service.ts';

/**
 * Data-subject requests (GDPR Art. 15 and 17; issue 8 item 7) for one user.
 *
 * Export: everything Portcullis holds about the person — profile, memberships, sessions (address,
 * user agent, times), the API keys they created (masked), their keys' usage by day, and the audit
 * entries in which they are the actor or the target. Never a hash, seed, code or token.
 *
 * Erase: the account becomes a pseudonymous tombstone. Email and name are replaced, the password
 * becomes unusable, MFA seed and recovery codes, sessions and refresh tokens are deleted,
 * memberships are removed (their keys revoked), pending invitations to the address are deleted.
 * The `usr_…` id stays: audit entries and usage records name people only by that id, so they
 * keep their meaning (and the hash chain stays verifiable) without naming anyone. Refused while
 * the person is the last Owner of a workspace (transfer it first).
 */

export interface SubjectExport {
  user: {
    id: string;
    email: string;
    name: string;
    mfaEnabled: boolean;
    disabled: boolean;
    createdAt: number;
  };
  memberships: { workspaceId: string; workspaceName: string; role: string }[];
  sessions: {
    id: string;
    clientIp: string | null;
    userAgent: string | null;
    createdAt: number;
    lastUsedAt: number;
    revokedAt: number | null;
  }[];
  keys: {
    id: string;
    workspaceId: string;
    name: string;
    masked: string;
    status: string;
    createdAt: number;
  }[];
  usage: { day: string; workspaceId: string; requests: number; inputTokens: number; outputTokens: number }[];
  audit: {
    seq: number;
    time: number;
    action: string;
    workspaceId: string | null;
    target: string | null;
    clientIp: string | null;
    userAgent: string | null;
    outcome: string;
  }[];
}

const DAY_MS = 86_400_000;

export async function exportSubject(
  deps: { store: Pick<Store, 'db'>; identity: Pick<IdentityService, 'users' | 'members'> },
  userId: string,
): Promise<SubjectExport> {
  const { db } = deps.store;
  const user = await deps.identity.users.findById(userId);
  if (!user) throw new IdentityError('user_not_found', `no user "${userId}"`);
  const sessions = await db
    .selectFrom('sessions')
    .select(['id', 'client_ip', 'user_agent', 'created_at', 'last_used_at', 'revoked_at'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .execute();
  const keys = await db
    .selectFrom('api_keys')
    .select(['id', 'workspace_id', 'name', 'masked', 'revoked_at', 'deleted_at', 'created_at'])
    .where('created_by', '=', userId)
    .orderBy('created_at')
    .execute();
  const keyIds = keys.map((k) => k.id);
  const usageRows =
    keyIds.length === 0
      ? []
      : await db
          .selectFrom('usage_records')
          .select(['time', 'workspace_id', 'input_tokens', 'output_tokens'])
          .where('key_id', 'in', keyIds)
          .execute();
  const usage = new Map<string, SubjectExport['usage'][number]>();
  for (const r of usageRows) {
    const day = new Date(Math.floor(Number(r.time) / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
    const id = `${day} ${r.workspace_id}`;
    const row = usage.get(id) ?? {
      day,
      workspaceId: r.workspace_id,
      requests: 0,
      inputTokens: 0,
      outputTokens: 0,
    };
    row.requests += 1;
    row.inputTokens += Number(r.input_tokens ?? 0);
    row.outputTokens += Number(r.output_tokens ?? 0);
    usage.set(id, row);
  }
  const audit = await db
    .selectFrom('audit_log')
    .select(['seq', 'time', 'action', 'workspace_id', 'target', 'client_ip', 'user_agent', 'outcome'])
    .where((eb) => eb.or([eb('actor', '=', userId), eb('target', '=', userId)]))
    .orderBy('seq')
    .execute();
  return {
    user: {
      id: user.id,
      email: user.email,
      name: user.name,
      mfaEnabled: user.mfa_enabled_at !== null,
      disabled: user.disabled_at !== null,
      createdAt: Number(user.created_at),
    },
    memberships: (await deps.identity.members.membershipsOf(userId)).map((m) => ({ ...m })),
    sessions: sessions.map((s) => ({
      id: s.id,
      clientIp: s.client_ip,
      userAgent: s.user_agent,
      createdAt: Number(s.created_at),
      lastUsedAt: Number(s.last_used_at),
      revokedAt: s.revoked_at === null ? null : Number(s.revoked_at),
    })),
    keys: keys.map((k) => ({
      id: k.id,
      workspaceId: k.workspace_id,
      name: k.name,
      masked: k.masked,
      status: k.deleted_at !== null ? 'deleted' : k.revoked_at !== null ? 'revoked' : 'active',
      createdAt: Number(k.created_at),
    })),
    usage: [...usage.values()].sort((a, b) => a.day.localeCompare(b.day)),
    audit: audit.map((e) => ({
      seq: Number(e.seq),
      time: Number(e.time),
      action: e.action,
      workspaceId: e.workspace_id,
      target: e.target,
      clientIp: e.client_ip,
      userAgent: e.user_agent,
      outcome: e.outcome,
    })),
  };
}

export async function eraseSubject(
  deps: {
    store: Pick<Store, 'db'>;
    audit: AuditLog;
    clock: Clock;
    identity: Pick<IdentityService, 'users' | 'members'>;
    keys: KeyRepository;
  },
  userId: string,
  context: AuditContext,
): Promise<{ userId: string; memberships: number; revokedKeys: number; sessions: number }> {
  const { clock } = deps;
  const user = await deps.identity.users.findById(userId);
  if (!user) throw new IdentityError('user_not_found', `no user "${userId}"`);
  // An unusable password: a fresh random one nobody ever sees.
  const unusable = await hashPassword(randomBytes(32).toString('base64url'));
  return deps.audit.record(
    context,
    async (tx) => {
      const db = tx.db;
      const memberships = await deps.identity.members.inTx(tx).membershipsOf(userId);
      for (const m of memberships) await deps.identity.members.inTx(tx).remove(m.workspaceId, userId);
      const repo = deps.keys.inTx(tx);
      const keys = await db
        .selectFrom('api_keys')
        .select(['id', 'workspace_id'])
        .where('created_by', '=', userId)
        .where('revoked_at', 'is', null)
        .where('deleted_at', 'is', null)
        .execute();
      for (const k of keys) await repo.revoke(k.id, { workspaceId: k.workspace_id });
      const sessionIds = (
        await db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()
      ).map((s) => s.id);
      if (sessionIds.length > 0) {
        await db.deleteFrom('refresh_tokens').where('session_id', 'in', sessionIds).execute();
        await db.deleteFrom('sessions').where('user_id', '=', userId).execute();
      }
      await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
      if (user.mfa_secret_id !== null)
        await db.deleteFrom('secrets').where('id', '=', user.mfa_secret_id).execute();
      await db.deleteFrom('invitations').where('email', '=', user.email).execute();
      const now = clock.now();
      await db
        .updateTable('users')
        .set({
          email: `erased+${userId.slice(4).toLowerCase()}@invalid`,
          name: 'erased',
          password_hash: unusable,
          mfa_secret_id: null,
          mfa_enabled_at: null,
          disabled_at: now,
          updated_at: now,
        })
        .where('id', '=', userId)
        .execute();
      return {
        userId,
        memberships: memberships.length,
        revokedKeys: keys.length,
        sessions: sessionIds.length,
      };
    },
    (r) => ({
      action: 'user.erased',
      target: userId,
      details: { memberships: r.memberships, revokedKeys: r.revokedKeys, sessions: r.sessions },
    }),
  );
}
