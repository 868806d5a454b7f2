import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A minimal OpenTelemetry collector for tests: accepts OTLP/HTTP exports on any path, keeps the raw
 * bytes (to search them for text that must never leave) and, for JSON exports, the spans.
 */
export interface CollectedSpan {
  name: string;
  /** OTLP SpanKind: 3 is CLIENT. */
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  status: { code?: number; message?: string };
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

export interface OtlpCollector {
  url: string;
  /** Every export as received, in order. */
  exports: Array<{ path: string; headers: IncomingHttpHeaders; body: Buffer }>;
  /** All bytes received, as latin1 text (so nothing is decoded away). */
  raw(): string;
  /** Spans of the JSON exports. */
  spans(): CollectedSpan[];
  close(): Promise<void>;
}

interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
}
type KeyValues = Array<{ key: string; value: AnyValue }> | undefined;

function anyValue(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(anyValue);
  return undefined;
}

const attributes = (kvs: KeyValues): Record<string, unknown> =>
  Object.fromEntries((kvs ?? []).map(({ key, value }) => [key, anyValue(value)]));

export async function startOtlpCollector(host = '127.0.0.1'): Promise<OtlpCollector> {
  const exports: OtlpCollector['exports'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      exports.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/v1/traces`,
    exports,
    raw: () => exports.map((e) => e.body.toString('latin1')).join('\n'),
    spans() {
      const out: CollectedSpan[] = [];
      for (const e of exports) {
        if (!String(e.headers['content-type']).startsWith('application/json')) continue;
        const body = JSON.parse(e.body.toString('utf8')) as {
          resourceSpans?: Array<{
            resource?: { attributes?: KeyValues };
            scopeSpans?: Array<{
              spans?: Array<{
                name: string;
                kind: number;
                traceId: string;
                spanId: string;
                parentSpanId?: string;
                status?: { code?: number; message?: string };
                attributes?: KeyValues;
              }>;
            }>;
          }>;
        };
        for (const rs of body.resourceSpans ?? []) {
          const resource = attributes(rs.resource?.attributes);
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              out.push({
                name: s.name,
                kind: s.kind,
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? '',
                status: s.status ?? {},
                attributes: attributes(s.attributes),
                resource,
              });
            }
          }
        }
      }
      return out;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
