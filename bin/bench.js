#!/usr/bin/env node
// `npm run bench`: every benchmark in one run (see bench/run.ts). TypeScript is run through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../bench/run.ts');
process.exitCode = await main(process.argv.slice(2));
