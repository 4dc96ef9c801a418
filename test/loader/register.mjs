/**
 * `node --import ./test/loader/register.mjs`: runs the project's TypeScript in the test processes. It transpiles our
 * own `.ts` files with esbuild (types stripped, nothing checked: `npm run typecheck` does that) and leaves every
 * package to Node's own loaders. tsx, which `npm run dev`, the benchmark and the scripts use, also hooks every
 * CommonJS `require`; in a test process that loads a vendor SDK (the Okta SDK alone is ~2,500 modules) that cost
 * 1–2 s of CPU, across ~55 test processes the largest single share of `npm test`.
 */
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
