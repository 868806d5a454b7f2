import type { AuditContext } from './events.ts';
import type { AuditLog } from './log.ts';

/**
 * Retention (`audit.retentionDays`): deletes entries older than the cutoff, always keeping the
 * newest entry. The last deleted position is signed as a checkpoint in the same transaction, so
 * the remaining chain starts from a signed anchor and `audit verify` still proves it whole.
 * Older checkpoints go too; the prune itself is audited.
 */
export interface PruneResult {
  deleted: number;
  /** The last deleted seq (now the signed anchor), or null when nothing was old enough. */
  throughSeq: number | null;
}

export async function pruneAuditLog(
  deps: { audit: AuditLog },
  before: number,
  context: AuditContext,
): Promise<PruneResult> {
  const { audit } = deps;
  return audit.record(
    context,
    async (tx): Promise<PruneResult> => {
      const newest = await tx.db
        .selectFrom('audit_log')
        .select('seq')
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (!newest) return { deleted: 0, throughSeq: null };
      const last = await tx.db
        .selectFrom('audit_log')
        .select(['seq', 'hash'])
        .where('time', '<', before)
        .where('seq', '<', Number(newest.seq))
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (!last) return { deleted: 0, throughSeq: null };
      const through = Number(last.seq);
      await audit.checkpointAt(tx.db, through, last.hash);
      const result = await tx.db.deleteFrom('audit_log').where('seq', '<=', through).executeTakeFirst();
      await tx.db.deleteFrom('audit_checkpoints').where('seq', '<', through).execute();
      return { deleted: Number(result.numDeletedRows), throughSeq: through };
    },
    (result) => ({
      action: 'audit.pruned',
      details: { throughSeq: result.throughSeq, deleted: result.deleted, before },
    }),
  );
}
