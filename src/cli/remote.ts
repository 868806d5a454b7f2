import { readFile } from 'node:fs/promises';
import type { CommandContext } from './context.ts';
import { optionalFlag, UsageError } from './usage.ts';

/**
 * Remote mode (DESIGN.md "Interfaces"): with `--url`, a command talks to a gateway's admin API
 * instead of opening the store, authenticated by a user access token or a management API key read
 * from `--token-file F` or the PORTCULLIS_TOKEN environment variable — never from a flag value,
 * which would land in shell history and `ps`. The server applies the same role checks as for any
 * other client; the CLI only carries requests and prints answers.
 */
export const REMOTE_OPTIONS = {
  url: { type: 'string' },
  'token-file': { type: 'string' },
  workspace: { type: 'string' },
} as const;

export const REMOTE_USAGE = `Remote: --url https://gateway.example.com with --token-file F (or PORTCULLIS_TOKEN): a user access
  token (portcullis login) or a management API key; --workspace names the workspace (id or name).`;

export interface Remote {
  call(method: string, path: string, body?: unknown): Promise<unknown>;
}

export class RemoteError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'RemoteError';
    this.code = code;
  }
}

export function isRemote(values: Record<string, unknown>): boolean {
  return typeof values.url === 'string';
}

async function token(ctx: CommandContext, values: Record<string, unknown>): Promise<string | undefined> {
  const file = optionalFlag(values, 'token-file');
  if (file !== undefined) return (await readFile(file, 'utf8')).trim();
  const env = ctx.env.PORTCULLIS_TOKEN?.trim();
  return env === '' ? undefined : env;
}

/** A client for the admin API at --url; `auth: false` for login and accepting an invitation. */
export async function openRemote(
  ctx: CommandContext,
  values: Record<string, unknown>,
  options: { auth?: boolean } = {},
): Promise<Remote> {
  const url = optionalFlag(values, 'url');
  if (url === undefined) throw new UsageError('--url is required for remote commands');
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new UsageError(`--url "${url}" is not a URL`);
  }
  if (base.protocol !== 'https:' && !['localhost', '127.0.0.1', '[::1]'].includes(base.hostname)) {
    throw new UsageError(
      '--url must be https:// (plain http only to localhost): tokens would cross the network in clear',
    );
  }
  const bearer = options.auth === false ? undefined : await token(ctx, values);
  if (options.auth !== false && bearer === undefined) {
    throw new UsageError('a token is required: --token-file F or PORTCULLIS_TOKEN (see `portcullis login`)');
  }
  const workspace = optionalFlag(values, 'workspace');
  const root = `${base.origin}${base.pathname.replace(/\/$/, '')}/admin/api/v1`;
  return {
    async call(method, path, body) {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
      if (workspace !== undefined) headers['x-portcullis-workspace'] = workspace;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(root + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'error',
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        throw new RemoteError(
          'remote_failed',
          `the gateway answered ${res.status} with a body that is not JSON`,
        );
      }
      if (!res.ok) {
        const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
        throw new RemoteError(
          typeof error?.code === 'string' ? error.code : 'remote_failed',
          typeof error?.message === 'string' ? error.message : `the gateway answered ${res.status}`,
        );
      }
      return parsed;
    },
  };
}
