import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dumpDatabase } from '../contract/keys-helpers.ts';
import { CLI, NODE_FLAGS } from '../helpers/cli.ts';
import {
  assertNothingLeaked,
  cli,
  cliEnv,
  failed,
  newPlace,
  occurrences,
  ok,
  openDb,
  type Place,
  passwordFile,
  words,
} from '../helpers/cli-identity.ts';
import { tempDir } from '../helpers/gateway.ts';

/**
 * `portcullis init|users|members|workspaces` on the local store (SQLite, or PostgreSQL when
 * TEST_DATABASE_URL is set), each a real CLI process; and `serve` telling a newcomer on an empty
 * store what to run. The remote mode (--url) is in cli-identity-remote.test.ts.
 */

const OWNER = 'owner@example.com';

interface MemberOut {
  email: string;
  role: string;
}

describe('portcullis identity CLI, local store', () => {
  let place: Place;
  const cmd = (args: string | string[], env: Record<string, string> = {}) =>
    cli(args, { ...place.env, ...env });
  const members = async (ws: string) =>
    ok<MemberOut[]>(await cmd(`members list --workspace ${ws} --json`)).map((m) => `${m.email}:${m.role}`);

  before(async () => {
    place = await newPlace('local');
  });
  after(async () => {
    await place.close();
    assertNothingLeaked();
  });

  it('init creates the first Owner and workspace once; passwords only from a file, never weak', async () => {
    // The refusals come first, while no user exists: none of them may create one.
    const init = `init --email ${OWNER} --workspace acme --json`;
    const flagValue = `Flag-${randomBytes(9).toString('base64url')}`;
    for (const form of [['--password', flagValue], [`--password=${flagValue}`]]) {
      const r = await cmd([...words(init), ...form]);
      assert.match(failed(r, 'invalid_arguments', 2), /--password is not accepted/);
      assert.ok(!`${r.stdout}${r.stderr}`.includes(flagValue), 'the --password value was echoed');
    }
    assert.match(failed(await cmd(init), 'invalid_arguments', 2), /--password-file FILE is required/);
    assert.equal((await cmd('init')).code, 2, 'no flags and no terminal to ask on');
    const weakFile = path.join(place.dir, 'weak.pw');
    for (const [weak, rule] of [
      ['short-pw', /too short: use at least 12 characters/],
      ['qwerty123456', /too common/],
    ] as const) {
      writeFileSync(weakFile, `${weak}\n`);
      const r = await cmd(`${init} --password-file ${weakFile}`);
      assert.match(failed(r, 'weak_password'), rule);
      assert.ok(!r.stdout.includes(weak), 'the refused password was echoed');
    }
    assert.deepEqual(ok(await cmd('users list --json')), []);
    assert.match(
      (await cmd('users list')).stdout,
      /no users yet; create the first Owner with: portcullis init/,
    );

    const { file } = passwordFile(place.dir, 'owner');
    const first = ok<{ user: { email: string }; workspace: { id: string; name: string } }>(
      await cmd(`${init} --password-file ${file}`),
    );
    assert.equal(first.user.email, OWNER);
    assert.match(first.workspace.id, /^wsp_/);
    assert.equal(first.workspace.name, 'acme');
    assert.deepEqual(await members('acme'), [`${OWNER}:owner`]);
    const again = await cmd(`init --email second@example.com --password-file ${file} --workspace b --json`);
    assert.match(failed(again, 'user_exists'), /initialised already/);
  });

  it('users create and list (no hash in any output); reset-password checks the policy', async () => {
    for (const name of ['ada', 'bob']) {
      const { file } = passwordFile(place.dir, name);
      const user = ok<object>(
        await cmd(`users create --email ${name}@example.com --password-file ${file} --json`),
      );
      assert.deepEqual(Object.keys(user).sort(), [
        'createdAt',
        'disabled',
        'email',
        'id',
        'mfaEnabled',
        'name',
      ]);
    }
    const dup = await cmd(`users create --email ADA@example.com --password-file ${place.dir}/ada.pw --json`);
    failed(dup, 'user_exists');
    const list = ok<{ id: string; email: string }[]>(await cmd('users list --json'));
    assert.deepEqual(
      list.map((u) => u.email),
      [OWNER, 'ada@example.com', 'bob@example.com'],
    );
    const text = (await cmd('users list')).stdout;
    assert.match(text, /^ID\s+EMAIL\s+NAME\s+MFA\s+DISABLED\n/);
    assert.equal(occurrences(text, '@example.com'), 3);

    const weak = path.join(place.dir, 'weak.pw');
    writeFileSync(weak, 'tiny\n');
    const reset = 'users reset-password --email ada@example.com --json --password-file';
    failed(await cmd(`${reset} ${weak}`), 'weak_password');
    const { file } = passwordFile(place.dir, 'ada-new');
    failed(
      await cmd(`users reset-password --email no@example.com --password-file ${file} --json`),
      'user_not_found',
    );
    assert.deepEqual(ok(await cmd(`${reset} ${file}`)), { id: list[1]?.id, revokedSessions: 0 });

    // The hashes are in the database, and only there.
    const { store } = await openDb(place);
    try {
      assert.equal(store.dialect, process.env.TEST_DATABASE_URL ? 'postgres' : 'sqlite');
      const rows = await store.db.selectFrom('users').select('password_hash').execute();
      assert.equal(rows.length, 3);
      for (const r of rows) assert.match(r.password_hash, /^\$argon2id\$/);
    } finally {
      await store.close();
    }
  });

  it('members add (a user joins at once; an unknown email gets a one-time token), set-role, last Owner', async () => {
    const add = (email: string, role: string) =>
      cmd(`members add --workspace acme --email ${email} --role ${role} --json`);
    const setRole = (email: string, role: string) =>
      cmd(`members set-role --workspace acme --email ${email} --role ${role} --json`);
    assert.deepEqual(ok<MemberOut>(await add('ada@example.com', 'user')).role, 'user');
    failed(await add('ada@example.com', 'admin'), 'member_exists');
    const invited = ok<{ token: string; invitation: { email: string; role: string } }>(
      await add('new@example.com', 'admin'),
    );
    assert.match(invited.token, /^pci_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual([invited.invitation.email, invited.invitation.role], ['new@example.com', 'admin']);
    const text = await cmd('members add --workspace acme --email newer@example.com --role user');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /shown only now/);
    const token = /pci_[A-Za-z0-9_-]{43}/.exec(text.stdout)?.[0] ?? '';
    assert.equal(occurrences(text.stdout + text.stderr, token), 1, 'the token is printed exactly once');
    assert.equal((await add('x@example.com', 'root')).code, 2);
    assert.deepEqual(
      await members('acme'),
      [`${OWNER}:owner`, 'ada@example.com:user'],
      'ada joined at once; invitees only when they accept',
    );

    const changed = ok<{ from: string; role: string }>(await setRole('ada@example.com', 'admin'));
    assert.deepEqual([changed.from, changed.role], ['user', 'admin']);
    failed(await setRole('bob@example.com', 'user'), 'member_not_found');
    assert.match(failed(await setRole(OWNER, 'admin'), 'last_owner'), /without an Owner/);
    const remove = await cmd(`members remove --workspace acme --email ${OWNER} --json`);
    assert.match(failed(remove, 'last_owner'), /without an Owner/);
    // With a second Owner the first may step down; then the second is the last one.
    ok(await setRole('ada@example.com', 'owner'));
    ok(await setRole(OWNER, 'admin'));
    failed(await setRole('ada@example.com', 'user'), 'last_owner');

    // Invitation tokens are stored only as hashes.
    const { store } = await openDb(place);
    try {
      const dump = await dumpDatabase(store);
      for (const t of [invited.token, token])
        assert.ok(!dump.includes(t.slice(4)), 'a token is stored in clear');
    } finally {
      await store.close();
    }
  });

  it('members remove revokes the API keys that member created in that workspace, and only those', async () => {
    ok(await cmd('members add --workspace acme --email bob@example.com --role user --json'));
    ok(await cmd('workspaces create --name side --owner bob@example.com --json'));
    const { store, keys } = await openDb(place);
    try {
      const id = async (table: 'workspaces' | 'users', column: 'name' | 'email', value: string) =>
        (await store.db.selectFrom(table).select('id').where(column, '=', value).executeTakeFirstOrThrow())
          .id;
      const [acme, side] = [await id('workspaces', 'name', 'acme'), await id('workspaces', 'name', 'side')];
      const [bob, owner] = [await id('users', 'email', 'bob@example.com'), await id('users', 'email', OWNER)];
      const bobs = (await keys.create({ workspaceId: acme, name: 'bob ci', createdBy: bob })).record.id;
      const bobsSide = (await keys.create({ workspaceId: side, name: 'bob', createdBy: bob })).record.id;
      const owners = (await keys.create({ workspaceId: acme, name: 'owner ci', createdBy: owner })).record.id;

      const removed = ok(await cmd('members remove --workspace acme --email bob@example.com --json'));
      assert.deepEqual(removed, { userId: bob, removed: true, revokedKeys: 1 });
      assert.equal((await keys.show(bobs)).status, 'revoked');
      assert.equal((await keys.show(bobsSide)).status, 'active', 'a key in another workspace stays');
      assert.equal((await keys.show(owners)).status, 'active', "another member's key stays");
      const audit = await store.db
        .selectFrom('audit_log')
        .select(['action', 'target', 'details'])
        .where('action', 'in', ['member.removed', 'key.revoked'])
        .orderBy('seq')
        .execute();
      assert.deepEqual(
        audit.map((a) => [a.action, a.target, JSON.parse(a.details)]),
        [
          ['member.removed', bob, { role: 'user', revokedKeys: 1 }],
          ['key.revoked', bobs, { name: 'bob ci' }],
        ],
      );
    } finally {
      await store.close();
    }
    assert.ok(!(await members('acme')).some((m) => m.startsWith('bob@')));
    failed(await cmd('members remove --workspace acme --email bob@example.com --json'), 'member_not_found');
  });

  it('workspaces create --owner, rename, delete, restore; purge after retention, then no restore', async () => {
    const beta = ok<{ id: string }>(
      await cmd('workspaces create --name beta --owner bob@example.com --json'),
    );
    assert.deepEqual(await members('beta'), ['bob@example.com:owner']);
    failed(await cmd('workspaces create --name ghost --owner nobody@example.com --json'), 'user_not_found');
    const renamed = ok<{ id: string; name: string }>(await cmd('workspaces rename beta --name gamma --json'));
    assert.deepEqual([renamed.id, renamed.name], [beta.id, 'gamma']);
    const names = async () => ok<{ name: string }[]>(await cmd('workspaces list --json')).map((w) => w.name);
    assert.deepEqual(await names(), ['acme', 'side', 'gamma'], 'and no "ghost"');

    // What belongs to gamma: a key, a provider credential, its Owner, an invitation.
    ok(await cmd('keys create --workspace gamma --name k1 --json'));
    const providerSecret = `sk-${randomBytes(20).toString('hex')}`;
    const add =
      'credentials add --workspace gamma --name main --provider openai --secret-env PROVIDER_KEY --json';
    ok(await cmd(add, { PROVIDER_KEY: providerSecret }));
    ok(await cmd('members add --workspace gamma --email later@example.com --role user --json'));
    const db = await openDb(place);
    const secretIds = await db.store.db
      .selectFrom('provider_credentials')
      .select('secret_id')
      .where('workspace_id', '=', beta.id)
      .execute()
      .finally(() => db.store.close());
    assert.equal(secretIds.length, 1);

    ok(await cmd('workspaces delete gamma --json'));
    assert.deepEqual(await names(), ['acme', 'side']);
    assert.equal(ok<{ name: string }>(await cmd(`workspaces restore ${beta.id} --json`)).name, 'gamma');
    ok(await cmd(`workspaces delete ${beta.id} --json`));
    // Within the retention period (30 days by default) nothing is purged.
    assert.deepEqual(ok(await cmd('workspaces purge --json')), { purged: [] });
    const now = { PORTCULLIS_WORKSPACES_RETENTION_DAYS: '0' };
    assert.deepEqual(ok(await cmd('workspaces purge --json', now)), { purged: [beta.id] });

    const { store } = await openDb(place);
    try {
      for (const table of ['api_keys', 'provider_credentials', 'workspace_members', 'invitations'] as const) {
        const rows = await store.db
          .selectFrom(table)
          .select('workspace_id')
          .where('workspace_id', '=', beta.id)
          .execute();
        assert.deepEqual(rows, [], `${table} of the purged workspace remain`);
      }
      const dump = await dumpDatabase(store);
      assert.ok(!dump.includes(providerSecret.slice(-12)));
      const secrets = await store.db
        .selectFrom('secrets')
        .select('id')
        .where(
          'id',
          'in',
          secretIds.map((r) => r.secret_id),
        )
        .execute();
      assert.deepEqual(secrets, [], "the credential's encrypted secret remains");
      const entries = await store.db
        .selectFrom('audit_log')
        .select(['target', 'details'])
        .where('action', '=', 'workspace.purged')
        .execute();
      assert.deepEqual(
        entries.map((e) => [e.target, JSON.parse(e.details)]),
        [[beta.id, { keys: 1, credentials: 1, members: 1 }]],
      );
      const others = await store.db.selectFrom('workspace_members').select('workspace_id').execute();
      assert.equal(others.length, 3, 'the other workspaces keep their members (acme 2, side 1)');
    } finally {
      await store.close();
    }
    assert.match(failed(await cmd(`workspaces restore ${beta.id} --json`), 'workspace_not_found'), /purged/);
    assert.deepEqual(ok(await cmd('workspaces purge --json', now)), { purged: [] }, 'a purge happens once');
    assertNothingLeaked([providerSecret]);
  });
});

