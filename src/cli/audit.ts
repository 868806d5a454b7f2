import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { pruneAuditLog } from '../audit/prune.ts';
import { streamAuditEntries } from '../audit/query.ts';
import { storedVerifier, verifierFromPem } from '../audit/signer.ts';
import { createAddressGuard } from '../audit/sinks/egress-address.ts';
import { createHttpsSink, DEFAULT_BATCH_ENTRIES, parseHttpsTarget } from '../audit/sinks/https.ts';
import { type AuditSink, egressRefusal, InvalidSinkTarget } from '../audit/sinks/sink.ts';
import { openSyslogSink, parseSyslogTarget, type SyslogTarget } from '../audit/sinks/syslog.ts';
import { verifyAuditLog } from '../audit/verify.ts';
import { createEgress, type Egress } from '../egress/egress.ts';
import { EgressDeniedError } from '../egress/errors.ts';
import type { Command, CommandContext } from './context.ts';
import { type Local, withLocal } from './local.ts';
import { optionalFlag, UsageError } from './usage.ts';
import { packageVersion } from './version.ts';

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

const EXPORT_USAGE = `portcullis audit export [--workspace W] [--since ISO] [--until ISO] [--action ACTION|family.*]
        [--to https://siem.example.com/ingest [--token-file F | --token-env VAR] [--batch-size N]]
        [--syslog tcp://host:514|udp://host:514|tls://host:6514] [--config FILE] [--json]

  Without --to or --syslog, JSON Lines on stdout (oldest first).
  --to URL       POST the entries as JSON Lines (application/x-ndjson) in batches of --batch-size
                 entries (default ${DEFAULT_BATCH_ENTRIES}) or 1 MiB, retrying 5xx and 429 with backoff (Retry-After honoured).
                 https only; plain http only to localhost, 127.0.0.1 or [::1].
  --token-file F / --token-env VAR
                 a bearer token for --to, read from a file or an environment variable, never from a
                 flag value (shell history and \`ps\` would show it).
  --syslog URL   one RFC 5424 message per entry (facility authpriv, MSGID = the action, MSG = the
                 entry as JSON); TCP and TLS frames are octet-counted (RFC 6587).
  Every sink goes through the egress policy: a private or loopback destination must be listed in
  egress.allow (PORTCULLIS_EGRESS_ALLOW).`;

/** Reads the sink's bearer token from --token-file or --token-env (as credentials.ts reads secrets). */
async function readSinkToken(
  ctx: CommandContext,
  values: Record<string, unknown>,
): Promise<string | undefined> {
  if (values.token !== undefined) {
    throw new UsageError(
      '--token is not accepted: a token on the command line is visible in shell history and `ps`; ' +
        'use --token-file FILE or --token-env VAR (and treat that token as exposed)',
    );
  }
  const file = optionalFlag(values, 'token-file');
  const envName = optionalFlag(values, 'token-env');
  if (file !== undefined && envName !== undefined)
    throw new UsageError('give either --token-file or --token-env, not both');
  let token: string;
  if (file !== undefined) {
    try {
      token = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new Error(`cannot read the token file ${file} (${code})`);
    }
    if (token === '') throw new Error(`the token file ${file} is empty`);
  } else if (envName !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName))
      throw new UsageError('--token-env takes a variable name, e.g. SIEM_TOKEN');
    token = ctx.env[envName]?.trim() ?? '';
    if (token === '') throw new Error(`the environment variable ${envName} is not set or empty`);
  } else {
    return undefined;
  }
  // RFC 6750 §2.1 b64token, loosened to any visible ASCII; a CR or LF would split the header.
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new Error('the bearer token holds spaces or non-ASCII characters; it cannot be sent in a header');
  return token;
}

type SinkChoice =
  | { kind: 'https'; url: URL; token: string | undefined; batchEntries: number }
  | { kind: 'syslog'; target: SyslogTarget };

/** Reads and checks the sink flags before the store is opened; undefined means stdout. */
async function chooseSink(
  ctx: CommandContext,
  values: Record<string, unknown>,
): Promise<SinkChoice | undefined> {
  const to = optionalFlag(values, 'to');
  const syslog = optionalFlag(values, 'syslog');
  const batch = optionalFlag(values, 'batch-size');
  const tokenFlags = ['token-file', 'token-env', 'token'].filter((f) => values[f] !== undefined);
  if (to !== undefined && syslog !== undefined)
    throw new UsageError('give either --to or --syslog, not both');
  if (to === undefined && (tokenFlags.length > 0 || batch !== undefined))
    throw new UsageError(`--${tokenFlags[0] ?? 'batch-size'} goes with --to`);
  try {
    if (to !== undefined) {
      const url = parseHttpsTarget(to);
      if (batch !== undefined && !/^\d+$/.test(batch)) throw new UsageError('--batch-size takes 1 to 10000');
      const batchEntries = batch === undefined ? DEFAULT_BATCH_ENTRIES : Number(batch);
      if (batchEntries < 1 || batchEntries > 10_000) throw new UsageError('--batch-size takes 1 to 10000');
      return { kind: 'https', url, token: await readSinkToken(ctx, values), batchEntries };
    }
    if (syslog !== undefined) return { kind: 'syslog', target: parseSyslogTarget(syslog) };
  } catch (err) {
    if (err instanceof InvalidSinkTarget) throw new UsageError(err.message);
    throw err;
  }
  return undefined;
}

