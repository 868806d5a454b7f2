import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { WORKSPACE_HEADER } from '../../src/admin/auth.ts';
import { type DataPlaneFixture, startDataPlane } from './dataplane.ts';
import { isolatedSchema } from './postgres.ts';

/**
 * People on a real gateway, for the admin API's role and OWASP suites: a gateway (SQLite and
 * in-process counters, or PostgreSQL and Redis when TEST_DATABASE_URL and TEST_REDIS_URL are set),
 * its first Owner, logins, invitations, and an HTTP client that records every answer so a suite
 * can check at the end that no secret leaked.
 *
 * Every request comes from a made-up client IP (X-Forwarded-For through a trusted loopback
 * proxy): login throttling counts per client IP in the shared counters, and on Redis those
 * counters outlive the run, so two runs (or two suites) must never share an address.
 */

export const BASE = '/admin/api/v1';

export interface Answer {
  method: string;
  path: string;
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are inspected field by field in assertions
  body: any;
  text: string;
}

/** Who sends a request: a user's access token (in a workspace), an API key, or nobody. */
export type Credentials =
  | { token: string; workspace?: string | null }
  | { key: string }
  | { anonymous: true }
  | { authorization: string; workspace?: string | null };

export interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Relative to /admin/api/v1. */
  path: string;
  body?: unknown;
  /** For user tokens: the x-portcullis-workspace header (id or name); null sends none. */
  workspace?: string | null;
  /** A client IP other than the suite's own. */
  clientIp?: string;
}

export interface Person {
  id: string;
  email: string;
  password: string;
  token: string;
  refreshToken: string;
  sessionId: string;
}

export interface AdminSuite {
  dp: DataPlaneFixture;
  /** Every answer the suite received, in order. */
  answers: Answer[];
  /** This run's client IP (see above). */
  clientIp: string;
  /** Every password the suite made or typed, right or wrong: none may be in an answer or a log. */
  passwords: string[];
  /** A new policy-passing password, remembered in `passwords`. */
  password(): string;
  /**
   * An email address unique to this run: login throttling counts per account in the shared
   * counters, which on Redis outlive the run, so a lock from a previous run must not carry over.
   */
  email(name: string): string;
  call(who: Credentials, call: Call): Promise<Answer>;
  login(email: string, password: string, extra?: { code?: string; clientIp?: string }): Promise<Answer>;
  /** Logs in and returns the person (asserting success). */
  person(email: string, password: string, code?: string): Promise<Person>;
  /** The first Owner of `acme` (bootstrap), logged in. */
  bootstrapOwner(email: string, password: string): Promise<Person>;
  /** Invites through `inviter` into `workspace` and accepts: a new user with that role, logged in. */
  invite(
    inviter: Credentials,
    input: { email: string; role: 'owner' | 'admin' | 'user'; password: string; workspace?: string },
  ): Promise<Person>;
  close(): Promise<void>;
}

/** A password that passes the policy, different every time (never in a log or an answer). */
export function newPassword(): string {
  return `Pw-${randomBytes(12).toString('base64url')}`;
}

