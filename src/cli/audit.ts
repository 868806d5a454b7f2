import { readFileSync } from 'node:fs';
import { pruneAuditLog } from '../audit/prune.ts';
import { streamAuditEntries } from '../audit/query.ts';
import { storedVerifier, verifierFromPem } from '../audit/signer.ts';
import { verifyAuditLog } from '../audit/verify.ts';
import type { Command } from './context.ts';
import { withLocal } from './local.ts';
import { optionalFlag, UsageError } from './usage.ts';

/** `2025-01-31`, `2025-01-31T12:00:00Z` or epoch ms → epoch ms. */
export function parseWhen(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms))
    throw new UsageError(`--${flag} takes an ISO 8601 date/time or epoch milliseconds`);
  return ms;
}

export const auditVerifyCommand: Command = {
  name: ['audit', 'verify'],
  summary: 'Check the audit chain and its signed checkpoints; name the first tampered entry (exit 1).',
  usage: `portcullis audit verify [--public-key FILE] [--config FILE] [--json]

  --public-key FILE  the PEM from \`portcullis audit public-key\`, kept apart from the database. Without
                     it, the key stored in the database is trusted (which someone able to rewrite the
                     database could have replaced).`,
  options: { 'public-key': { type: 'string' } },
  async run(ctx, values) {
    const file = optionalFlag(values, 'public-key');
    const pinned = file === undefined ? undefined : verifierFromPem(readFileSync(file, 'utf8'));
    return withLocal(ctx, async ({ store }) => {
      const verifier = pinned ?? (await storedVerifier(store));
      const report = await verifyAuditLog(store, verifier);
      if (!pinned)
        report.warnings.push(
          'checkpoints checked with the public key stored in the database; pass --public-key for an independent check',
        );
      const range =
        report.firstSeq === null
          ? 'no entries'
          : `${report.entries} entries (seq ${report.firstSeq}-${report.lastSeq})`;
      const head = report.problem
        ? `audit log FAILED: ${report.problem.kind} at seq ${report.problem.seq}: ${report.problem.message}`
        : `audit log OK: ${range}, ${report.checkpoints} signed checkpoint(s)${report.keyId ? ` (key ${report.keyId})` : ''}`;
      return {
        data: report,
        text: [head, ...report.warnings.map((w) => `warning: ${w}`)].join('\n'),
        exitCode: report.ok ? 0 : 1,
      };
    });
  },
};

export const auditExportCommand: Command = {
  name: ['audit', 'export'],
  summary: 'Stream audit entries as JSON Lines on stdout (oldest first), with filters.',
  usage:
    'portcullis audit export [--workspace W] [--since ISO] [--until ISO] [--action ACTION|family.*] [--config FILE]',
  options: {
    workspace: { type: 'string', short: 'w' },
    since: { type: 'string' },
    until: { type: 'string' },
    action: { type: 'string' },
  },
  async run(ctx, values) {
    const since = parseWhen(optionalFlag(values, 'since'), 'since');
    const until = parseWhen(optionalFlag(values, 'until'), 'until');
    const action = optionalFlag(values, 'action');
    const workspace = optionalFlag(values, 'workspace');
    await withLocal(ctx, async ({ store, workspaces, audit, auditContext }) => {
      const workspaceId = workspace === undefined ? undefined : (await workspaces.resolve(workspace)).id;
      let count = 0;
      for await (const entry of streamAuditEntries(store, { workspaceId, since, until, action })) {
        ctx.io.stdout(`${JSON.stringify(entry)}\n`);
        count += 1;
      }
      // Exports are audited too (who took a copy of the trail, and of what).
      await audit.record(
        auditContext,
        async () => count,
        (n) => ({
          action: 'audit.exported',
          workspaceId: workspaceId ?? null,
          details: { filters: { workspace: workspaceId ?? null, since, until, action }, count: n },
        }),
      );
    });
    // Streamed already: nothing more to print.
    return undefined;
  },
};

export const auditPruneCommand: Command = {
  name: ['audit', 'prune'],
  summary: 'Delete audit entries older than audit.retentionDays (or --before); the rest stays verifiable.',
  usage: 'portcullis audit prune [--before ISO] [--force] [--config FILE] [--json]',
  options: { before: { type: 'string' }, force: { type: 'boolean', default: false } },
  async run(ctx, values) {
    return withLocal(ctx, async ({ store, config, clock, audit, auditContext }) => {
      const explicit = parseWhen(optionalFlag(values, 'before'), 'before');
      const days = config.audit.retentionDays;
      if (explicit === undefined && days === 0) {
        return {
          data: { deleted: 0, throughSeq: null },
          text: 'audit.retentionDays is 0 (keep forever): nothing to prune',
        };
      }
      const before = explicit ?? clock.now() - days * 86_400_000;
      // Pruning re-anchors the chain; never do that over a chain that is already broken.
      const report = await verifyAuditLog(store, await storedVerifier(store));
      if (!report.ok && values.force !== true) {
        throw new Error(
          `the audit log does not verify (${report.problem?.kind} at seq ${report.problem?.seq}); not pruning (--force to prune anyway)`,
        );
      }
      const result = await pruneAuditLog({ audit }, before, auditContext);
      return {
        data: result,
        text:
          result.throughSeq === null
            ? `nothing older than ${new Date(before).toISOString()} to prune`
            : `pruned ${result.deleted} entries through seq ${result.throughSeq} (older than ${new Date(before).toISOString()}); the chain now starts from a signed checkpoint at ${result.throughSeq}`,
      };
    });
  },
};

export const auditPublicKeyCommand: Command = {
  name: ['audit', 'public-key'],
  summary: 'Print the public key (PEM) that verifies audit checkpoints offline.',
  usage: 'portcullis audit public-key [--config FILE] [--json]',
  async run(ctx) {
    return withLocal(ctx, async ({ audit }) => {
      const signer = await audit.signer();
      return {
        data: { keyId: signer.keyId, publicKey: signer.publicKeyPem },
        text: signer.publicKeyPem.trimEnd(),
      };
    });
  },
};

export const auditCheckpointCommand: Command = {
  name: ['audit', 'checkpoint'],
  summary: 'Sign the current head of the audit chain now (the gateway also does this periodically).',
  usage: 'portcullis audit checkpoint [--config FILE] [--json]',
  async run(ctx) {
    return withLocal(ctx, async ({ audit }) => {
      const seq = await audit.checkpoint();
      return {
        data: { seq: seq ?? null },
        text: seq === undefined ? 'the audit log is empty' : `signed checkpoint at seq ${seq}`,
      };
    });
  },
};

export const AUDIT_COMMANDS: Command[] = [
  auditVerifyCommand,
  auditExportCommand,
  auditPruneCommand,
  auditPublicKeyCommand,
  auditCheckpointCommand,
];
