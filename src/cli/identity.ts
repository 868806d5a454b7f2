import { open, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { createMemoryCounters } from '../counters/memory.ts';
import type { IdentityService } from '../identity/service.ts';
import { eraseSubject, exportSubject } from '../identity/subject.ts';
import { createIdentity } from '../identity/wire.ts';
import type { Command, CommandContext } from './context.ts';
import { withKeyRepository } from './keys.ts';
import { type Local, withLocal } from './local.ts';
import { openRemote, REMOTE_OPTIONS } from './remote.ts';
import { optionalFlag, requireFlag, table, UsageError } from './usage.ts';

/**
 * People: `init` (the first Owner), `users …` (instance operators, on the local store), `login`
 * (a token for remote commands). Passwords are read from a file (`--password-file`) or typed at a
 * hidden prompt, never taken from a flag value (shell history, `ps`).
 */

/** The local store plus the identity service (memory counters: the CLI is one process). */
export async function withIdentity<T>(
  ctx: CommandContext,
  fn: (local: Local & { identity: IdentityService }) => Promise<T>,
): Promise<T> {
  return withLocal(ctx, async (local) => {
    const identity = await createIdentity({
      config: local.config,
      store: local.store,
      keys: local.keys,
      clock: local.clock,
      counters: createMemoryCounters({ clock: local.clock, logger: local.logger }),
      audit: local.audit,
      note: (event) => {
        void local.audit
          .record(
            local.auditContext,
            async () => undefined,
            () => ({ ...event }),
          )
          .catch(() => undefined);
      },
    });
    return fn({ ...local, identity });
  });
}

/** Reads a password: --password-file (first line), else a hidden prompt on a terminal. */
export async function readPassword(
  values: Record<string, unknown>,
  opts: { flag?: string; prompt: string; confirm?: boolean },
): Promise<string> {
  const flag = opts.flag ?? 'password-file';
  if (values.password !== undefined) {
    throw new UsageError(
      `--password is not accepted (shell history, \`ps\`): use --${flag} FILE or type it at the prompt`,
    );
  }
  const file = optionalFlag(values, flag);
  if (file !== undefined) {
    const [first = ''] = (await readFile(file, 'utf8')).split(/\r?\n/);
    if (first === '') throw new UsageError(`--${flag}: the file's first line is empty`);
    return first;
  }
  if (!process.stdin.isTTY) throw new UsageError(`--${flag} FILE is required when not on a terminal`);
  const first = await promptHidden(opts.prompt);
  if (opts.confirm && (await promptHidden('Repeat it: ')) !== first)
    throw new UsageError('the passwords do not match');
  return first;
}

async function promptHidden(prompt: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    process.stderr.write(prompt);
    muted = true;
    return await rl.question('');
  } finally {
    muted = false;
    process.stderr.write('\n');
    rl.close();
  }
}

async function promptLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

export const initCommand: Command = {
  name: ['init'],
  summary: 'Create the first Owner and workspace (only while no user exists).',
  usage: `portcullis init --email E --password-file F --workspace NAME [--name "Full Name"] [--config FILE] [--json]

  Interactive without flags on a terminal. There is no default password: the first Owner chooses
  one (at least 12 characters, not a common password). Then log in to the admin API with it.`,
  options: {
    email: { type: 'string' },
    'password-file': { type: 'string' },
    password: { type: 'string' },
    workspace: { type: 'string' },
    name: { type: 'string' },
  },
  async run(ctx, values) {
    const interactive = values.email === undefined && process.stdin.isTTY === true;
    const email = interactive ? await promptLine('Email of the first Owner: ') : requireFlag(values, 'email');
    const workspace = interactive
      ? (await promptLine('Name of the first workspace [default]: ')) || 'default'
      : requireFlag(values, 'workspace');
    const password = await readPassword(values, {
      prompt: 'Password (12+ characters): ',
      confirm: true,
    });
    const name = optionalFlag(values, 'name');
    return withIdentity(ctx, async ({ identity, auditContext }) => {
      const { user, workspace: ws } = await identity.bootstrap(
        { email, password, workspace, ...(name ? { name } : {}) },
        auditContext,
      );
      return {
        data: { user, workspace: ws },
        text: `created Owner ${user.email} (${user.id}) of workspace "${ws.name}" (${ws.id})\nlog in: POST /admin/api/v1/auth/login, or \`portcullis login --url URL --email ${user.email}\``,
      };
    });
  },
};