export function randomIp(): string {
  return `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
}

export async function startAdminSuite(label: string, env: Record<string, string> = {}): Promise<AdminSuite> {
  const pgUrl = process.env.TEST_DATABASE_URL;
  const redisUrl = process.env.TEST_REDIS_URL;
  const serviceEnv: Record<string, string> = {};
  let dropSchema: (() => Promise<void>) | undefined;
  if (pgUrl && redisUrl) {
    const schema = await isolatedSchema(pgUrl, label);
    dropSchema = schema.drop;
    serviceEnv.PORTCULLIS_DATABASE_URL = schema.url;
    serviceEnv.PORTCULLIS_REDIS_URL = redisUrl;
    serviceEnv.PORTCULLIS_MASTER_KEY = randomBytes(32).toString('base64');
  }
  const dp = await startDataPlane({ PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1', ...serviceEnv, ...env });
  if (dropSchema) {
    assert.equal(dp.gateway.store.dialect, 'postgres');
    assert.equal(dp.gateway.counters.kind, 'redis');
  }
  const clientIp = randomIp();
  const answers: Answer[] = [];
  const passwords: string[] = [];
  const tag = randomBytes(4).toString('hex');

  async function call(who: Credentials, c: Call): Promise<Answer> {
    const headers: Record<string, string> = { 'x-forwarded-for': c.clientIp ?? clientIp };
    if ('token' in who || 'authorization' in who) {
      headers.authorization = 'token' in who ? `Bearer ${who.token}` : who.authorization;
      const workspace = c.workspace !== undefined ? c.workspace : who.workspace;
      if (workspace !== undefined && workspace !== null) headers[WORKSPACE_HEADER] = workspace;
    } else if ('key' in who) {
      headers.authorization = `Bearer ${who.key}`;
    }
    if (c.body !== undefined) headers['content-type'] = 'application/json';
    // Whatever password is sent, right, wrong or weak, is looked for later in answers and logs.
    if (typeof c.body === 'object' && c.body !== null) {
      for (const field of ['password', 'currentPassword', 'newPassword']) {
        const value = (c.body as Record<string, unknown>)[field];
        if (typeof value === 'string' && !passwords.includes(value)) passwords.push(value);
      }
    }
    const res = await fetch(`${dp.gateway.url}${BASE}${c.path}`, {
      method: c.method,
      headers,
      body: c.body === undefined ? undefined : JSON.stringify(c.body),
    });
    const text = await res.text();
    const answer: Answer = {
      method: c.method,
      path: c.path,
      status: res.status,
      headers: res.headers,
      body: text === '' ? undefined : JSON.parse(text),
      text,
    };
    answers.push(answer);
    return answer;
  }

  const anonymous = { anonymous: true } as const;
  const login: AdminSuite['login'] = (email, password, extra = {}) =>
    call(anonymous, {
      method: 'POST',
      path: '/auth/login',
      body: { email, password, ...(extra.code === undefined ? {} : { code: extra.code }) },
      ...(extra.clientIp === undefined ? {} : { clientIp: extra.clientIp }),
    });

  async function person(email: string, password: string, code?: string): Promise<Person> {
    const res = await login(email, password, code === undefined ? {} : { code });
    assert.equal(res.status, 200, `login ${email}: ${res.text}`);
    return {
      id: res.body.user.id,
      email,
      password,
      token: res.body.accessToken,
      refreshToken: res.body.refreshToken,
      sessionId: res.body.sessionId,
    };
  }

  return {
    dp,
    answers,
    clientIp,
    passwords,
    password() {
      const p = newPassword();
      passwords.push(p);
      return p;
    },
    email: (name) => `${name}-${tag}@example.com`,
    call,
    login,
    person,
    async bootstrapOwner(email, password) {
      await dp.gateway.identity.bootstrap({ email, password, workspace: 'acme' }, { actor: 'test' });
      return person(email, password);
    },
    async invite(inviter, input) {
      const invited = await call(inviter, {
        method: 'POST',
        path: '/members',
        body: { email: input.email, role: input.role },
        ...(input.workspace === undefined ? {} : { workspace: input.workspace }),
      });
      assert.equal(invited.status, 201, `invite ${input.email}: ${invited.text}`);
      const accepted = await call(anonymous, {
        method: 'POST',
        path: '/auth/invitations/accept',
        body: { token: invited.body.token, password: input.password },
      });
      assert.equal(accepted.status, 200, `accept ${input.email}: ${accepted.text}`);
      return person(input.email, input.password);
    },
    async close() {
      await dp.close();
      await dropSchema?.();
    },
  };
}

/** The OpenAI-style envelope's fields, for comparing two refusals (the request id always differs). */
export function refusalOf(answer: Answer): {
  status: number;
  code: string;
  type: string;
  message: string;
  param: unknown;
} {
  const error = answer.body?.error ?? {};
  return {
    status: answer.status,
    code: error.code,
    type: error.type,
    message: error.message,
    param: error.param,
  };
}
