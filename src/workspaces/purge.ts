import type { AuditContext } from '../audit/events.ts';
import type { AuditLog, Described } from '../audit/log.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/types.ts';

/**
 * Purges workspaces deleted longer ago than the retention period: their API keys, provider
 * credentials (and the encrypted secrets behind them), aliases, prices, members, invitations,
 * captured content and settings are deleted for good, in one transaction per workspace with its
 * `workspace.purged` audit entry. What stays: the workspace row as a tombstone (so ids in the
 * audit trail and usage records still resolve to "a deleted workspace"), usage records (metadata,
 * no content), and the audit trail itself, which is never purged with a workspace.
 */
export async function purgeDeletedWorkspaces(opts: {
  store: Pick<Store, 'db'>;
  audit: AuditLog;
  clock: Clock;
  retentionDays: number;
  context?: AuditContext;
}): Promise<{ purged: string[] }> {
  const { store, audit, clock } = opts;
  const cutoff = clock.now() - opts.retentionDays * 86_400_000;
  const due = await store.db
    .selectFrom('workspaces')
    .select(['id', 'settings'])
    .where('deleted_at', 'is not', null)
    .where('deleted_at', '<=', cutoff)
    .execute();
  const purged: string[] = [];
  for (const ws of due) {
    if ((JSON.parse(ws.settings) as { purgedAt?: unknown }).purgedAt !== undefined) continue;
    const done = await audit.record(
      opts.context ?? { actor: 'system' },
      async (tx) => {
        const db = tx.db;
        // Claim the workspace first, only if it is still as read above: deleted, past retention and
        // not purged. Another replica purging it at the same time, or a restore since the read,
        // makes this match nothing, and then nothing here is deleted (on PostgreSQL the row lock
        // taken by this update also makes a concurrent purge or restore wait for this one).
        const claimed = await db
          .updateTable('workspaces')
          .set({ settings: JSON.stringify({ purgedAt: clock.now() }), updated_at: clock.now() })
          .where('id', '=', ws.id)
          .where('settings', '=', ws.settings)
          .where('deleted_at', 'is not', null)
          .where('deleted_at', '<=', cutoff)
          .executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) return undefined;
        const count = async (table: 'api_keys' | 'provider_credentials' | 'workspace_members') =>
          Number(
            (
              await db
                .selectFrom(table)
                .select((eb) => eb.fn.countAll<number>().as('n'))
                .where('workspace_id', '=', ws.id)
                .executeTakeFirst()
            )?.n ?? 0,
          );
        const counts = {
          keys: await count('api_keys'),
          credentials: await count('provider_credentials'),
          members: await count('workspace_members'),
        };
        const secretIds = (
          await db
            .selectFrom('provider_credentials')
            .select('secret_id')
            .where('workspace_id', '=', ws.id)
            .execute()
        ).map((r) => r.secret_id);
        await db.deleteFrom('api_keys').where('workspace_id', '=', ws.id).execute();
        await db.deleteFrom('provider_credentials').where('workspace_id', '=', ws.id).execute();
        if (secretIds.length > 0) await db.deleteFrom('secrets').where('id', 'in', secretIds).execute();
        await db.deleteFrom('secrets').where('workspace_id', '=', ws.id).execute();
        await db.deleteFrom('model_aliases').where('workspace_id', '=', ws.id).execute();
        await db.deleteFrom('model_prices').where('workspace_id', '=', ws.id).execute();
        await db.deleteFrom('invitations').where('workspace_id', '=', ws.id).execute();
        await db.deleteFrom('workspace_members').where('workspace_id', '=', ws.id).execute();
        await db.deleteFrom('content_log').where('workspace_id', '=', ws.id).execute();
        return counts;
      },
      (counts): Described[] =>
        counts === undefined
          ? []
          : [{ action: 'workspace.purged', workspaceId: ws.id, target: ws.id, details: counts }],
    );
    if (done !== undefined) purged.push(ws.id);
  }
  return { purged };
}
