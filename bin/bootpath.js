#!/usr/bin/env node
// Entry point for `npm run scenario` and `npx bootpath`. bootpath is written in TypeScript and runs
// through tsx's loader, so users never need a separate build step.
import { register } from 'tsx/esm/api';

// `npm run scenario -- --list | head`: a closed pipe ends the output, it is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
register();
const { main } = await import('../harness/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