/**
 * Writes the token readable by its owner only. `writeFile`'s mode applies only when it creates the
 * file: an existing file (an earlier token, one made with `touch`) would keep its wider mode, so
 * the mode is set on the open file before the token is written into it.
 */
async function saveToken(file: string, token: string): Promise<void> {
  const handle = await open(file, 'w', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(`${token}\n`);
  } finally {
    await handle.close();
  }
}

export const loginCommand: Command = {
  name: ['login'],
  summary: 'Log in to a gateway and save an access token for remote commands.',
  usage: `portcullis login --url URL --email E [--password-file F] [--code 123456] [--save-token FILE] [--json]

  Saves the access token (valid up to 15 minutes) to --save-token with mode 0600; use it with
  --token-file FILE or PORTCULLIS_TOKEN. --json prints the tokens instead (the refresh token too).`,
  options: {
    ...REMOTE_OPTIONS,
    email: { type: 'string' },
    'password-file': { type: 'string' },
    password: { type: 'string' },
    code: { type: 'string' },
    'save-token': { type: 'string' },
  },
  async run(ctx, values) {
    const email = requireFlag(values, 'email');
    const save = optionalFlag(values, 'save-token');
    // Checked before logging in: a login whose token goes nowhere would leave a session behind.
    if (save === undefined && !ctx.json) {
      throw new UsageError('give --save-token FILE (or --json to print the tokens)');
    }
    const password = await readPassword(values, { prompt: 'Password: ' });
    const code = optionalFlag(values, 'code');
    const remote = await openRemote(ctx, values, { auth: false });
    const tokens = (await remote.call('POST', '/auth/login', {
      email,
      password,
      ...(code ? { code } : {}),
    })) as { accessToken: string; accessTokenExpiresAt: number; user: { id: string; email: string } };
    if (save !== undefined) await saveToken(save, tokens.accessToken);
    return {
      data: tokens,
      text: `logged in as ${tokens.user.email}; access token saved to ${save} (expires ${new Date(tokens.accessTokenExpiresAt).toISOString()})`,
    };
  },
};

const USER_OPTIONS = {
  email: { type: 'string' },
  'password-file': { type: 'string' },
  password: { type: 'string' },
} as const;

export const usersCreateCommand: Command = {
  name: ['users', 'create'],
  summary: 'Create a user (local store; add them to workspaces with `members add`).',
  usage: 'portcullis users create --email E (--password-file F | prompt) [--name "Full Name"] [--json]',
  options: { ...USER_OPTIONS, name: { type: 'string' } },
  async run(ctx, values) {
    const email = requireFlag(values, 'email');
    const password = await readPassword(values, {
      prompt: 'Password (12+ characters): ',
      confirm: true,
    });
    const name = optionalFlag(values, 'name');
    return withIdentity(ctx, async ({ identity, auditContext }) => {
      const user = await identity.createUser({ email, password, ...(name ? { name } : {}) }, auditContext);
      return { data: user, text: `created user ${user.email} (${user.id})` };
    });
  },
};

export const usersListCommand: Command = {
  name: ['users', 'list'],
  summary: 'List users (local store) or, with --url, who the token belongs to.',
  usage: 'portcullis users list [--json] | portcullis users list --url URL --token-file F',
  options: { ...REMOTE_OPTIONS },
  async run(ctx, values) {
    if (typeof values.url === 'string') {
      const me = (await (await openRemote(ctx, values)).call('GET', '/auth/me')) as {
        user: { id: string; email: string };
        workspaces: { name: string; role: string }[];
      };
      return {
        data: me,
        text: `${me.user.email} (${me.user.id}): ${me.workspaces.map((w) => `${w.name} (${w.role})`).join(', ') || 'no workspace'}`,
      };
    }
    return withIdentity(ctx, async ({ identity }) => {
      const users = await identity.users.list();
      return {
        data: users,
        text:
          users.length === 0
            ? 'no users yet; create the first Owner with: portcullis init'
            : table(
                ['ID', 'EMAIL', 'NAME', 'MFA', 'DISABLED'],
                users.map((u) => [
                  u.id,
                  u.email,
                  u.name,
                  u.mfaEnabled ? 'on' : 'off',
                  u.disabled ? 'yes' : '',
                ]),
              ),
      };
    });
  },
};

