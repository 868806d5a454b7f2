import type { Store } from '../store/types.ts';
import { type AuditEntry, toEntry } from './chain.ts';

/** Filters shared by `portcullis audit export` and `GET /admin/api/v1/audit`. */
export interface AuditFilter {
  workspaceId?: string;
  action?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  /** Only entries with a larger seq (keyset pagination). */
  afterSeq?: number;
}

/** One page of entries in seq order. */
export async function listAuditEntries(
  store: Pick<Store, 'db'>,
  filter: AuditFilter,
  limit: number,
): Promise<AuditEntry[]> {
  let query = store.db.selectFrom('audit_log').selectAll();
  if (filter.workspaceId !== undefined) query = query.where('workspace_id', '=', filter.workspaceId);
  if (filter.action !== undefined) {
    // `key.*` selects a family of actions.
    query = filter.action.endsWith('.*')
      ? query.where('action', 'like', `${filter.action.slice(0, -1).replace(/[%_]/g, '')}%`)
      : query.where('action', '=', filter.action);
  }
  if (filter.since !== undefined) query = query.where('time', '>=', filter.since);
  if (filter.until !== undefined) query = query.where('time', '<', filter.until);
  if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq);
  const rows = await query.orderBy('seq').limit(limit).execute();
  return rows.map(toEntry);
}

/** Every matching entry, in seq order, read in pages so memory stays flat for any log size. */
export async function* streamAuditEntries(
  store: Pick<Store, 'db'>,
  filter: AuditFilter,
  pageSize = 1000,
): AsyncGenerator<AuditEntry> {
  let afterSeq = filter.afterSeq;
  for (;;) {
    const page = await listAuditEntries(store, { ...filter, afterSeq }, pageSize);
    for (const entry of page) yield entry;
    if (page.length < pageSize) return;
    afterSeq = page.at(-1)?.seq;
  }
}
