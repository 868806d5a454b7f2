import assert from 'node:assert/strict';
import type { AdminSuite, Credentials, Person } from './admin-users.ts';
import { PROVIDER_SECRET } from './dataplane.ts';

/**
 * Two tenants on one gateway, for the OWASP suites: workspace A (`acme`: an Owner, an Admin and a
 * User) and workspace B (`beta`: its own Owner, a provider credential, an API key that has been
 * used, and a pending invitation). B was created by A's Owner, who then left it, so nobody of A
 * is a member of B — the situation a cross-tenant probe starts from.
 */
export interface TwoTenants {
  acme: string;
  beta: string;
  ownerA: Person;
  adminA: Person;
  userA: Person;
  ownerB: Person;
  B: { credential: string; key: { id: string; key: string }; invitation: string };
  inA(p: Person): Credentials;
  inB(p: Person): Credentials;
}

export async function twoTenants(s: AdminSuite): Promise<TwoTenants> {
  const acme = s.dp.workspaceId;
  const inA = (p: Person): Credentials => ({ token: p.token, workspace: acme });
  const ownerA = await s.bootstrapOwner(s.email('owner-a'), s.password());
  const adminA = await s.invite(inA(ownerA), {
    email: s.email('admin-a'),
    role: 'admin',
    password: s.password(),
  });
  const userA = await s.invite(inA(ownerA), {
    email: s.email('user-a'),
    role: 'user',
    password: s.password(),
  });

  const created = await s.call(inA(ownerA), { method: 'POST', path: '/workspaces', body: { name: 'beta' } });
  assert.equal(created.status, 201, created.text);
  const beta: string = created.body.id;
  const inB = (p: Person): Credentials => ({ token: p.token, workspace: beta });
  const ownerB = await s.invite(
    { token: ownerA.token, workspace: beta },
    { email: s.email('owner-b'), role: 'owner', password: s.password() },
  );
  const left = await s.call(inB(ownerB), { method: 'DELETE', path: `/members/${ownerA.id}` });
  assert.equal(left.status, 200, left.text);

  const credential = await s.call(inB(ownerB), {
    method: 'POST',
    path: '/credentials',
    body: {
      name: 'beta-openai',
      provider: 'openai',
      baseUrl: `${s.dp.mock.url}/v1`,
      models: ['gpt-*'],
      secret: PROVIDER_SECRET,
    },
  });
  assert.equal(credential.status, 201, credential.text);
  const key = await s.call(inB(ownerB), { method: 'POST', path: '/keys', body: { name: 'beta-key' } });
  assert.equal(key.status, 201, key.text);
  const invitation = await s.call(inB(ownerB), {
    method: 'POST',
    path: '/members',
    body: { email: s.email('invitee-b'), role: 'user' },
  });
  assert.equal(invitation.status, 201, invitation.text);
  const used = await s.dp
    .openai(key.body.key)
    .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
  assert.ok(used.choices.length > 0);
  await s.dp.gateway.auditing.events.flush();

  return {
    acme,
    beta,
    ownerA,
    adminA,
    userA,
    ownerB,
    B: {
      credential: credential.body.id,
      key: { id: key.body.id, key: key.body.key },
      invitation: invitation.body.id,
    },
    inA,
    inB,
  };
}

/**
 * Excessive data exposure (OWASP API3), over every answer the suite received and every log line
 * the gateway wrote: no password (right, wrong or refused), no hash, no sealed secret, and each
 * secret the API hands out — refresh and access tokens, invitation tokens, API keys, TOTP seeds,
 * recovery codes — in exactly one answer, the one that handed it out, and in no log line.
 */
export function assertNothingLeaked(s: AdminSuite, extraSecrets: readonly string[] = []): void {
  /** Secret → index of the one answer allowed to carry it. */
  const issued = new Map<string, number>();
  s.answers.forEach((a, i) => {
    if (a.status >= 300 || !a.body) return;
    const handOut = (value: unknown) => {
      if (typeof value === 'string' && value.length > 0 && !issued.has(value)) issued.set(value, i);
    };
    if (a.path === '/auth/login' || a.path === '/auth/refresh') {
      handOut(a.body.refreshToken);
      handOut(a.body.accessToken);
    }
    if (a.path === '/members' && a.method === 'POST') handOut(a.body.token);
    if ((a.path === '/keys' && a.method === 'POST') || a.path.endsWith('/rotate')) handOut(a.body.key);
    if (a.path === '/auth/mfa/enroll') handOut(a.body.secret);
    if (a.path === '/auth/mfa/confirm' || a.path === '/auth/mfa/recovery-codes') {
      for (const code of a.body.recoveryCodes) handOut(code);
    }
  });
  assert.ok(issued.size >= 10, `the suite handled secrets (${issued.size})`);
  assert.ok(s.passwords.length >= 3, `the suite typed passwords (${s.passwords.length})`);
  const never = [
    '$argon2id$',
    'token_hash',
    'password_hash',
    'passwordHash',
    'code_hash',
    'mfa_secret',
    'ciphertext',
    PROVIDER_SECRET,
    ...extraSecrets,
  ];
  s.answers.forEach((a, i) => {
    const where = `${a.method} ${a.path} (${a.status})`;
    for (const f of never) assert.ok(!a.text.includes(f), `${where} contains ${f.slice(0, 12)}…`);
    for (const p of s.passwords) assert.ok(!a.text.includes(p), `${where} contains a password`);
    for (const [secret, at] of issued) {
      if (i !== at)
        assert.ok(!a.text.includes(secret), `${where} repeats a secret handed out by answer #${at}`);
    }
  });
  const logs = s.dp.logs.text();
  assert.ok(logs.length > 0, 'the gateway logged');
  for (const secret of [...s.passwords, ...issued.keys(), PROVIDER_SECRET, ...extraSecrets]) {
    assert.ok(!logs.includes(secret), 'no password, token, seed, recovery code or key in any log line');
  }
}
