import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/types.ts';
import { MasterKeyError } from './errors.ts';

/**
 * The master key ring: every configured version, the first one current. Keys are held as
 * KeyObjects, not Buffers, so a ring that ends up in a log line or JSON.stringify prints no bytes.
 */
export interface MasterKey {
  readonly version: number;
  readonly key: KeyObject;
}

export interface MasterKeyRing {
  /** Wraps every new or re-wrapped data key. */
  readonly current: MasterKey;
  /** Every configured version, current first. Older ones only unwrap, during a rotation. */
  readonly keys: readonly MasterKey[];
  get(version: number): MasterKey | undefined;
}

/** The part of a pino logger this module uses; any pino Logger fits. */
export interface SecretsLogger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

export const KEY_BYTES = 32;
export const KEY_FILE_NAME = 'master.key';
const CHECK_PREFIX = 'secrets.master_key_check.v';
const CHECK_INPUT = 'portcullis master key check';
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const VERSIONED = /^v([1-9][0-9]{0,5}):(.*)$/s;

/**
 * Parses the master key setting: base64 of exactly 32 bytes (version 1), or a list
 * "v2:<b64>,v1:<b64>" whose first entry is current. Errors name the entry's position, never its value.
 */
export function parseMasterKeys(value: string): MasterKeyRing {
  const entries = value
    .trim()
    .split(',')
    .map((e) => e.trim());
  // ':' is in neither base64 alphabet, so a value without one is a bare key (even one starting with "v").
  if (entries.length === 1 && entries[0] !== undefined && !entries[0].includes(':')) {
    return makeRing([{ version: 1, key: decodeKey(entries[0], 'the master key') }]);
  }
  const keys: MasterKey[] = [];
  const seen = new Set<number>();
  entries.forEach((entry, i) => {
    const where = `master key entry ${i + 1}`;
    const m = VERSIONED.exec(entry);
    if (!m || m[1] === undefined || m[2] === undefined) {
      throw invalid(`${where} must look like "v<N>:<base64 of 32 bytes>" (e.g. "v2:…,v1:…")`);
    }
    const version = Number(m[1]);
    if (seen.has(version)) throw invalid(`${where} repeats version v${version}`);
    seen.add(version);
    keys.push({ version, key: decodeKey(m[2], where) });
  });
  return makeRing(keys);
}

function decodeKey(b64: string, where: string): KeyObject {
  const bytes = BASE64.test(b64) ? Buffer.from(b64, 'base64') : undefined;
  if (bytes?.length !== KEY_BYTES) {
    bytes?.fill(0);
    throw invalid(
      `${where} is not base64 of exactly ${KEY_BYTES} bytes (generate one with: openssl rand -base64 32)`,
    );
  }
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
}

function invalid(message: string): MasterKeyError {
  return new MasterKeyError('MASTER_KEY_INVALID', message);
}

function makeRing(keys: MasterKey[]): MasterKeyRing {
  const [current] = keys;
  if (!current) throw invalid('the master key is empty');
  const byVersion = new Map(keys.map((k) => [k.version, k]));
  return Object.freeze({ current, keys: Object.freeze([...keys]), get: (v: number) => byVersion.get(v) });
}

/** HMAC-SHA256 under the key: proves a key is the right one without storing anything that reveals it. */
export function masterKeyCheck(key: MasterKey): string {
  return createHmac('sha256', key.key).update(CHECK_INPUT).digest('base64');
}

export interface ResolveMasterKeysOptions {
  config: Pick<Config, 'masterKey'>;
  store: Store;
  logger: SecretsLogger;
  /** Where the generated local key lives: `<dataDir>/master.key`. */
  dataDir: string;
  clock?: Clock;
}

/**
 * Finds the master keys for this process and proves them against the database before anything
 * is decrypted, so a wrong key stops the boot with a clear message instead of failing per request.
 *
 * Order: the configured key (PORTCULLIS_MASTER_KEY / _FILE); else `<dataDir>/master.key`; else,
 * only on the very first start of an embedded SQLite store, a freshly generated key file.
 */
export async function resolveMasterKeys(options: ResolveMasterKeysOptions): Promise<MasterKeyRing> {
  const { config, store, logger, dataDir, clock = systemClock } = options;
  const ring = config.masterKey
    ? parseMasterKeys(config.masterKey)
    : await localKeyRing(store, logger, dataDir);
  await verifyAgainstStore(ring, store, clock);
  return ring;
}

