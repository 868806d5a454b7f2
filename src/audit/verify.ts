import type { AuditCheckpointRow, AuditLogRow } from '../store/schema.ts';
import type { Store } from '../store/types.ts';
import { canonicalOf, entryHash, GENESIS_HASH } from './chain.ts';
import type { CheckpointVerifier } from './signer.ts';

/**
 * Verifies the audit chain and its signed checkpoints, and names the FIRST problem by seq:
 *
 * - `edited`     an entry's content no longer matches its hash (or its hash was recomputed, which
 *                breaks the next entry's link);
 * - `deleted`    an entry is missing (a gap in seq, or rows renumbered to close the gap);
 * - `inserted`   an entry that does not belong (the next entry links past it);
 * - `reordered`  entries swapped (an entry links to one that comes after it);
 * - `rewritten`  the chain is self-consistent but disagrees with a signed checkpoint: a range was
 *                rewritten and re-hashed by someone without the signing key;
 * - `bad_checkpoint` a checkpoint whose signature does not verify with the trusted public key;
 * - `truncated`  a checkpoint covers entries that no longer exist (the tail was cut).
 *
 * Entries after the newest checkpoint are hash-checked but not yet signed: reported as a warning.
 */

export type ProblemKind =
  | 'edited'
  | 'deleted'
  | 'inserted'
  | 'reordered'
  | 'rewritten'
  | 'bad_checkpoint'
  | 'truncated';

export interface VerifyProblem {
  seq: number;
  kind: ProblemKind;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  entries: number;
  firstSeq: number | null;
  lastSeq: number | null;
  checkpoints: number;
  lastCheckpointSeq: number | null;
  keyId: string | null;
  problem?: VerifyProblem;
  warnings: string[];
}

const BATCH = 1000;
const LOOKAHEAD = 8;
const RECENT = 10_000;

async function* rows(store: Pick<Store, 'db'>, fromSeq: number): AsyncGenerator<AuditLogRow> {
  let after = fromSeq - 1;
  for (;;) {
    const batch = await store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(BATCH)
      .execute();
    for (const row of batch) yield row;
    const last = batch.at(-1);
    if (!last || batch.length < BATCH) return;
    after = Number(last.seq);
  }
}

async function lookahead(store: Pick<Store, 'db'>, afterSeq: number): Promise<AuditLogRow[]> {
  return store.db
    .selectFrom('audit_log')
    .selectAll()
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(LOOKAHEAD)
    .execute();
}

const hashesAs = (row: AuditLogRow, seq: number) =>
  entryHash(row.prev_hash, canonicalOf(row, seq)) === row.hash;

