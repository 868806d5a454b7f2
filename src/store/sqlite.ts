import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  type SqliteStatement,
  sql,
} from 'kysely';
import type pino from 'pino';
import type { Config } from '../config/schema.ts';
import { describeError, StoreUnavailableError } from './errors.ts';
import { runMigrations } from './migrate.ts';
import type { Database } from './schema.ts';
import type { MigrationReport, Store } from './types.ts';

export const SQLITE_FILE_NAME = 'portcullis.db';

/** How long a statement waits for another process's write lock (e.g. the CLI while `serve` runs). */
const BUSY_TIMEOUT_MS = 5_000;
/** How long migrate() keeps trying to take the write lock from another process that is migrating. */
const MIGRATION_LOCK_WAIT_MS = 60_000;
const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely's `SqliteDatabase` over `node:sqlite`'s DatabaseSync. Prepared statements are cached by SQL
 * text because preparing costs more than running the small queries on the request path.
 */
export class NodeSqliteDatabase implements SqliteDatabase {
  readonly raw: DatabaseSync;
  readonly #cache = new Map<string, SqliteStatement>();

  constructor(raw: DatabaseSync) {
    this.raw = raw;
  }

  prepare(text: string): SqliteStatement {
    const hit = this.#cache.get(text);
    if (hit) {
      // Re-insert so the Map's insertion order doubles as least-recently-used order.
      this.#cache.delete(text);
      this.#cache.set(text, hit);
      return hit;
    }
    const statement = wrapStatement(this.raw.prepare(text));
    this.#cache.set(text, statement);
    if (this.#cache.size > STATEMENT_CACHE_SIZE) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    return statement;
  }

  close(): void {
    this.#cache.clear();
    if (this.raw.isOpen) this.raw.close();
  }
}

function wrapStatement(statement: StatementSync): SqliteStatement {
  // A statement that returns columns is a reader (SELECT, RETURNING, most PRAGMAs); Kysely calls
  // all() on readers and run() on writers.
  const reader = statement.columns().length > 0;
  const params = (p: ReadonlyArray<unknown>) => p as SQLInputValue[];
  return {
    reader,
    // node:sqlite rows have a null prototype; copy them so rows look the same as pg's in both dialects.
    all: (p) => statement.all(...params(p)).map((row) => ({ ...row })),
    run: (p) => statement.run(...params(p)),
    iterate: (p) => statement.iterate(...params(p)),
  };
}

/**
 * Every transaction starts with BEGIN IMMEDIATE instead of Kysely's plain (deferred) BEGIN: a
 * deferred transaction that reads and then writes fails with SQLITE_BUSY at once if another process
 * wrote in between, while IMMEDIATE takes the write lock up front and waits for it (busy_timeout).
 * Within this process Kysely already serialises everything on the one connection, so it costs nothing.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class PortcullisSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

export async function openSqliteStore(opts: { config: Config; logger: pino.Logger }): Promise<Store> {
  const dir = resolve(opts.config.dataDir);
  const file = join(dir, SQLITE_FILE_NAME);
  const logger = opts.logger.child({ store: 'sqlite' });
  let database: NodeSqliteDatabase;
  try {
    database = new NodeSqliteDatabase(await openDatabaseFile(dir, file));
  } catch (err) {
    throw new StoreUnavailableError(`Cannot open the SQLite database at ${file}: ${describeError(err)}`, {
      cause: err,
    });
  }
  if ((statSync(dir).mode & 0o077) !== 0) {
    logger.warn({ dir }, 'data folder is readable by other users; chmod 700 it');
  }
  const db = new Kysely<Database>({ dialect: new PortcullisSqliteDialect({ database }) });
  logger.info({ file }, 'store opened');

  return {
    dialect: 'sqlite',
    db,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async migrate() {
      const report = await migrateUnderWriteLock(db, database.raw);
      if (report.applied.length > 0) logger.info({ applied: report.applied }, 'migrations applied');
      return report;
    },
    async close() {
      await db.destroy();
      // Kysely only closes a database it has used; close it ourselves if no query ever ran.
      database.close();
    },
  };
}

async function openDatabaseFile(dir: string, file: string): Promise<DatabaseSync> {
  // 0700/0600: the file holds wrapped keys and key hashes; other local users have no business reading it.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  closeSync(openSync(file, 'a', 0o600));
  const raw = new DatabaseSync(file, {
    timeout: BUSY_TIMEOUT_MS,
    enableForeignKeyConstraints: true,
    // Refuses statements that could corrupt the file (writable_schema, ...) even if SQL were injected.
    defensive: true,
  });
  try {
    // WAL: readers never block the writer and a commit is one append to the log; after a crash the
    // log is replayed or discarded whole, so the file is never half-written. Switching a fresh file
    // to WAL needs an exclusive lock and SQLite reports SQLITE_BUSY without waiting when another
    // process is doing the same, so retry (seen with processes starting together).
    const mode = await retryWhileBusy(BUSY_TIMEOUT_MS, () => raw.prepare('pragma journal_mode = wal').get());
    if (mode?.journal_mode !== 'wal') throw new Error(`journal_mode stayed ${String(mode?.journal_mode)}`);
    // FULL, not NORMAL: with NORMAL a WAL commit survives kill -9 (it is in the OS page cache) but not
    // power loss or a kernel crash, and a gateway must not forget a key revocation or an audit entry
    // it already acknowledged. FULL fsyncs the log on every commit; hot writers should batch rows
    // into one transaction rather than weaken this.
    raw.exec('pragma synchronous = full');
    raw.exec('pragma foreign_keys = on');
    // Deleted rows (purged content, pruned audit entries, revoked secrets) are overwritten with
    // zeros instead of lingering in free pages of the file (https://sqlite.org/pragma.html#pragma_secure_delete).
    raw.exec('pragma secure_delete = on');
    raw.exec(`pragma busy_timeout = ${BUSY_TIMEOUT_MS}`);
  } catch (err) {
    raw.close();
    throw err;
  }
  return raw;
}

/**
 * Kysely's SQLite adapter takes no migration lock (it assumes one process), so two processes
 * starting together could both apply a migration. Instead the whole run happens inside one
 * BEGIN IMMEDIATE transaction: the second process waits for the first to commit, then finds nothing
 * pending. The lock is polled with busy_timeout off and an async sleep, so waiting never blocks
 * this process's event loop (or a second Store in the same process, which would deadlock).
 */
async function migrateUnderWriteLock(db: Kysely<Database>, raw: DatabaseSync): Promise<MigrationReport> {
  return db.connection().execute(async (conn) => {
    await beginImmediate(conn, raw);
    try {
      const report = await runMigrations(conn, 'sqlite');
      await sql`commit`.execute(conn);
      return report;
    } catch (err) {
      if (raw.isTransaction) await sql`rollback`.execute(conn);
      throw err;
    }
  });
}

async function beginImmediate(conn: Kysely<Database>, raw: DatabaseSync): Promise<void> {
  raw.exec('pragma busy_timeout = 0');
  try {
    await retryWhileBusy(MIGRATION_LOCK_WAIT_MS, () => sql`begin immediate`.execute(conn));
  } finally {
    raw.exec(`pragma busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
}

/** Runs `attempt` until it does not fail with SQLITE_BUSY/LOCKED, sleeping (not spinning) in between. */
async function retryWhileBusy<T>(maxWaitMs: number, attempt: () => T | Promise<T>): Promise<T> {
  const deadline = Date.now() + maxWaitMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
    try {
      return await attempt();
    } catch (err) {
      if (!isBusy(err) || Date.now() > deadline) throw err;
    }
    await sleep(wait);
  }
}

function isBusy(err: unknown): boolean {
  const errcode = (err as { errcode?: unknown }).errcode;
  return typeof errcode === 'number' && ((errcode & 0xff) === 5 || (errcode & 0xff) === 6);
}
