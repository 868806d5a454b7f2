import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { isStoreUnavailableError, StoreUnavailableError } from './errors.ts';

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function sqliteError(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected node:sqlite to throw');
}

test('connection-level PostgreSQL failures are unavailable', () => {
  assert.ok(isStoreUnavailableError(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')));
  assert.ok(isStoreUnavailableError(new Error('Connection terminated unexpectedly')));
  assert.ok(isStoreUnavailableError(new Error('timeout exceeded when trying to connect')));
  assert.ok(
    isStoreUnavailableError(withCode('terminating connection due to administrator command', '57P01')),
  );
  assert.ok(isStoreUnavailableError(withCode('the database system is starting up', '57P03')));
  assert.ok(isStoreUnavailableError(withCode('connection failure', '08006')));
  assert.ok(isStoreUnavailableError(new AggregateError([withCode('', 'ECONNREFUSED')], '')));
  assert.ok(isStoreUnavailableError(new Error('wrapped', { cause: withCode('x', 'ECONNRESET') })));
  assert.ok(isStoreUnavailableError(new StoreUnavailableError('Cannot reach PostgreSQL')));
});

test('query mistakes are not unavailability', () => {
  assert.equal(isStoreUnavailableError(withCode('duplicate key value', '23505')), false);
  assert.equal(isStoreUnavailableError(withCode('syntax error', '42601')), false);
  assert.equal(isStoreUnavailableError(new Error('boom')), false);
  assert.equal(isStoreUnavailableError('ECONNREFUSED'), false);
  assert.equal(isStoreUnavailableError(null), false);
});

test('real node:sqlite errors: busy and closed are unavailable; constraint and syntax are not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-errors-'));
  const file = join(dir, 'x.db');
  const a = new DatabaseSync(file, { timeout: 0 });
  const b = new DatabaseSync(file, { timeout: 0 });
  try {
    a.exec('create table t (id text primary key)');
    a.exec('begin immediate');
    assert.ok(isStoreUnavailableError(sqliteError(() => b.exec('begin immediate'))), 'SQLITE_BUSY');
    a.exec('rollback');
    a.exec("insert into t values ('x')");
    assert.equal(isStoreUnavailableError(sqliteError(() => a.exec("insert into t values ('x')"))), false);
    assert.equal(isStoreUnavailableError(sqliteError(() => a.exec('selec 1'))), false);
    a.close();
    assert.ok(isStoreUnavailableError(sqliteError(() => a.exec('select 1'))), 'closed database');
  } finally {
    if (a.isOpen) a.close();
    b.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