export async function verifyAuditLog(
  store: Pick<Store, 'db'>,
  verifier: CheckpointVerifier | undefined,
): Promise<VerifyReport> {
  const warnings: string[] = [];
  const problems: VerifyProblem[] = [];

  // Checkpoints first: signatures, and a seq → hash map the chain walk checks against.
  const checkpoints = new Map<number, string>();
  const cpRows: AuditCheckpointRow[] = await store.db
    .selectFrom('audit_checkpoints')
    .selectAll()
    .orderBy('seq')
    .execute();
  for (const cp of cpRows) {
    const seq = Number(cp.seq);
    const claim = { seq, hash: cp.hash, time: Number(cp.time), keyId: cp.key_id };
    if (!verifier?.verify(claim, cp.signature)) {
      problems.push({
        seq,
        kind: 'bad_checkpoint',
        message: verifier
          ? `checkpoint at seq ${seq} has an invalid signature (or a key other than ${verifier.keyId})`
          : `checkpoint at seq ${seq} cannot be verified: no public key`,
      });
      break;
    }
    checkpoints.set(seq, cp.hash);
  }
  const lastCheckpointSeq = cpRows.length > 0 ? Number(cpRows.at(-1)?.seq) : null;

  let entries = 0;
  let firstSeq: number | null = null;
  let prev: { seq: number; hash: string } | undefined;
  let lastSigned = 0;
  const recent = new Map<string, number>();
  const chainProblem = async (row: AuditLogRow): Promise<VerifyProblem | undefined> => {
    const seq = Number(row.seq);
    if (!prev) {
      // The first remaining entry: seq 1 starts from genesis; a later one needs a checkpoint anchor.
      if (seq === 1) {
        prev = { seq: 0, hash: GENESIS_HASH };
      } else {
        const anchor = checkpoints.get(seq - 1);
        if (anchor === undefined) {
          return {
            seq: seq - 1,
            kind: 'deleted',
            message: `the log starts at seq ${seq}, but no signed checkpoint anchors seq ${seq - 1}: entries up to ${seq - 1} were deleted`,
          };
        }
        prev = { seq: seq - 1, hash: anchor };
        lastSigned = seq - 1;
      }
    }
    const expected = prev.seq + 1;
    if (seq > expected) {
      return {
        seq: expected,
        kind: 'deleted',
        message: `entry ${expected} is missing (the next entry is ${seq})`,
      };
    }
    const ownOk = hashesAs(row, seq);
    const linkOk = row.prev_hash === prev.hash;
    if (linkOk && ownOk) return undefined;
    const ahead = await lookahead(store, seq);
    if (linkOk) {
      // An entry whose successor links past it was slipped in, not edited.
      if (ahead[0] && ahead[0].prev_hash === prev.hash && ahead[0].prev_hash !== row.hash) {
        return {
          seq,
          kind: 'inserted',
          message: `entry ${seq} does not belong: the next entry follows ${prev.seq}`,
        };
      }
      return {
        seq,
        kind: 'edited',
        message: `entry ${seq} was changed: its content does not match its hash`,
      };
    }
    // The link is broken: work out what happened around here.
    const earlier = recent.get(row.prev_hash);
    if (earlier !== undefined && earlier < prev.seq) {
      return {
        seq: earlier + 1,
        kind: 'inserted',
        message: `entries ${earlier + 1}-${seq - 1} do not belong: entry ${seq} follows entry ${earlier}`,
      };
    }
    const later = ahead.find((r) => r.hash === row.prev_hash);
    if (later) {
      return {
        seq,
        kind: 'reordered',
        message: `entry ${seq} is out of order: it follows the entry now at seq ${Number(later.seq)}`,
      };
    }
    if (ahead[0] && ahead[0].prev_hash === prev.hash) {
      return {
        seq,
        kind: 'inserted',
        message: `entry ${seq} does not belong: the next entry follows ${prev.seq}`,
      };
    }
    if (hashesAs(row, seq + 1)) {
      return { seq, kind: 'deleted', message: `entry ${seq} was deleted and the later entries renumbered` };
    }
    if (hashesAs(row, seq - 1)) {
      return {
        seq: seq - 1,
        kind: 'inserted',
        message: `an entry was inserted at ${seq - 1} and the later entries renumbered`,
      };
    }
    if (ownOk) {
      return {
        seq: prev.seq,
        kind: 'edited',
        message: `entry ${prev.seq} was changed and its hash recomputed: entry ${seq} no longer links to it`,
      };
    }
    return { seq, kind: 'edited', message: `entry ${seq} was changed: it neither hashes nor links` };
  };

  let chainFailure: VerifyProblem | undefined;
  for await (const row of rows(store, 1)) {
    const problem = await chainProblem(row);
    if (problem) {
      chainFailure = problem;
      break;
    }
    const seq = Number(row.seq);
    firstSeq ??= seq;
    entries += 1;
    const signed = checkpoints.get(seq);
    if (signed !== undefined) {
      if (signed !== row.hash) {
        chainFailure = {
          seq: lastSigned + 1,
          kind: 'rewritten',
          message: `entries ${lastSigned + 1}-${seq} were rewritten: the chain no longer matches the checkpoint signed at ${seq}`,
        };
        break;
      }
      lastSigned = seq;
    }
    prev = { seq, hash: row.hash };
    recent.set(row.hash, seq);
    if (recent.size > RECENT) recent.delete(recent.keys().next().value as string);
  }
  if (chainFailure) problems.push(chainFailure);
  const lastSeq = prev && prev.seq > 0 ? prev.seq : null;
  if (!chainFailure && lastCheckpointSeq !== null && (lastSeq === null || lastCheckpointSeq > lastSeq)) {
    const from = (lastSeq ?? 0) + 1;
    problems.push({
      seq: from,
      kind: 'truncated',
      message: `a checkpoint covers seq ${lastCheckpointSeq}, but the log ends at ${lastSeq ?? 'nothing'}: entries from ${from} were deleted`,
    });
  }
  if (!chainFailure && lastSeq !== null && lastSeq > lastSigned) {
    warnings.push(
      `entries ${lastSigned + 1}-${lastSeq} are hash-chained but not yet covered by a signed checkpoint`,
    );
  }
  problems.sort((a, b) => a.seq - b.seq);
  const problem = problems[0];
  return {
    ok: problem === undefined,
    entries,
    firstSeq,
    lastSeq,
    checkpoints: cpRows.length,
    lastCheckpointSeq,
    keyId: verifier?.keyId ?? null,
    ...(problem ? { problem } : {}),
    warnings,
  };
}