describe('portcullis serve on an empty store', () => {
  const tmp = tempDir('pcx-cli-identity-serve-');
  after(() => tmp.remove());

  /** Starts `serve`, waits until it listens (and `settleMs` more), stops it; returns its stderr. */
  async function serveOnce(until: RegExp): Promise<string> {
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'serve'], {
      env: cliEnv({ PORTCULLIS_PORT: '0', PORTCULLIS_DATA_DIR: tmp.dir }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 15_000;
      while (!until.test(err) && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 25));
      }
      const url = /"url":"(http[^"]+)".*portcullis listening/.exec(err)?.[1];
      assert.ok(url, `serve did not start:\n${err}`);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      // The users check runs right after listening (one COUNT); give it time to log its warning.
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      child.kill('SIGTERM');
    }
    // Exit 0: the stop was graceful (the handler is installed as soon as the server listens).
    assert.equal(await exited, 0, err);
    return err;
  }

  it('warns that there is no user yet, naming `portcullis init`; after init it does not', async () => {
    const first = await serveOnce(/no users yet/);
    const warning = first.split('\n').find((l) => l.includes('no users yet'));
    assert.ok(warning, `no warning:\n${first}`);
    assert.equal((JSON.parse(warning) as { level: number | string }).level, 'warn');
    assert.match(warning, /portcullis init --email you@example\.com --password-file FILE --workspace NAME/);
    const { file } = passwordFile(tmp.dir, 'first');
    const env = { PORTCULLIS_DATA_DIR: tmp.dir };
    ok(await cli(`init --email first@example.com --password-file ${file} --workspace main --json`, env));
    const second = await serveOnce(/portcullis listening/);
    assert.ok(!second.includes('no users yet'), 'the warning came although a user exists');
    assertNothingLeaked();
  });
});
