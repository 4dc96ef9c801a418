/**
 * A step of `npm run build`: bundles each SDK of src/driver/call/sdk.ts (the installed package with its dependencies) into
 * one CommonJS file in dist/sdk/, and records the versions bundled, which the drivers check before using a bundle.
 * Whitespace and syntax are minified, names kept (stack traces and `constructor.name` read as in the package); the
 * packages' licence comments are kept at the end of each file. Then a node started with `npm start`'s V8 flags runs
 * each bundle and writes V8's code cache of it (`<file>.cache`), which the drivers' start reads.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import {
  bundledSdkDir,
  bundledSdks,
  bundledVersionsFile,
  installedVersion,
  type BundledSdk,
} from '../src/driver/call/sdk.js';
import { packageRoot } from '../src/paths.js';
import { startFlags } from './start-arguments.js';

rmSync(bundledSdkDir, { recursive: true, force: true });
mkdirSync(bundledSdkDir, { recursive: true });
const versions: Record<string, string> = {};
for (const [name, file] of Object.entries(bundledSdks) as Array<[BundledSdk, string]>) {
  await build({
    stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: bundledSdkDir, loader: 'js' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile: join(bundledSdkDir, file),
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  versions[name] = installedVersion(name);
}
// The compiled loader (tsc ran before this step), in a node with the start's V8 flags: V8 takes a code cache only
// from the same version and flags.
const compiledLoader = pathToFileURL(join(packageRoot, 'dist', 'src', 'driver', 'call', 'sdk.js')).href;
const flags = startFlags();
const caching = spawnSync(
  process.execPath,
  [...flags, '--input-type=module', '-e', `(await import(${JSON.stringify(compiledLoader)})).writeCodeCaches();`],
  { stdio: 'inherit' },
);
if (caching.status !== 0) throw new Error(`writing the SDKs' code caches exited ${caching.status ?? caching.signal}`);
// Written last: a build stopped half-way leaves no versions file, and the drivers load the packages.
writeFileSync(join(bundledSdkDir, bundledVersionsFile), `${JSON.stringify(versions, null, 2)}\n`);
console.log(
  `bundle-sdks: dist/sdk/ (with code caches for node ${flags.join(' ')}) from ${Object.entries(versions)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ')}`,
);
