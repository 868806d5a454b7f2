import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type pino from 'pino';
import type { Config } from '../config/schema.ts';
import { describeError, StoreUnavailableError } from './errors.ts';
import { runMigrations } from './migrate.ts';
import type { Database } from './schema.ts';
import type { Store } from './types.ts';

/** An unreachable database should stop `serve` within seconds, not hang it. */
const CONNECT_TIMEOUT_MS = 5_000;
/** /readyz must answer promptly even when an established connection has gone silent. */
const PING_TIMEOUT_MS = 3_000;
const INT8_OID = 20;

/**
 * int8 (BIGINT, and every count(*)) comes back as a JS number, as in SQLite, since our BIGINTs are
 * epoch milliseconds and counters far below 2^53. Set per pool, not on the global `pg.types`,
 * so nothing else in the process is affected. A value beyond 2^53 fails the query rather than
 * being silently rounded (pg reports a parser exception as the query's error).
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID && format !== 'binary') {
      return (value: string) => {
        const n = Number(value);
        if (!Number.isSafeInteger(n))
          throw new RangeError('int8 value is outside the JavaScript safe integer range');
        return n;
      };
    }
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** `host:port/database`, for messages and logs: never the user's password or the query string. */
export function describePostgresTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

export async function openPostgresStore(opts: { config: Config; logger: pino.Logger }): Promise<Store> {
  const url = opts.config.databaseUrl;
  if (!url) throw new Error('openPostgresStore needs config.databaseUrl');
  const target = describePostgresTarget(url);
  const logger = opts.logger.child({ store: 'postgres', target });

  const pool = new pg.Pool({
    connectionString: url,
    // Overridden by `?application_name=` in the URL; lets an operator see our sessions in pg_stat_activity.
    application_name: 'portcullis',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    types,
  });
  // An idle client whose server goes away emits 'error' on the pool; without a listener that
  // would crash the process. The pool drops the client and connects afresh on the next query.
  pool.on('error', (err) => {
    logger.warn({ reason: describeError(err) }, 'idle PostgreSQL connection lost; it will be replaced');
  });

  const ping = async () => {
    // query_timeout is a per-query option of node-postgres that its type definitions omit.
    const query = { text: 'select 1', query_timeout: PING_TIMEOUT_MS };
    await pool.query(query);
  };

  try {
    await ping();
  } catch (err) {
    await pool.end().catch(() => {});
    throw new StoreUnavailableError(`Cannot reach PostgreSQL at ${target}: ${describeError(err)}`, {
      cause: err,
    });
  }

  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  logger.info('store opened');

  return {
    dialect: 'postgres',
    db,
    ping,
    async migrate() {
      // Kysely's migrator looks for its tables in every schema unless told which one; pin it to
      // ours so a database shared by several deployments (one schema each) keeps them apart.
      const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
      const schema = rows[0]?.schema;
      if (!schema)
        throw new Error('PostgreSQL search_path names no existing schema; create it or fix the URL');
      // Kysely holds a PostgreSQL advisory lock for the run, so replicas starting together queue up.
      const report = await runMigrations(db, 'postgres', schema);
      if (report.applied.length > 0) logger.info({ applied: report.applied }, 'migrations applied');
      return report;
    },
    async close() {
      await db.destroy();
      // Kysely ends the pool only if a query ever went through it; ping() uses the pool directly.
      if (!pool.ended) await pool.end();
    },
  };
}
