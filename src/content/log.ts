import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Format } from '../dataplane/texts.ts';
import type { Guardrails } from '../guardrails/inspect.ts';
import type { Database } from '../store/schema.ts';
import type { WorkspaceRepository } from '../workspaces/repository.ts';
import { type CapturedCall, type ContentCapture, createContentCapture } from './capture.ts';
import { redactForStorage } from './redact.ts';
import {
  CONTENT_LOGGING_SETTING,
  type ContentLogging,
  DAY_MS,
  OFF,
  parseContentLogging,
} from './settings.ts';

/**
 * Content logging, opt-in per workspace (issue 8 item 5; docs/audit.md "Zero retention"). Off, it
 * costs one cached settings read per call and keeps nothing. On, each call's prompt and answer are
 * redacted (redact.ts) and written to `content_log` with an expiry; a timer in the gateway (and
 * `portcullis content purge`) deletes what has expired.
 */
export interface ContentLog {
  /** A capture for this call when its workspace opted in; undefined otherwise. */
  capture(call: {
    workspaceId: string;
    keyId: string;
    requestId: string;
    model: string;
    endpoint: Format;
    body: Record<string, unknown>;
  }): Promise<ContentCapture | undefined>;
  /** Deletes every row whose retention has passed at `now`; returns how many. */
  purge(now?: number): Promise<number>;
  /** Purges now and then every `purgeEveryMs`. */
  start(): void;
  /** Stops the timer and waits for writes in flight. */
  close(): Promise<void>;
}

export interface ContentLogDeps {
  db: Kysely<Database>;
  clock: Clock;
  logger: Logger;
  guardrails: Guardrails;
  workspaces: WorkspaceRepository;
  /** How long a workspace's setting is trusted (a change from the CLI applies within it). */
  settingCacheMs?: number;
  purgeEveryMs?: number;
}

/** Deletes expired content; also what `portcullis content purge` runs. */
export async function purgeExpiredContent(db: Kysely<Database>, now: number): Promise<number> {
  const result = await db.deleteFrom('content_log').where('expires_at', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export function createContentLog(deps: ContentLogDeps): ContentLog {
  const { db, clock, logger, guardrails, workspaces } = deps;
  const cacheMs = deps.settingCacheMs ?? 5000;
  const cache = new Map<string, { at: number; setting: ContentLogging }>();
  const pending = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;

  const settingOf = async (workspaceId: string): Promise<ContentLogging> => {
    const hit = cache.get(workspaceId);
    if (hit && clock.now() - hit.at < cacheMs) return hit.setting;
    let setting = OFF;
    try {
      setting = parseContentLogging(await workspaces.getSetting(workspaceId, CONTENT_LOGGING_SETTING));
    } catch (err) {
      // Unreadable: keep nothing for this call (the safe direction), and say so.
      logger.warn(
        { err: { name: (err as Error).name }, workspace: workspaceId },
        'content logging setting unreadable',
      );
      return OFF;
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(workspaceId, { at: clock.now(), setting });
    return setting;
  };

  const store = async (
    meta: { workspaceId: string; keyId: string; requestId: string; model: string },
    setting: ContentLogging,
    call: CapturedCall,
  ): Promise<void> => {
    const redacted = redactForStorage(guardrails, [call.prompt, call.answer]);
    if (!redacted) {
      logger.warn({ workspace: meta.workspaceId }, 'content not stored: redaction could not run');
      return;
    }
    const now = clock.now();
    await db
      .insertInto('content_log')
      .values({
        id: `cnt_${randomBytes(16).toString('base64url')}`,
        time: now,
        expires_at: now + setting.retentionDays * DAY_MS,
        workspace_id: meta.workspaceId,
        key_id: meta.keyId,
        request_id: meta.requestId,
        endpoint: call.endpoint,
        model: meta.model,
        status: call.status,
        prompt: redacted[0] ?? '',
        answer: redacted[1] ?? '',
      })
      .execute();
  };

  const purge = async (now = clock.now()): Promise<number> => {
    const deleted = await purgeExpiredContent(db, now);
    if (deleted > 0) logger.info({ deleted }, 'expired content purged');
    return deleted;
  };

  return {
    async capture(call) {
      const setting = await settingOf(call.workspaceId);
      if (!setting.enabled) return undefined;
      const { body, endpoint, ...meta } = call;
      return createContentCapture(endpoint, body, (captured) => {
        const write = store(meta, setting, captured)
          // Only the error's name and code: a driver message could quote a value.
          .catch((err: unknown) => {
            const e = err as { name?: unknown; code?: unknown };
            logger.error({ err: { name: e.name, code: e.code } }, 'storing content failed');
          })
          .finally(() => pending.delete(write));
        pending.add(write);
      });
    },
    purge,
    start() {
      if (timer) return;
      const run = (): void => {
        purge().catch((err: unknown) =>
          logger.error({ err: { name: (err as Error).name } }, 'purging expired content failed'),
        );
      };
      run();
      timer = setInterval(run, deps.purgeEveryMs ?? 10 * 60_000);
      timer.unref();
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await Promise.all([...pending]);
    },
  };
}