async function localKeyRing(store: Store, logger: SecretsLogger, dataDir: string): Promise<MasterKeyRing> {
  const keyFile = join(dataDir, KEY_FILE_NAME);
  if (store.dialect !== 'sqlite') {
    throw new MasterKeyError(
      'MASTER_KEY_MISSING',
      'no master key configured: set PORTCULLIS_MASTER_KEY or PORTCULLIS_MASTER_KEY_FILE ' +
        '(a local key file is generated only for the embedded SQLite store)',
    );
  }
  const existing = await readKeyFile(keyFile);
  if (existing !== undefined) return parseKeyFile(existing, keyFile);

  if (await holdsEncryptedState(store)) {
    throw new MasterKeyError(
      'MASTER_KEY_MISSING',
      `the database holds encrypted secrets or a master key check, but no master key is configured and ${keyFile} ` +
        'does not exist: supply the original key via PORTCULLIS_MASTER_KEY or PORTCULLIS_MASTER_KEY_FILE. ' +
        'Refusing to generate a new key, which would leave the existing secrets unreadable.',
    );
  }

  const raw = randomBytes(KEY_BYTES);
  const encoded = `${raw.toString('base64')}\n`;
  raw.fill(0);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  try {
    // 'wx': exclusive create, so two processes starting together never both write a key.
    const handle = await open(keyFile, 'wx', 0o600);
    try {
      await handle.writeFile(encoded);
      // The key must be on disk before the first secret encrypted under it is.
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const raced = await readKeyFile(keyFile);
    if (raced === undefined) throw err;
    return parseKeyFile(raced, keyFile);
  }
  logger.warn(
    { keyFile },
    'GENERATED A LOCAL MASTER KEY for encrypting secrets at rest. Fine for a laptop or a trial; ' +
      'production must supply its own key via PORTCULLIS_MASTER_KEY or PORTCULLIS_MASTER_KEY_FILE, ' +
      'kept apart from the database and backed up: whoever holds the database and this file holds every secret, ' +
      'and losing the file loses every secret.',
  );
  return parseMasterKeys(encoded);
}

/** Reads the key file, or undefined when it does not exist. Refuses files others could read. */
async function readKeyFile(keyFile: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    // O_NOFOLLOW, then fstat the open file: the checks apply to exactly what is read.
    handle = await open(keyFile, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw unsafe(keyFile, 'it is a symbolic link');
    throw err;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw unsafe(keyFile, 'it is not a regular file');
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw unsafe(keyFile, `its mode ${mode} lets other users read it; run: chmod 600 ${keyFile}`);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function unsafe(keyFile: string, reason: string): MasterKeyError {
  return new MasterKeyError('MASTER_KEY_FILE_UNSAFE', `refusing to use ${keyFile}: ${reason}`);
}

function parseKeyFile(content: string, keyFile: string): MasterKeyRing {
  try {
    return parseMasterKeys(content);
  } catch (err) {
    if (err instanceof MasterKeyError) {
      throw new MasterKeyError(err.code, `${keyFile}: ${err.message}`);
    }
    throw err;
  }
}

async function holdsEncryptedState(store: Store): Promise<boolean> {
  const check = await store.db
    .selectFrom('meta')
    .select('key')
    .where('key', 'like', `${CHECK_PREFIX}%`)
    .limit(1)
    .executeTakeFirst();
  if (check) return true;
  const secret = await store.db.selectFrom('secrets').select('id').limit(1).executeTakeFirst();
  return secret !== undefined;
}

/**
 * Proves each configured version against its stored check value (recording it on first sight),
 * and that every version the secrets are wrapped with is configured.
 */
async function verifyAgainstStore(ring: MasterKeyRing, store: Store, clock: Clock): Promise<void> {
  for (const key of ring.keys) {
    const expected = Buffer.from(masterKeyCheck(key), 'base64');
    // Insert-if-absent, then read back: replicas booting together agree on one value.
    await store.db
      .insertInto('meta')
      .values({
        key: `${CHECK_PREFIX}${key.version}`,
        value: expected.toString('base64'),
        updated_at: clock.now(),
      })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    const row = await store.db
      .selectFrom('meta')
      .select('value')
      .where('key', '=', `${CHECK_PREFIX}${key.version}`)
      .executeTakeFirstOrThrow();
    const stored = Buffer.from(row.value, 'base64');
    if (stored.length !== expected.length || !timingSafeEqual(stored, expected)) {
      throw new MasterKeyError(
        'MASTER_KEY_MISMATCH',
        `master key v${key.version} does not match the key this database was encrypted with`,
      );
    }
  }

  const used = await store.db.selectFrom('secrets').select('master_key_version').distinct().execute();
  const missing = used.map((r) => Number(r.master_key_version)).filter((v) => !ring.get(v));
  if (missing.length > 0) {
    const list = missing
      .sort((a, b) => b - a)
      .map((v) => `v${v}`)
      .join(', ');
    throw new MasterKeyError(
      'MASTER_KEY_VERSION_MISSING',
      `secrets are wrapped with master key ${list}, which is not configured: keep it in the list ` +
        `(e.g. "v${ring.current.version}:<new>,${missing.map((v) => `v${v}:<old>`).join(',')}") ` +
        'until `portcullis secrets rotate-master` has finished',
    );
  }
}
