import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { assertNothingLeaked, type TwoTenants, twoTenants } from '../helpers/admin-tenants.ts';
import {
  type AdminSuite,
  type Answer,
  type Call,
  type Credentials,
  type Person,
  refusalOf,
  startAdminSuite,
} from '../helpers/admin-users.ts';

/**
 * The admin API against the OWASP API Security Top 10 (2023), through real HTTP on the real
 * gateway wiring, with two tenants (test/helpers/admin-tenants.ts): API1 object-level
 * authorization across workspaces, API3/API6 mass assignment, API5 function-level authorization,
 * weak passwords and invitation reuse, and excessive data exposure — every answer of the suite and
 * every log line is searched for every password, token, seed, code, hash and key it used.
 * API2 (authentication) is admin-owasp-auth.test.ts.
 */

/** Well-formed ids that exist nowhere. */
const MISSING = {
  key: 'key_000000000000',
  crd: 'crd_AAAAAAAAAAAAAAAAAAAAAA',
  usr: 'usr_AAAAAAAAAAAAAAAAAAAAAA',
  inv: 'inv_AAAAAAAAAAAAAAAAAAAAAA',
  ses: 'ses_AAAAAAAAAAAAAAAAAAAAAA',
  wsp: 'wsp_AAAAAAAAAAAAAAAAAAAAAA',
};

