import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanRedisPrefix, quietLogger } from '../../test/contract/counters-helpers.ts';
import { ManualClock } from '../../test/contract/keys-helpers.ts';
import { createMemoryCounters } from '../counters/memory.ts';
import { createRedisCounters } from '../counters/redis.ts';
import type { Counters } from '../counters/types.ts';
import { PortcullisError } from '../errors/catalogue.ts';
import { createLoginThrottle, type LoginLock, type LoginPolicy } from './lockout.ts';

/**
 * Login throttling (OWASP Authentication Cheat Sheet; NIST SP 800-63B §5.2.2) over the in-process
 * counters with a steered clock, and the parts that matter across replicas over Redis.
 */

const POLICY: LoginPolicy = {
  freeFailures: 2,
  accountLockAfter: 6,
  ipLockAfter: 9,
  windowMs: 3_600_000,
  lockMs: 60_000,
};
const IP = '198.51.100.7';
const EMAIL = 'victim@example.com';

function setup(policy: LoginPolicy = POLICY) {
  const clock = new ManualClock();
  const memory = createMemoryCounters({ clock });
  const keys = new Set<string>();
  // Records every key the throttle uses, to prove no email address reaches the counters.
  const counters: Pick<Counters, 'add' | 'get' | 'rate'> = {
    add(key, delta, ttl) {
      keys.add(key);
      return memory.add(key, delta, ttl);
    },
    get(ks) {
      for (const k of ks) keys.add(k);
      return memory.get(ks);
    },
    rate(specs) {
      for (const s of specs) keys.add(s.key);
      return memory.rate(specs);
    },
  };
  const locks: LoginLock[] = [];
  const throttle = createLoginThrottle({ counters, policy, onLocked: (lock) => locks.push(lock) });
  return { clock, throttle, locks, keys };
}

/** The seconds a refused check asks to wait (and that it is the documented 429). */
async function waitOf(check: Promise<void>): Promise<number> {
  try {
    await check;
  } catch (err) {
    assert.ok(err instanceof PortcullisError, String(err));
    assert.equal(err.code, 'too_many_login_failures');
    assert.equal(err.status, 429);
    const retryAfter = Number(err.headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `retry-after ${err.headers['retry-after']}`);
    assert.equal(err.vars.retryAfter, retryAfter);
    return retryAfter;
  }
  return 0;
}

