import { ROLE_MATRIX } from './rbac.ts';

/**
 * The rendered API reference (issue 5 item 7): the OpenAPI document as one static HTML page, built
 * on the server from the same document, with no script at all, so it works under the strict CSP
 * every HTML answer carries (src/app.ts) and needs no third-party viewer.
 */

export const REFERENCE_PATH = '/admin/api/docs';
export const REFERENCE_CSS_PATH = '/admin/api/docs.css';

const esc = (text: unknown): string => String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

type Json = Record<string, unknown>;

/** One schema's properties as a compact list: name, type, required, description. */
function fields(schema: Json | undefined): string {
  const props = (schema?.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema?.required as string[] | undefined) ?? []);
  const names = Object.keys(props);
  if (names.length === 0) return '';
  const rows = names.map((name) => {
    const p = props[name] ?? {};
    const type = typeOf(p);
    return `<tr><td><code>${esc(name)}</code>${required.has(name) ? ' <span class="req">required</span>' : ''}</td><td>${esc(type)}</td><td>${esc(p.description ?? '')}</td></tr>`;
  });
  return `<table><thead><tr><th>field</th><th>type</th><th>about</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function typeOf(p: Json): string {
  if (typeof p.type === 'string')
    return p.type === 'array' ? `array of ${typeOf((p.items ?? {}) as Json)}` : p.type;
  if (p.const !== undefined) return JSON.stringify(p.const);
  const union = (p.anyOf ?? p.oneOf) as Json[] | undefined;
  if (Array.isArray(union)) return union.map(typeOf).join(' | ');
  return 'object';
}

function who(action: unknown, security: unknown): string {
  if (Array.isArray(security) && security.length === 0) return 'no credentials';
  if (typeof action !== 'string' || !(action in ROLE_MATRIX)) return 'a logged-in user (about themselves)';
  const rule = ROLE_MATRIX[action as keyof typeof ROLE_MATRIX];
  const roles = (['owner', 'admin', 'user'] as const)
    .filter((r) => rule[r] !== 'none')
    .map((r) => `${r[0]?.toUpperCase()}${r.slice(1)}${rule[r] === 'own' ? ' (own)' : ''}`);
  const key = rule.key === null ? 'no API key' : `API key with ${rule.key}`;
  return `<code>${esc(action)}</code>: ${esc(roles.join(', '))}; ${esc(key)}`;
}

export function renderReference(doc: Json): string {
  const info = (doc.info ?? {}) as Json;
  const tags = (doc.tags ?? []) as { name: string; description?: string }[];
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Json>>;
  const byTag = new Map<string, string[]>();
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = ((op.tags as string[] | undefined) ?? ['other'])[0] ?? 'other';
      const body = ((op.requestBody as Json | undefined)?.content as Json | undefined)?.[
        'application/json'
      ] as Json | undefined;
      const okCode = Object.keys((op.responses ?? {}) as Json).find((c) => c.startsWith('2'));
      const ok = okCode ? (((op.responses as Json)[okCode] as Json).content as Json | undefined) : undefined;
      const okSchema = (ok?.['application/json'] as Json | undefined)?.schema as Json | undefined;
      const params = ((op.parameters ?? []) as Json[])
        .map(
          (p) =>
            `<code>${esc(p.name)}</code> (${esc(p.in)})${p.description ? ` — ${esc(p.description)}` : ''}`,
        )
        .join('<br>');
      const html = [
        `<section class="op" id="${esc(op.operationId)}">`,
        `<h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>`,
        `<p>${esc(op.summary)}</p>`,
        op.description ? `<p class="d">${esc(op.description)}</p>` : '',
        `<p class="who">Who: ${who(op['x-portcullis-action'], op.security)}</p>`,
        params ? `<p>Parameters: ${params}</p>` : '',
        body ? `<h4>Request body</h4>${fields(body.schema as Json)}` : '',
        okCode ? `<h4>${esc(okCode)} response</h4>${fields(okSchema)}` : '',
        '</section>',
      ].join('');
      byTag.set(tag, [...(byTag.get(tag) ?? []), html]);
    }
  }
  const sections = tags
    .filter((t) => byTag.has(t.name))
    .map(
      (t) =>
        `<h2 id="tag-${esc(t.name)}">${esc(t.name)}</h2><p>${esc(t.description ?? '')}</p>${(byTag.get(t.name) ?? []).join('')}`,
    );
  const nav = tags
    .filter((t) => byTag.has(t.name))
    .map((t) => `<a href="#tag-${esc(t.name)}">${esc(t.name)}</a>`)
    .join(' · ');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(info.title)}</title><link rel="stylesheet" href="${REFERENCE_CSS_PATH}"></head><body><header><h1>${esc(info.title)} <small>${esc(info.version)}</small></h1><p>${esc(info.description)}</p><p>Machine-readable: <a href="/admin/api/openapi.json">openapi.json</a> (OpenAPI 3.1). Errors: the OpenAI envelope, codes in docs/errors.md.</p><nav>${nav}</nav></header><main>${sections.join('')}</main></body></html>`;
}

export const REFERENCE_CSS = `body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem 1.5rem;color:#1d1d1f}
h1 small{font-size:.55em;color:#666}h2{border-bottom:2px solid #ddd;margin-top:2.5rem;text-transform:capitalize}
.op{border:1px solid #e2e2e2;border-radius:6px;padding:.4rem 1rem;margin:1rem 0}.op h3{font-size:1rem;margin:.4rem 0}
.m{display:inline-block;min-width:4.2em;text-align:center;border-radius:4px;color:#fff;font-size:.8em;padding:.1em .4em}
.get{background:#2b7a3d}.post{background:#1f5fa8}.put,.patch{background:#9a6700}.delete{background:#b42318}
.who{color:#444;font-size:.9em}.d{color:#333}table{border-collapse:collapse;width:100%;font-size:.9em}
td,th{border-top:1px solid #eee;padding:.25rem .4rem;text-align:left;vertical-align:top}.req{color:#b42318;font-size:.8em}
code{font-family:ui-monospace,monospace;font-size:.92em}nav a{margin-right:.2rem}`;
