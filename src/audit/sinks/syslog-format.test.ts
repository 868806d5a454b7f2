import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditEntry } from '../chain.ts';
import { asciiJson, formatSyslogMessage, octetCounted, severityOf } from './syslog-format.ts';

function entry(over: Partial<AuditEntry> = {}): AuditEntry {
  return {
    seq: 7,
    time: Date.UTC(2025, 0, 31, 12, 0, 0, 123),
    actor: 'cli:ops',
    workspace: 'wsp_1',
    action: 'key.created',
    target: 'key_1',
    clientIp: null,
    userAgent: 'portcullis-cli',
    outcome: 'success',
    requestId: null,
    details: { name: 'bot' },
    prevHash: '0'.repeat(64),
    hash: 'a'.repeat(64),
    ...over,
  };
}

describe('RFC 5424 formatting of audit entries', () => {
  it('writes PRI (authpriv), version 1, the entry time, app name, MSGID and the entry as JSON', () => {
    const m = formatSyslogMessage(entry(), 'gw-1.example');
    const prefix = '<86>1 2025-01-31T12:00:00.123Z gw-1.example portcullis - key.created - ';
    assert.ok(m.startsWith(prefix), m);
    assert.deepEqual(JSON.parse(m.slice(prefix.length)), entry());
  });

  it('maps outcomes to severities: success 6, failure 5, denied 4', () => {
    assert.equal(severityOf('success'), 6);
    assert.equal(severityOf('failure'), 5);
    assert.equal(severityOf('denied'), 4);
    assert.ok(formatSyslogMessage(entry({ outcome: 'denied' }), 'h').startsWith('<84>1 '));
    assert.ok(formatSyslogMessage(entry({ outcome: 'failure' }), 'h').startsWith('<85>1 '));
  });

  it('cuts MSGID at 32 characters and keeps HOSTNAME printable ASCII', () => {
    const action = 'workspace.content_logging_disabled';
    const m = formatSyslogMessage(entry({ action }), 'bad host\u00e9');
    const fields = m.split(' ');
    assert.equal(fields[2], 'bad_host_');
    assert.equal(fields[5], action.slice(0, 32));
    assert.equal(JSON.parse(fields.slice(7).join(' ')).action, action);
    assert.equal(formatSyslogMessage(entry(), '').split(' ')[2], '-');
  });

  it('escapes non-ASCII in MSG: one line of ASCII that parses back to the same entry', () => {
    const e = entry({ target: 'Zürich \u2028 🦀', details: { name: 'line\nbreak' } });
    const json = asciiJson(e);
    assert.match(json, /^[\x20-\x7e]+$/);
    assert.deepEqual(JSON.parse(json), e);
  });

  it('frames with the byte length (RFC 6587 octet counting), not the character count', () => {
    const framed = octetCounted('<86>1 é');
    assert.equal(framed.toString('utf8'), '8 <86>1 é');
  });
});
