import { purgeExpiredContent } from '../content/log.ts';
import {
  CONTENT_LOGGING_SETTING,
  type ContentLogging,
  MAX_RETENTION_DAYS,
  OFF,
  validRetention,
} from '../content/settings.ts';
import type { Command } from './context.ts';
import { withLocal } from './local.ts';
import { requireFlag, UsageError } from './usage.ts';

/**
 * Content logging is off unless a workspace opts in (DESIGN.md invariant 1; docs/audit.md "Zero
 * retention"). Opting in and out are audited, in the same transaction as the change.
 */
export const contentLoggingCommand: Command = {
  name: ['workspaces', 'content-logging'],
  summary: 'Opt a workspace in to (or out of) storing redacted prompt and answer text for N days.',
  usage:
    'portcullis workspaces content-logging --workspace W (--enable --retention-days N | --disable) [--config FILE] [--json]',
  options: {
    workspace: { type: 'string' },
    enable: { type: 'boolean', default: false },
    disable: { type: 'boolean', default: false },
    'retention-days': { type: 'string' },
  },
  async run(ctx, values) {
    const workspace = requireFlag(values, 'workspace');
    const enable = values.enable === true;
    if (enable === (values.disable === true))
      throw new UsageError('give exactly one of --enable or --disable');
    let setting: ContentLogging = OFF;
    if (enable) {
      const days = Number(requireFlag(values, 'retention-days'));
      if (!validRetention(days))
        throw new UsageError(`--retention-days must be a whole number from 1 to ${MAX_RETENTION_DAYS}`);
      setting = { enabled: true, retentionDays: days };
    } else if (values['retention-days'] !== undefined) {
      throw new UsageError('--retention-days goes with --enable');
    }
    return withLocal(ctx, async ({ workspaces, audit, auditContext }) => {
      const ws = await workspaces.resolve(workspace);
      await audit.record(
        auditContext,
        (tx) => workspaces.inTx(tx).setSetting(ws.id, CONTENT_LOGGING_SETTING, setting),
        () => ({
          action: enable ? 'workspace.content_logging_enabled' : 'workspace.content_logging_disabled',
          workspaceId: ws.id,
          target: ws.id,
          details: { name: ws.name, ...(enable ? { retentionDays: setting.retentionDays } : {}) },
        }),
      );
      return {
        data: { workspace: ws.id, contentLogging: setting },
        text: enable
          ? `content logging on for "${ws.name}": redacted prompts and answers kept ${setting.retentionDays} day(s) (applies within 5 s)`
          : `content logging off for "${ws.name}" (stored content still expires on schedule; run \`portcullis content purge\`)`,
      };
    });
  },
};

export const contentPurgeCommand: Command = {
  name: ['content', 'purge'],
  summary: 'Delete stored prompt and answer text whose retention has passed (the gateway also does this).',
  usage: 'portcullis content purge [--config FILE] [--json]',
  async run(ctx) {
    return withLocal(ctx, async ({ audit, auditContext, clock }) => {
      const before = clock.now();
      const deleted = await audit.record(
        auditContext,
        (tx) => purgeExpiredContent(tx.db, before),
        (count) => ({ action: 'content.purged', details: { deleted: count, before } }),
      );
      return { data: { deleted, before }, text: `deleted ${deleted} expired content record(s)` };
    });
  },
};

export const CONTENT_COMMANDS: Command[] = [contentLoggingCommand, contentPurgeCommand];