/** Connects the chosen sink through the egress policy; `egress` is closed by the caller. */
async function openSink(
  choice: SinkChoice,
  local: Local,
  egress: Egress,
): Promise<AuditSink & { batches?: number }> {
  if (choice.kind === 'syslog') {
    const guard = createAddressGuard({ allow: local.config.egress.allow, logger: local.logger });
    return openSyslogSink({ target: choice.target, guard, hostname: hostname() });
  }
  // Refused before any entry is read; the dispatcher checks again on the connected address.
  await egress.checkUrl(choice.url.href).catch((err: unknown) => {
    throw err instanceof EgressDeniedError ? egressRefusal(err) : err;
  });
  return createHttpsSink({
    url: choice.url,
    token: choice.token,
    dispatcher: egress.dispatcher,
    userAgent: `portcullis/${packageVersion()}`,
    batchEntries: choice.batchEntries,
  });
}

export const auditExportCommand: Command = {
  name: ['audit', 'export'],
  summary:
    'Stream audit entries as JSON Lines (oldest first), with filters: to stdout, an HTTPS endpoint or syslog.',
  usage: EXPORT_USAGE,
  options: {
    workspace: { type: 'string', short: 'w' },
    since: { type: 'string' },
    until: { type: 'string' },
    action: { type: 'string' },
    to: { type: 'string' },
    syslog: { type: 'string' },
    'token-file': { type: 'string' },
    'token-env': { type: 'string' },
    // Declared only to refuse it with an explanation.
    token: { type: 'string' },
    'batch-size': { type: 'string' },
  },
  async run(ctx, values) {
    const since = parseWhen(optionalFlag(values, 'since'), 'since');
    const until = parseWhen(optionalFlag(values, 'until'), 'until');
    const action = optionalFlag(values, 'action');
    const workspace = optionalFlag(values, 'workspace');
    const choice = await chooseSink(ctx, values);
    return withLocal(ctx, async (local) => {
      const { store, workspaces, audit, auditContext } = local;
      const workspaceId = workspace === undefined ? undefined : (await workspaces.resolve(workspace)).id;
      const filter = { workspaceId, since, until, action };
      // Exports are audited too (who took a copy of the trail, of what, and to which kind of sink);
      // a failed sink export is recorded with what had left before it failed.
      const recordExport = (count: number, outcome: 'success' | 'failure') =>
        audit.record(
          auditContext,
          async () => count,
          (n) => ({
            action: 'audit.exported',
            outcome,
            workspaceId: workspaceId ?? null,
            details: {
              filters: { workspace: workspaceId ?? null, since, until, action },
              count: n,
              ...(choice ? { sink: choice.kind } : {}),
            },
          }),
        );

      if (!choice) {
        let count = 0;
        for await (const entry of streamAuditEntries(store, filter)) {
          ctx.io.stdout(`${JSON.stringify(entry)}\n`);
          count += 1;
        }
        await recordExport(count, 'success');
        // Streamed already: nothing more to print.
        return undefined;
      }

      const egress = createEgress({ allow: local.config.egress.allow, logger: local.logger });
      let sink: (AuditSink & { batches?: number }) | undefined;
      try {
        sink = await openSink(choice, local, egress);
        for await (const entry of streamAuditEntries(store, filter)) await sink.write(entry);
        await sink.end();
      } catch (err) {
        sink?.destroy();
        await recordExport(sink?.delivered ?? 0, 'failure').catch((auditErr: unknown) =>
          local.logger.error({ err: auditErr }, 'could not audit the failed export'),
        );
        throw err;
      } finally {
        await egress.close();
      }
      await recordExport(sink.delivered, 'success');
      const data = {
        sink: sink.kind,
        destination: sink.destination,
        entries: sink.delivered,
        ...(sink.batches === undefined ? {} : { batches: sink.batches }),
      };
      const via = sink.batches === undefined ? '' : ` in ${sink.batches} batch(es)`;
      return {
        data,
        text: `exported ${sink.delivered} audit entries to the ${sink.kind} sink at ${sink.destination}${via}`,
      };
    });
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
