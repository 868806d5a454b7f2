/**
 * The mock provider as its own process for the benchmark. Unlike the fixture's standalone mode it
 * takes the provider key from the environment (BENCH_MOCK_KEY), so the key never shows in `ps`,
 * listens on a free loopback port, reports it as one JSON line on stdout, never records requests
 * (flat memory), and exits when its parent goes away (stdin closes) or on SIGTERM.
 */

import { parseScenario } from '../test/fixtures/mock-upstream/scenario.ts';
import { startMockUpstream } from '../test/fixtures/mock-upstream.ts';

const apiKey = process.env.BENCH_MOCK_KEY;
if (apiKey === undefined || apiKey === '') {
  process.stderr.write('bench mock: BENCH_MOCK_KEY is not set\n');
  process.exit(2);
}
// BENCH_MOCK_SCENARIO: the fixture's scenario syntax, e.g. `chunks=4;chunkDelay=1` (streams only).
const scenario = parseScenario(process.env.BENCH_MOCK_SCENARIO ?? '');
const mock = await startMockUpstream({ apiKey, host: '127.0.0.1', port: 0, record: false, scenario });
process.stdout.write(`${JSON.stringify({ port: mock.port })}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void mock.close().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// The parent holds our stdin open; when it dies, however it dies, the pipe closes and we stop.
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