describe('admin API: OWASP API Security Top 10 (objects, functions, fields, exposure)', () => {
  let s: AdminSuite;
  let acme: string;
  let beta: string;
  let ownerA: Person;
  let adminA: Person;
  let userA: Person;
  let ownerB: Person;
  let B: TwoTenants['B'];
  const inA = (p: Person): Credentials => ({ token: p.token, workspace: acme });
  const inB = (p: Person): Credentials => ({ token: p.token, workspace: beta });

  before(async () => {
    s = await startAdminSuite('admin_owasp');
    ({ acme, beta, ownerA, adminA, userA, ownerB, B } = await twoTenants(s));
  });

  after(async () => {
    await s?.close();
  });

  describe('API1 broken object-level authorization: A cannot read, change or detect B', () => {
    it("B's keys, credentials, members, invitations and sessions answer A's Owner, Admin and User like missing ones", async () => {
      const probes: [Call['method'], string, string, string, unknown?][] = [
        ['GET', '/keys/{}', B.key.id, MISSING.key],
        ['PATCH', '/keys/{}', B.key.id, MISSING.key, { name: 'pwned' }],
        ['POST', '/keys/{}/revoke', B.key.id, MISSING.key],
        ['POST', '/keys/{}/rotate', B.key.id, MISSING.key, {}],
        ['DELETE', '/keys/{}', B.key.id, MISSING.key],
        ['GET', '/keys/{}/limits', B.key.id, MISSING.key],
        ['GET', '/keys/{}/guardrails', B.key.id, MISSING.key],
        ['PUT', '/keys/{}/guardrails', B.key.id, MISSING.key, {}],
        ['GET', '/credentials/{}', B.credential, MISSING.crd],
        ['GET', '/credentials/{}', 'beta-openai', 'no-such-credential'],
        ['PATCH', '/credentials/{}', B.credential, MISSING.crd, { models: ['*'] }],
        ['DELETE', '/credentials/{}', B.credential, MISSING.crd],
        ['PATCH', '/members/{}', ownerB.id, MISSING.usr, { role: 'user' }],
        ['DELETE', '/members/{}', ownerB.id, MISSING.usr],
        ['DELETE', '/invitations/{}', B.invitation, MISSING.inv],
        ['DELETE', '/auth/sessions/{}', ownerB.sessionId, MISSING.ses],
        ['POST', '/workspaces/{}/restore', beta, MISSING.wsp, {}],
      ];
      for (const [who, p] of [
        ['Owner', ownerA],
        ['Admin', adminA],
        ['User', userA],
      ] as const) {
        for (const [method, path, foreign, missing, body] of probes) {
          const label = `${who}: ${method} ${path.replace('{}', foreign)}`;
          const a = await s.call(inA(p), { method, path: path.replace('{}', foreign), body });
          const b = await s.call(inA(p), { method, path: path.replace('{}', missing), body });
          assert.ok(a.status >= 400, `${label}: ${a.text}`);
          if (who === 'Owner') assert.equal(a.status, 404, label);
          const same = (x: Answer, id: string) => ({
            ...refusalOf(x),
            message: String(refusalOf(x).message).replaceAll(id, 'X'),
          });
          assert.deepEqual(same(a, foreign), same(b, missing), label);
        }
      }
      // Nothing of B moved.
      assert.ok(
        (
          await s.dp
            .openai(B.key.key)
            .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] })
        ).choices.length > 0,
      );
      const members = await s.call(inB(ownerB), { method: 'GET', path: '/members' });
      assert.deepEqual(
        members.body.data.map((m: { userId: string; role: string }) => [m.userId, m.role]),
        [[ownerB.id, 'owner']],
      );
      assert.equal((await s.call(inB(ownerB), { method: 'GET', path: '/invitations' })).body.data.length, 1);
      assert.deepEqual(
        (await s.call(inB(ownerB), { method: 'GET', path: `/credentials/${B.credential}` })).body.models,
        ['gpt-*'],
      );
      assert.equal(
        (await s.call(inB(ownerB), { method: 'GET', path: '/auth/me' })).status,
        200,
        "B's session lives",
      );
    });

    it('no list, usage report or audit page of A shows anything of B', async () => {
      const traces = [
        beta,
        B.key.id,
        B.credential,
        B.invitation,
        ownerB.id,
        'beta-openai',
        'beta-key',
        ownerB.email,
        s.email('invitee-b'),
      ];
      for (const p of [ownerA, adminA, userA]) {
        for (const path of [
          '/keys',
          '/credentials',
          '/aliases',
          '/members',
          '/invitations',
          '/usage?by=key',
          '/audit?limit=500',
          '/workspace',
          '/guardrails',
          '/limits',
        ]) {
          const res = await s.call(inA(p), { method: 'GET', path });
          for (const t of traces) assert.ok(!res.text.includes(t), `${p.email} ${path} shows ${t}`);
        }
      }
      const mine = await s.call(inA(ownerA), { method: 'GET', path: '/workspaces' });
      assert.deepEqual(
        mine.body.data.map((w: { id: string }) => w.id),
        [acme],
      );
    });

    it('naming B in x-portcullis-workspace without being its member answers like naming no workspace at all', async () => {
      for (const p of [ownerA, adminA, userA]) {
        for (const [foreign, missing] of [
          [beta, MISSING.wsp],
          ['beta', 'no-such-workspace'],
        ]) {
          for (const path of [
            '/workspace',
            '/keys',
            `/keys/${B.key.id}`,
            '/members',
            '/usage',
            '/audit',
            '/credentials',
          ]) {
            const a = await s.call({ token: p.token, workspace: foreign }, { method: 'GET', path });
            const b = await s.call({ token: p.token, workspace: missing }, { method: 'GET', path });
            assert.equal(a.status, 404, `${p.email} → ${foreign} ${path}: ${a.text}`);
            assert.deepEqual(refusalOf(a), refusalOf(b), `${foreign} ${path}`);
          }
        }
      }
    });
  });

  it('API3/API6 mass assignment: undeclared fields are refused (400 naming the field) and change nothing', async () => {
    const invitation = await s.call(inA(ownerA), {
      method: 'POST',
      path: '/members',
      body: { email: s.email('mass'), role: 'user' },
    });
    const cases: [Credentials, Call, string][] = [
      [
        inA(adminA),
        {
          method: 'POST',
          path: '/members',
          body: { email: s.email('x1'), role: 'user', workspaceId: beta },
        },
        'workspaceId',
      ],
      [
        inA(adminA),
        { method: 'POST', path: '/members', body: { email: s.email('x2'), role: 'user', owner: true } },
        'owner',
      ],
      [
        inA(adminA),
        { method: 'PATCH', path: `/members/${userA.id}`, body: { role: 'user', mfaEnabled: false } },
        'mfaEnabled',
      ],
      [inA(ownerA), { method: 'PATCH', path: '/workspace', body: { name: 'acme', id: beta } }, 'id'],
      [inA(ownerA), { method: 'PATCH', path: '/workspace', body: { owner: userA.id } }, 'owner'],
      [
        inA(ownerA),
        { method: 'POST', path: '/workspaces', body: { name: 'x3', createdBy: userA.id } },
        'createdBy',
      ],
      [
        inA(userA),
        { method: 'POST', path: '/keys', body: { name: 'x4', createdBy: ownerA.id } },
        'createdBy',
      ],
      [inA(userA), { method: 'POST', path: '/keys', body: { name: 'x5', workspaceId: beta } }, 'workspaceId'],
      [inA(userA), { method: 'POST', path: '/keys', body: { name: 'x6', role: 'owner' } }, 'role'],
      [
        { anonymous: true },
        {
          method: 'POST',
          path: '/auth/invitations/accept',
          body: { token: invitation.body.token, password: s.password(), role: 'owner' },
        },
        'role',
      ],
      [
        { anonymous: true },
        {
          method: 'POST',
          path: '/auth/login',
          body: { email: userA.email, password: userA.password, mfaEnabled: false },
        },
        'mfaEnabled',
      ],
      [
        { anonymous: true },
        {
          method: 'POST',
          path: '/auth/refresh',
          body: { refreshToken: userA.refreshToken, sessionId: ownerA.sessionId },
        },
        'sessionId',
      ],
      [
        { token: userA.token },
        {
          method: 'POST',
          path: '/auth/password',
          body: { currentPassword: userA.password, newPassword: s.password(), id: ownerA.id },
        },
        'id',
      ],
      [
        { token: userA.token },
        {
          method: 'POST',
          path: '/auth/mfa/enroll',
          body: { password: userA.password, secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' },
        },
        'secret',
      ],
    ];
    for (const [who, c, field] of cases) {
      const res = await s.call(who, c);
      assert.equal(res.status, 400, `${c.method} ${c.path} ${field}: ${res.text}`);
      assert.equal(res.body.error.code, 'invalid_request');
      assert.equal(res.body.error.param, field);
      assert.match(res.body.error.message, /not a known field/);
    }
    const members = (await s.call(inA(ownerA), { method: 'GET', path: '/members' })).body.data as {
      email: string;
      role: string;
    }[];
    assert.equal(members.find((m) => m.email === userA.email)?.role, 'user');
    assert.ok(!members.some((m) => m.email === s.email('mass')), 'the invitation was not used');
    assert.deepEqual(
      (await s.call(inA(ownerA), { method: 'GET', path: '/workspaces' })).body.data.map(
        (w: { name: string }) => w.name,
      ),
      ['acme'],
    );
    const accepted = await s.call(
      { anonymous: true },
      {
        method: 'POST',
        path: '/auth/invitations/accept',
        body: { token: invitation.body.token, password: s.password() },
      },
    );
    assert.equal(accepted.body.workspace.role, 'user', 'and still grants what it said');
  });

  it('API5 broken function-level authorization: a User cannot call Admin or Owner routes, an Admin not Owner routes, a key not user routes', async () => {
    const refusals: [Credentials, Call, string][] = [
      ...(
        [
          ['GET', '/members'],
          ['POST', '/members', { email: s.email('u1'), role: 'user' }],
          ['PATCH', `/members/${adminA.id}`, { role: 'user' }],
          ['DELETE', `/members/${adminA.id}`],
          ['GET', '/invitations'],
          ['GET', '/credentials'],
          ['POST', '/credentials', { name: 'u', provider: 'openai', secret: 'sk-abcdefghijklmnop' }],
          ['GET', '/limits'],
          ['PUT', '/limits', {}],
          ['GET', '/audit'],
          ['PUT', '/guardrails', {}],
          ['PUT', '/aliases/u', { targets: [{ credential: 'openai-main', model: 'gpt-4o' }] }],
          ['PATCH', '/workspace', { name: 'taken' }],
          ['DELETE', '/workspace'],
        ] as [Call['method'], string, unknown?][]
      ).map(([method, path, body]): [Credentials, Call, string] => [
        inA(userA),
        { method, path, body },
        'role_forbidden',
      ]),
      [inA(adminA), { method: 'DELETE', path: '/workspace' }, 'role_forbidden'],
      [inA(adminA), { method: 'PATCH', path: '/workspace', body: { mfaRequired: false } }, 'role_forbidden'],
      [
        inA(adminA),
        { method: 'PUT', path: '/limits', body: { budgetUsd: 1, budgetWindow: 'day' } },
        'role_forbidden',
      ],
      [
        inA(adminA),
        { method: 'POST', path: '/members', body: { email: s.email('o'), role: 'owner' } },
        'role_forbidden',
      ],
      [
        inA(adminA),
        { method: 'PATCH', path: `/members/${ownerA.id}`, body: { role: 'user' } },
        'role_forbidden',
      ],
      [{ key: s.dp.key }, { method: 'GET', path: '/auth/me' }, 'user_session_required'],
      [
        { key: s.dp.key },
        { method: 'POST', path: '/workspaces', body: { name: 'by-key' } },
        'user_session_required',
      ],
    ];
    for (const [who, c, code] of refusals) {
      const res = await s.call(who, c);
      assert.equal(res.status, 403, `${c.method} ${c.path}: ${res.text}`);
      assert.equal(res.body.error.code, code, `${c.method} ${c.path}`);
    }
    for (const c of refusals.map(([, call]) => call)) {
      const anonymous = await s.call({ anonymous: true }, c);
      assert.equal(anonymous.status, 401, `anonymous ${c.method} ${c.path}`);
    }
    const ws = await s.call(inA(ownerA), { method: 'GET', path: '/workspace' });
    assert.equal(ws.body.name, 'acme', 'nothing happened');
  });

  it('weak passwords are refused naming the rule; an invitation token works once', async () => {
    const weakling = s.email('weakling');
    const invited = await s.call(inA(adminA), {
      method: 'POST',
      path: '/members',
      body: { email: weakling, role: 'user' },
    });
    const accept = (token: string, password: string) =>
      s.call(
        { anonymous: true },
        { method: 'POST', path: '/auth/invitations/accept', body: { token, password } },
      );
    for (const [rule, password] of [
      ['too_short', 'Sh0rt-pw'],
      ['common', '1qaz2wsx3edc'],
      // The part before the @, in other letters' case: the rule folds case.
      ['contains_email', `X-${weakling.split('@')[0]?.toUpperCase()}`],
    ]) {
      const res = await accept(invited.body.token, password as string);
      assert.equal(res.status, 400, `${rule}: ${res.text}`);
      assert.equal(res.body.error.code, 'weak_password');
      assert.equal(res.body.error.param, 'password');
      assert.ok(res.body.error.message.includes(`(${rule})`), res.body.error.message);
    }
    const common = await s.call(
      { token: userA.token },
      {
        method: 'POST',
        path: '/auth/password',
        body: { currentPassword: userA.password, newPassword: 'qwerty123456' },
      },
    );
    assert.equal(common.status, 400);
    assert.equal(common.body.error.code, 'weak_password');

    const ok = await accept(invited.body.token, s.password());
    assert.equal(ok.status, 200, ok.text);
    const again = await accept(invited.body.token, s.password());
    const forged = await accept(`pci_${randomBytes(32).toString('base64url')}`, s.password());
    for (const res of [again, forged]) {
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'invalid_invitation');
    }
    assert.deepEqual(refusalOf(again), refusalOf(forged), 'a used token and a made-up one answer alike');
  });

  it('excessive data exposure: no answer or log line carries a password, hash, secret, token or key beyond the answer that hands it out', () => {
    assertNothingLeaked(s);
    // The check itself bites: a password or a repeated token planted in one answer is caught.
    const [first] = s.answers as [Answer];
    const token = s.answers.find((a) => a.path === '/auth/login' && a.status === 200)?.body.refreshToken;
    for (const [planted, complaint] of [
      [s.passwords[0], /contains a password/],
      [token, /repeats a secret/],
      ['$argon2id$v=19$m=19456', /contains \$argon2id\$/],
    ] as const) {
      const answers = [...s.answers, { ...first, text: JSON.stringify({ planted }) }];
      assert.throws(() => assertNothingLeaked({ ...s, answers }), complaint);
    }
  });
});