describe('login throttle (memory counters)', () => {
  it('lets the free failures pass, then makes each further attempt wait twice as long', async () => {
    const { clock, throttle, locks } = setup();
    for (let i = 0; i < POLICY.freeFailures; i++) {
      assert.equal(await waitOf(throttle.check(EMAIL, IP)), 0);
      await throttle.fail(EMAIL, IP);
    }
    assert.equal(await waitOf(throttle.check(EMAIL, IP)), 0, 'free failures cost nothing');
    for (const seconds of [1, 2, 4]) {
      await throttle.fail(EMAIL, IP);
      assert.equal(await waitOf(throttle.check(EMAIL, IP)), seconds);
      clock.advance(seconds * 1000 - 500);
      assert.equal(await waitOf(throttle.check(EMAIL, IP)), 1, 'still waiting, rounded up');
      clock.advance(500);
      assert.equal(await waitOf(throttle.check(EMAIL, IP)), 0, `free again after ${seconds} s`);
    }
    assert.deepEqual(locks, []);
  });

  it('locks the account at accountLockAfter for lockMs, reported once', async () => {
    const { clock, throttle, locks } = setup();
    for (let i = 0; i < POLICY.accountLockAfter; i++) {
      clock.advance(10_000);
      assert.equal(await waitOf(throttle.check(EMAIL, IP)), 0);
      await throttle.fail(EMAIL, IP);
    }
    assert.deepEqual(locks, [{ subject: 'account', failures: 6, lockMs: POLICY.lockMs, clientIp: IP }]);
    assert.equal(await waitOf(throttle.check(EMAIL, IP)), 60);
    assert.equal(await waitOf(throttle.check(EMAIL, '192.0.2.1')), 60, 'from any IP');
    assert.equal(await waitOf(throttle.check('other@example.com', '192.0.2.1')), 0, 'others are free');
    clock.advance(POLICY.lockMs - 1000);
    assert.equal(await waitOf(throttle.check(EMAIL, IP)), 1);
    // Refused attempts are not failures: checking while locked neither extends nor re-reports.
    for (let i = 0; i < 5; i++) await waitOf(throttle.check(EMAIL, IP));
    clock.advance(1000);
    assert.equal(await waitOf(throttle.check(EMAIL, IP)), 0);
    assert.equal(locks.length, 1);
  });

  it('a lock lasts lockMs even when the failure window ends first', async () => {
    const policy = { ...POLICY, windowMs: 30_000 };
    const { clock, throttle, locks } = setup(policy);
    for (let i = 0; i < policy.accountLockAfter; i++) {
      if (i > 0) clock.advance(5_000);
      assert.equal(await waitOf(throttle.check(EMAIL, IP)), 0);
      await throttle.fail(EMAIL, IP);
    }
    assert.equal(locks.length, 1, 'locked 25 s after the first failure');
    clock.advance(10_000); // the window (30 s from the first failure) is over; the lock is not
    assert.equal(await waitOf(throttle.check(EMAIL, IP)), 50);
    clock.advance(50_000);
    assert.equal(await waitOf(throttle.check(EMAIL, IP)), 0);
  });

  it('every new lock is reported: failing again after a lock ended locks and reports again', async () => {
    const { clock, throttle, locks } = setup();
    for (let round = 1; round <= 3; round++) {
      // Only attempts the throttle lets through can fail (as in the service); each from its own IP.
      for (let i = 0; locks.length < round; i++) {
        clock.advance(10_000);
        const ip = `192.0.2.${round * 20 + i}`;
        if ((await waitOf(throttle.check(EMAIL, ip))) === 0) await throttle.fail(EMAIL, ip);
      }
      assert.equal(await waitOf(throttle.check(EMAIL, IP)), 60, `round ${round}`);
      clock.advance(POLICY.lockMs);
    }
    assert.deepEqual(
      locks.map((l) => [l.subject, l.failures]),
      [
        ['account', 6],
        ['account', 7],
        ['account', 8],
      ],
    );
  });

  it('locks a client IP on its own, whichever emails it tries; IPv6 counts per /64', async () => {
    const { clock, throttle, locks } = setup();
    const ip6 = '2001:db8:1:2::10';
    for (let i = 0; i < POLICY.ipLockAfter; i++) {
      clock.advance(60_000);
      const ip = i % 2 === 0 ? ip6 : `2001:db8:1:2:ffff::${i}`;
      assert.equal(await waitOf(throttle.check(`spray${i}@example.com`, ip)), 0, `attempt ${i}`);
      await throttle.fail(`spray${i}@example.com`, ip);
    }
    assert.deepEqual(locks, [{ subject: 'ip', failures: 9, lockMs: POLICY.lockMs, clientIp: ip6 }]);
    assert.equal(await waitOf(throttle.check('fresh@example.com', '2001:db8:1:2:abcd::1')), 60);
    assert.equal(await waitOf(throttle.check('fresh@example.com', '2001:db8:1:3::1')), 0, 'another /64');
    assert.equal(await waitOf(throttle.check('spray0@example.com', IP)), 0, 'the accounts are not locked');
  });

  it('gives a client IP its own free failures (ipFreeFailures: many people share one address)', async () => {
    const { throttle } = setup({ ...POLICY, ipFreeFailures: 5 });
    for (let i = 0; i < 5; i++) await throttle.fail(`colleague${i}@example.com`, IP);
    assert.equal(await waitOf(throttle.check('colleague9@example.com', IP)), 0, 'five free per IP');
    await throttle.fail('colleague5@example.com', IP);
    assert.equal(await waitOf(throttle.check('colleague9@example.com', IP)), 1, 'then the IP waits too');
  });

  it('locks an account tried from many IPs, without locking those IPs for others', async () => {
    const { clock, throttle, locks } = setup();
    for (let i = 0; i < POLICY.accountLockAfter; i++) {
      clock.advance(60_000);
      await throttle.check(EMAIL, `203.0.113.${i}`);
      await throttle.fail(EMAIL, `203.0.113.${i}`);
    }
    assert.deepEqual(
      locks.map((l) => l.subject),
      ['account'],
    );
    assert.equal(await waitOf(throttle.check(EMAIL, '203.0.113.200')), 60);
    assert.equal(await waitOf(throttle.check('someone@example.com', '203.0.113.0')), 0);
  });

  it('succeed() clears the account failures but not the IP ones', async () => {
    const { throttle } = setup();
    for (let i = 0; i < 4; i++) await throttle.fail(EMAIL, IP);
    assert.ok((await waitOf(throttle.check(EMAIL, IP))) > 0);
    await throttle.succeed(EMAIL);
    assert.ok((await waitOf(throttle.check(EMAIL, IP))) > 0, 'the IP still waits');
    assert.equal(await waitOf(throttle.check(EMAIL, '192.0.2.55')), 0, 'the account is clear');
    await throttle.fail(EMAIL, '192.0.2.55');
    assert.equal(await waitOf(throttle.check(EMAIL, '192.0.2.55')), 0, 'counting starts over');
  });

  it('throttles by the normalised email, known or not; no email reaches the counters', async () => {
    const { throttle, keys } = setup();
    for (const spelling of ['Victim@Example.com', ' VICTIM@example.COM ', EMAIL]) {
      await throttle.fail(spelling, `192.0.2.${keys.size}`);
    }
    assert.ok((await waitOf(throttle.check(EMAIL, '192.0.2.250'))) > 0, 'one account, three spellings');
    assert.equal(await waitOf(throttle.check('victim2@example.com', '192.0.2.250')), 0);
    for (const key of keys) {
      assert.ok(!/victim|example/i.test(key), `key ${key} names the email`);
    }
  });

  it('fails closed: counters that throw or are closed give 503 service_unavailable', async () => {
    const down = new Error('connect ECONNREFUSED 10.0.0.5:6379');
    const broken: Pick<Counters, 'add' | 'get' | 'rate'> = {
      add: () => Promise.reject(down),
      get: () => Promise.reject(down),
      rate: () => Promise.reject(down),
    };
    const memory = createMemoryCounters({ clock: new ManualClock() });
    await memory.close();
    for (const counters of [broken, memory]) {
      const throttle = createLoginThrottle({ counters, policy: POLICY });
      for (const attempt of [
        () => throttle.check(EMAIL, IP),
        () => throttle.fail(EMAIL, IP),
        () => throttle.succeed(EMAIL),
      ]) {
        await assert.rejects(attempt(), (err) => {
          assert.ok(err instanceof PortcullisError);
          assert.equal(err.code, 'service_unavailable');
          assert.equal(err.status, 503);
          assert.ok(!err.message.includes('10.0.0.5') && !err.message.includes(EMAIL));
          return true;
        });
      }
    }
  });

  it('a burst of parallel guesses cannot all pass before their failures are counted', async () => {
    const { throttle } = setup();
    let verified = 0;
    const guess = () =>
      throttle.attempt(EMAIL, IP, async () => {
        verified += 1;
        await new Promise((resolve) => setTimeout(resolve, 5)); // a password hash takes time
        return false;
      });
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, guess));
    // The free failures run at once; past them, one at a time — and that one must then wait.
    assert.equal(verified, POLICY.freeFailures + 1);
    for (const o of outcomes) {
      if (o.status === 'fulfilled') assert.equal(o.value, false);
      else assert.equal((o.reason as PortcullisError).code, 'too_many_login_failures');
    }
    assert.equal(await waitOf(throttle.check(EMAIL, IP)), 1, 'the failures were counted');
  });

  it('turns outliving their attempts (a stalled check, a crashed replica) never add parallel guesses', async () => {
    const { clock, throttle } = setup();
    // Free failures, checked slowly: their turns expire by time before they are given back.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const slow = Array.from({ length: POLICY.freeFailures + 1 }, () =>
      throttle.attempt(EMAIL, IP, async () => {
        await gate;
        return false;
      }),
    );
    clock.advance(120_000);
    open();
    await Promise.allSettled(slow);
    clock.advance(60_000); // past the wait the last failure imposed
    let verified = 0;
    const burst = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        throttle.attempt(EMAIL, IP, async () => {
          verified += 1;
          await new Promise((resolve) => setTimeout(resolve, 5));
          return false;
        }),
      ),
    );
    assert.equal(verified, 1, 'past the free failures: one at a time, late give-backs or not');
    assert.equal(burst.filter((r) => r.status === 'rejected').length, 19);
  });

  it('an attempt that throws is not a failure, and gives its turn back', async () => {
    const { throttle } = setup();
    for (let i = 0; i < POLICY.freeFailures; i++)
      assert.equal(await throttle.attempt(EMAIL, IP, async () => false), false);
    await assert.rejects(
      throttle.attempt(EMAIL, IP, () => Promise.reject(new Error('store down'))),
      /store down/,
    );
    assert.equal(await waitOf(throttle.check(EMAIL, IP)), 0, 'not counted');
    assert.equal(
      await throttle.attempt(EMAIL, IP, async () => true),
      true,
      'not held by a stale reservation',
    );
    assert.equal(await throttle.attempt(EMAIL, IP, async () => false), false);
    assert.equal(await waitOf(throttle.check(EMAIL, IP)), 1);
  });
});

