import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per origin (a file
 * of ours, a package, Node internals), so a report can say where the gateway's CPU goes.
 */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  functions: ProfileRow[];
  origins: ProfileRow[];
}

/** Where a function comes from: `src/…` file, npm package, node internals, or a V8 pseudo-frame. */
function originOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg?.[1]) return `npm:${pkg[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  const ours = /\/((?:src|bench|test)\/.*)$/.exec(url);
  return ours?.[1] ?? url;
}

function shortUrl(url: string): string {
  const pkg = /node_modules\/(.*)$/.exec(url);
  if (pkg?.[1]) return pkg[1];
  const ours = /\/((?:src|bench|test)\/.*)$/.exec(url);
  return ours?.[1] ?? url;
}

export function summarise(profile: CpuProfile, top = 30): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, number>();
  const origin = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    // Idle time says nothing about where the work goes; the busy time is the denominator.
    if (!frame || frame.functionName === '(idle)') continue;
    total += us;
    const name = frame.url
      ? `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
      : frame.functionName || '(anonymous)';
    fn.set(name, (fn.get(name) ?? 0) + us);
    const o = originOf(frame.url, frame.functionName);
    origin.set(o, (origin.get(o) ?? 0) + us);
  }
  const rows = (m: Map<string, number>, n: number): ProfileRow[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: total > 0 ? us / total : 0 }));
  return { totalMs: total / 1000, functions: rows(fn, top), origins: rows(origin, 20) };
}

/** Reads the one .cpuprofile a process wrote into `dir`. */
export async function readProfile(dir: string): Promise<CpuProfile> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  const file = files[0];
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  return JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
}
