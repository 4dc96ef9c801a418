/**
 * The arguments `npm start` gives node (its V8 flags, then the entry point), read from package.json's `start` script,
 * so what the benchmark measures, the tests check and the build's code cache is made for is what production runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));

export function startArguments(root: string = packageRoot): string[] {
  const start =
    (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
      .start ?? '';
  const words = start.trim().split(/\s+/);
  if (words[0] !== 'exec' || words[1] !== 'node' || words.at(-1) !== 'dist/src/main.js')
    throw new Error(`package.json's start script is not "exec node [flags] dist/src/main.js": ${start}`);
  return words.slice(2);
}

/** The start script's V8 flags alone, without the entry point: for a node that must run as production does. */
export function startFlags(root: string = packageRoot): string[] {
  return startArguments(root).slice(0, -1);
}