const REDIS_URL = process.env.TEST_REDIS_URL;

describe('login throttle (Redis counters, two replicas)', {
  skip: !REDIS_URL && 'TEST_REDIS_URL is not set',
}, () => {
  const prefix = `pcx-test:${randomUUID()}:`;
  const opened: Counters[] = [];
  after(async () => {
    await Promise.all(opened.map((c) => c.close()));
    if (REDIS_URL) await cleanRedisPrefix(REDIS_URL, prefix);
  });

  it('shares failures, waits and the lock across replicas, and fails closed when Redis is gone', async () => {
    // Redis counts on its own clock, so this runs in real (short) time: every wait is capped by lockMs.
    const policy: LoginPolicy = {
      freeFailures: 1,
      accountLockAfter: 4,
      ipLockAfter: 100,
      windowMs: 60_000,
      lockMs: 400,
    };
    const open = () => createRedisCounters({ url: REDIS_URL ?? '', logger: quietLogger(), prefix });
    const [a, b] = await Promise.all([open(), open()]);
    opened.push(a, b);
    const locks: LoginLock[] = [];
    const replicaA = createLoginThrottle({ counters: a, policy, onLocked: (l) => locks.push(l) });
    const replicaB = createLoginThrottle({ counters: b, policy, onLocked: (l) => locks.push(l) });

    await replicaA.fail(EMAIL, IP);
    await replicaB.check(EMAIL, IP);
    await replicaB.fail(EMAIL, IP);
    assert.equal(await waitOf(replicaA.check(EMAIL, IP)), 1, 'B’s failure makes A wait');
    await sleep(450);
    await replicaA.check(EMAIL, IP);
    await replicaA.fail(EMAIL, IP);
    await sleep(450);
    await replicaB.fail(EMAIL, IP);
    assert.deepEqual(
      locks.map((l) => [l.subject, l.failures]),
      [['account', 4]],
    );
    assert.ok((await waitOf(replicaA.check(EMAIL, '192.0.2.9'))) > 0, 'locked on every replica, from any IP');
    await sleep(450);
    assert.equal(await waitOf(replicaA.check(EMAIL, IP)), 0, 'the lock ends');
    await replicaB.succeed(EMAIL);
    await replicaA.fail(EMAIL, '192.0.2.10');
    assert.equal(await waitOf(replicaB.check(EMAIL, '192.0.2.10')), 0, 'success cleared the account');

    await a.close();
    await assert.rejects(
      replicaA.check(EMAIL, IP),
      (err) => err instanceof PortcullisError && err.status === 503,
    );
  });
});
