// The process entry for the CLI: `node src/cli/run.ts <command>` (npm start, bin/portcullis.js).
import { runCli } from './main.ts';

const code = await runCli(process.argv.slice(2), process.env, {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
});
if (code !== undefined) process.exitCode = code;
