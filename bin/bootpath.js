#!/usr/bin/env node
// Entry point for `npm run scenario` and `npx bootpath`. bootpath is written in TypeScript and runs
// through tsx's loader, so users never need a separate build step.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../harness/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