export const usersResetPasswordCommand: Command = {
  name: ['users', 'reset-password'],
  summary: "Set a user's password as an operator (local store); ends all their sessions.",
  usage: 'portcullis users reset-password --email E (--password-file F | prompt) [--json]',
  options: USER_OPTIONS,
  async run(ctx, values) {
    const email = requireFlag(values, 'email');
    const password = await readPassword(values, { prompt: 'New password: ', confirm: true });
    return withIdentity(ctx, async ({ identity, auditContext }) => {
      const user = await identity.users.findByEmail(email);
      if (!user) throw Object.assign(new Error(`no user "${email}"`), { code: 'user_not_found' });
      const r = await identity.resetPassword(user.id, password, auditContext);
      return {
        data: { id: user.id, ...r },
        text: `password of ${user.email} set; ${r.revokedSessions} session(s) ended`,
      };
    });
  },
};

function usersToggle(disable: boolean): Command {
  return {
    name: ['users', disable ? 'disable' : 'enable'],
    summary: disable
      ? 'Disable a user (local store): no login, every session ended at once.'
      : 'Enable a disabled user again (local store).',
    usage: `portcullis users ${disable ? 'disable' : 'enable'} --email E [--json]`,
    options: { email: { type: 'string' } },
    async run(ctx, values) {
      const email = requireFlag(values, 'email');
      return withIdentity(ctx, async ({ identity, audit, auditContext, clock }) => {
        const user = await identity.users.findByEmail(email);
        if (!user) throw Object.assign(new Error(`no user "${email}"`), { code: 'user_not_found' });
        const revoked = await audit.record(
          auditContext,
          async (tx) => {
            await identity.users.inTx(tx).setDisabled(user.id, disable);
            if (!disable) return 0;
            const r = await tx.db
              .updateTable('sessions')
              .set({ revoked_at: clock.now(), revoked_reason: 'user_disabled' })
              .where('user_id', '=', user.id)
              .where('revoked_at', 'is', null)
              .executeTakeFirst();
            return Number(r.numUpdatedRows);
          },
          (n) => ({
            action: disable ? 'user.disabled' : 'user.enabled',
            target: user.id,
            details: disable ? { revokedSessions: n } : {},
          }),
        );
        return {
          data: { id: user.id, disabled: disable, revokedSessions: revoked },
          text: `${disable ? 'disabled' : 'enabled'} ${user.email}${disable ? `; ${revoked} session(s) ended` : ''}`,
        };
      });
    },
  };
}

export const usersExportCommand: Command = {
  name: ['users', 'export'],
  summary: "Export one user's personal data as JSON (data-subject access request; audited).",
  usage: 'portcullis users export --email E [--config FILE]   (always JSON)',
  options: { email: { type: 'string' } },
  async run(ctx, values) {
    const email = requireFlag(values, 'email');
    return withIdentity(ctx, async ({ identity, store, audit, auditContext }) => {
      const user = await identity.users.findByEmail(email);
      if (!user) throw Object.assign(new Error(`no user "${email}"`), { code: 'user_not_found' });
      const data = await exportSubject({ store, identity }, user.id);
      await audit.record(
        auditContext,
        async () => undefined,
        () => ({ action: 'user.exported', target: user.id }),
      );
      return { data, text: JSON.stringify(data, null, 2) };
    });
  },
};

export const usersEraseCommand: Command = {
  name: ['users', 'erase'],
  summary: "Erase one user's personal data (data-subject erasure); the audit trail keeps only their usr_ id.",
  usage: `portcullis users erase --email E --yes [--json]

  Removes them from every workspace (their keys revoked), deletes sessions, MFA and recovery codes
  and pending invitations, and replaces email and name. Refused while they are a workspace's last
  Owner.`,
  options: { email: { type: 'string' }, yes: { type: 'boolean', default: false } },
  async run(ctx, values) {
    const email = requireFlag(values, 'email');
    if (values.yes !== true) throw new UsageError('erasing cannot be undone: add --yes');
    return withIdentity(ctx, async (local) => {
      const { identity, store, audit, auditContext, clock } = local;
      const user = await identity.users.findByEmail(email);
      if (!user) throw Object.assign(new Error(`no user "${email}"`), { code: 'user_not_found' });
      const r = await withKeyRepository(local, (keys) =>
        eraseSubject({ store, audit, clock, identity, keys }, user.id, auditContext),
      );
      return {
        data: r,
        text: `erased ${user.id}: left ${r.memberships} workspace(s), ${r.revokedKeys} key(s) revoked, ${r.sessions} session(s) deleted`,
      };
    });
  },
};

export const IDENTITY_COMMANDS: Command[] = [
  initCommand,
  loginCommand,
  usersCreateCommand,
  usersListCommand,
  usersResetPasswordCommand,
  usersToggle(true),
  usersToggle(false),
  usersExportCommand,
  usersEraseCommand,
];
