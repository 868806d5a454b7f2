import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import {
  assertNothingLeaked,
  cli,
  failed,
  newPlace,
  ok,
  type PasswordFile,
  type Place,
  passwordFile,
  passwords,
  words,
} from '../helpers/cli-identity.ts';
import { type DataPlaneFixture, startDataPlane } from '../helpers/dataplane.ts';

/**
 * The CLI's remote mode (`--url` with `--token-file` or PORTCULLIS_TOKEN) against a whole gateway
 * (SQLite, or PostgreSQL and Redis when TEST_DATABASE_URL and TEST_REDIS_URL are set), and the
 * operator's local commands on that gateway's store taking effect there at once.
 */

const redisUrl = process.env.TEST_REDIS_URL;
// Emails unique to this run: on Redis the login throttle's counters outlive it.
const run = randomBytes(4).toString('hex');
const OWNER = `owner-${run}@example.com`;
const MEMBER = `member-${run}@example.com`;

describe('portcullis identity CLI, remote (--url) against a running gateway', () => {
  let place: Place;
  let dp: DataPlaneFixture;
  let url: string;
  let ownerPw: PasswordFile;
  let memberPw: PasswordFile;
  const keys: string[] = [];
  /** Local commands on the gateway's own store (the operator's view). */
  const local = (args: string) => cli(args, place.env);
  const remote = (args: string | string[], env: Record<string, string> = {}) =>
    cli([...words(args), '--url', url], env);
  const tokenFile = (name: string) => path.join(place.dir, `${name}.token`);

  before(async () => {
    place = await newPlace('remote');
    dp = await startDataPlane({
      ...place.env,
      // All the CLI's requests come from 127.0.0.1: on a shared Redis, failures of earlier runs
      // from there would otherwise slow this run's logins down.
      PORTCULLIS_AUTH_LOGIN_IP_FREE_FAILURES: '10000',
      PORTCULLIS_AUTH_LOGIN_IP_LOCK_AFTER: '100000',
      // Long enough that only a broadcast can make a revocation take effect within the test.
      PORTCULLIS_AUTH_KEY_CACHE_TTL_MS: '60000',
    });
    url = dp.gateway.url;
    assert.equal(dp.gateway.store.dialect, process.env.TEST_DATABASE_URL ? 'postgres' : 'sqlite');
    assert.equal(dp.gateway.counters.kind, redisUrl ? 'redis' : 'memory');
    ownerPw = passwordFile(place.dir, 'owner');
    memberPw = passwordFile(place.dir, 'member');
    await dp.gateway.identity.bootstrap(
      { email: OWNER, password: ownerPw.password, workspace: 'acme' },
      { actor: 'test' },
    );
  });
  after(async () => {
    await dp.close();
    await place.close();
    assertNothingLeaked(keys);
  });

  async function login(email: string, pw: PasswordFile, name: string): Promise<string> {
    const file = tokenFile(name);
    const r = await remote(`login --email ${email} --password-file ${pw.file} --save-token ${file}`);
    assert.equal(r.code, 0, r.stderr || r.stdout);
    assert.match(r.stdout, new RegExp(`logged in as ${email}; access token saved to`));
    return file;
  }

  /** The admin API over HTTP, for what the test does besides the CLI. */
  async function api(method: string, p: string, body: unknown, token?: string) {
    const res = await fetch(`${url}/admin/api/v1${p}`, {
      method,
      headers: {
        'content-type': 'application/json',
        'x-portcullis-workspace': 'acme',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  const sessions = async () =>
    Number(
      (
        await dp.gateway.store.db
          .selectFrom('sessions')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('login saves a 0600 token; the Owner manages workspaces and members; a User is refused', async () => {
    const ownerToken = tokenFile('owner');
    // A token file that exists already (an old token, or made with `touch`) is tightened too.
    writeFileSync(ownerToken, 'old\n', { mode: 0o644 });
    await login(OWNER, ownerPw, 'owner');
    assert.equal(statSync(ownerToken).mode & 0o777, 0o600);
    assert.match(readFileSync(ownerToken, 'utf8'), /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/, 'just the token');
    // Without --save-token or --json the token would go nowhere: refused before logging in.
    const before = await sessions();
    const nowhere = await remote(`login --email ${OWNER} --password-file ${ownerPw.file}`);
    assert.equal(nowhere.code, 2);
    assert.match(nowhere.stderr, /give --save-token FILE/);
    assert.equal(await sessions(), before, 'the refused login left a session behind');
    const T = `--token-file ${ownerToken}`;

    assert.deepEqual(
      ok<{ name: string; role: string }[]>(await remote(`workspaces list ${T} --json`)).map(
        (w) => `${w.name}:${w.role}`,
      ),
      ['acme:owner'],
    );
    const me = ok<{ user: { email: string }; workspaces: { name: string; role: string }[] }>(
      await remote(`users list ${T} --json`),
    );
    assert.equal(me.user.email, OWNER);
    assert.deepEqual(
      me.workspaces.map((w) => `${w.name}:${w.role}`),
      ['acme:owner'],
    );

    const invited = ok<{ token: string }>(
      await remote(`members add ${T} --workspace acme --email ${MEMBER} --role user --json`),
    );
    assert.match(invited.token, /^pci_/);
    const accepted = await api('POST', '/auth/invitations/accept', {
      token: invited.token,
      password: memberPw.password,
    });
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));

    const M = `--token-file ${await login(MEMBER, memberPw, 'member')}`;
    const refused = await remote(
      `members add ${M} --workspace acme --email x-${run}@example.com --role user --json`,
    );
    assert.match(failed(refused, 'role_forbidden'), /User/);
    const asMember = ok<{ user: { email: string }; workspaces: { role: string }[] }>(
      await remote(`users list ${M} --json`),
    );
    assert.deepEqual([asMember.user.email, asMember.workspaces[0]?.role], [MEMBER, 'user']);

    // Workspaces through the API: who creates one owns it; its Owner deletes it.
    const beta = ok<{ id: string }>(await remote(`workspaces create ${T} --name beta-${run} --json`));
    const deleted = ok<{ restorableUntil: number }>(
      await remote(`workspaces delete ${T} --workspace ${beta.id} --json`),
    );
    assert.ok(deleted.restorableUntil > Date.now() + 29 * 86_400_000);

    // Wrong passwords, plain http to another host, no token.
    const wrong = path.join(place.dir, 'wrong.pw');
    const wrongPassword = `Not-${randomBytes(9).toString('base64url')}`;
    passwords.push(wrongPassword);
    writeFileSync(wrong, `${wrongPassword}\n`);
    failed(await remote(`login --email ${OWNER} --password-file ${wrong} --json`), 'invalid_credentials');
    const plain = await cli(`workspaces list --url http://example.com ${T} --json`, {});
    assert.match(failed(plain, 'invalid_arguments', 2), /https/);
    const noToken = await remote('members list --workspace acme --json');
    assert.match(failed(noToken, 'invalid_arguments', 2), /token is required/);
  });

  it('a management API key works through PORTCULLIS_TOKEN; a data-plane key is refused', async () => {
    const management = await dp.newKey({ scopes: ['admin:read', 'admin:write'] });
    keys.push(management, dp.key);
    const members = ok<{ email: string; role: string }[]>(
      await remote('members list --json', { PORTCULLIS_TOKEN: management }),
    );
    assert.deepEqual(
      members.map((m) => `${m.email}:${m.role}`),
      [`${OWNER}:owner`, `${MEMBER}:user`],
    );
    failed(await remote('members list --json', { PORTCULLIS_TOKEN: dp.key }), 'insufficient_scope');
  });

  it("operator commands on the gateway's store take effect there at once", async () => {
    const second = await login(MEMBER, memberPw, 'member-2');
    const memberToken = readFileSync(second, 'utf8').trim();
    // The member creates an API key of their own, and the data plane has it in its cache.
    const created = await api('POST', '/keys', { name: 'mine' }, memberToken);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const key = String(created.body.key);
    keys.push(key);
    const openai = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
    assert.ok((await openai.models.list()).data.length > 0);

    // reset-password ends both of the member's sessions; only the new password logs in.
    const newPw = passwordFile(place.dir, 'member-new');
    const reset = ok<{ revokedSessions: number }>(
      await local(`users reset-password --email ${MEMBER} --password-file ${newPw.file} --json`),
    );
    assert.equal(reset.revokedSessions, 2);
    failed(await remote(`users list --token-file ${second} --json`), 'invalid_access_token');
    failed(
      await remote(`login --email ${MEMBER} --password-file ${memberPw.file} --json`),
      'invalid_credentials',
    );
    const fresh = await login(MEMBER, newPw, 'member-3');

    // disable: no login and no session; enable: logins work again.
    const disabled = ok<{ disabled: boolean; revokedSessions: number }>(
      await local(`users disable --email ${MEMBER} --json`),
    );
    assert.deepEqual([disabled.disabled, disabled.revokedSessions], [true, 1]);
    failed(await remote(`users list --token-file ${fresh} --json`), 'invalid_access_token');
    failed(
      await remote(`login --email ${MEMBER} --password-file ${newPw.file} --json`),
      'invalid_credentials',
    );
    const listed = ok<{ email: string; disabled: boolean }[]>(await local('users list --json'));
    assert.equal(listed.find((u) => u.email === MEMBER)?.disabled, true);
    ok(await local(`users enable --email ${MEMBER} --json`));
    await login(MEMBER, newPw, 'member-4');

    // Removing the member revokes their key; with Redis the gateway hears of it at once.
    const removed = ok<{ revokedKeys: number }>(
      await local(`members remove --workspace acme --email ${MEMBER} --json`),
    );
    assert.equal(removed.revokedKeys, 1);
    assert.equal((await dp.keys.show(String(created.body.id))).status, 'revoked');
    if (redisUrl) {
      const deadline = Date.now() + 3_000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        status = await openai.models.list().then(
          () => 200,
          (e: { status?: number }) => e.status ?? 0,
        );
        if (status === 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 401, 'the key still worked: the revocation was not broadcast');
    }

    // Remotely, the Owner removes a member by email.
    const ownerToken = readFileSync(tokenFile('owner'), 'utf8').trim();
    const temp = `temp-${run}@example.com`;
    const invite = await api('POST', '/members', { email: temp, role: 'user' }, ownerToken);
    assert.equal(invite.status, 201, JSON.stringify(invite.body));
    const tempPw = passwordFile(place.dir, 'temp');
    const accept = { token: invite.body.token, password: tempPw.password };
    assert.equal((await api('POST', '/auth/invitations/accept', accept)).status, 200);
    const T = `--token-file ${tokenFile('owner')} --workspace acme`;
    ok(await remote(`members set-role ${T} --email ${temp} --role admin --json`));
    assert.deepEqual(ok(await remote(`members remove ${T} --email ${temp} --json`)), {
      userId: (await dp.gateway.identity.users.findByEmail(temp))?.id,
      removed: true,
      revokedKeys: 0,
    });
    failed(await remote(`members remove ${T} --email ${temp} --json`), 'member_not_found');
    assert.match(failed(await remote(`members remove ${T} --email ${OWNER} --json`), 'last_owner'), /Owner/);
  });
});
