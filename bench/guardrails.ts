/**
 * `npm run bench:guardrails`: runs the guardrail evaluation (scripts/eval-guardrails.ts) on
 * ../shared/data and writes its figures to bench/guardrails.md (issue 7 item 10): per detector
 * precision, recall and false-positive rate, and the speed of each detector on this machine.
 *
 *   npm run bench:guardrails                 # writes bench/guardrails.md
 *   npm run bench:guardrails -- --out FILE   # report elsewhere
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const out = resolve(values.out ?? new URL('guardrails.md', import.meta.url).pathname);
const script = new URL('../scripts/eval-guardrails.ts', import.meta.url).pathname;

const started = performance.now();
const figures = execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', script], {
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
  stdio: ['ignore', 'pipe', 'inherit'],
});
const seconds = ((performance.now() - started) / 1000).toFixed(1);

const cpu = cpus();
const report = `# Guardrail benchmark

\`npm run bench:guardrails\` on ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}; ${seconds} s.
Data: \`../shared/data\` (prompt injection: held-out split only; PII: presidio-synth; secrets:
gitleaks samples) and \`test/fixtures/guardrails\`. How the figures are computed, and what they
mean: docs/guardrails.md ("Measured"). Speed figures are for one core on a shared machine (±30 %).

\`\`\`text
${figures.trim()}
\`\`\`
`;
await writeFile(out, report);
console.log(`guardrail benchmark written to ${out}`);
