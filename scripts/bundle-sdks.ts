/**
 * A step of `npm run build`: bundles each SDK of src/driver/sdk.ts (the installed package with its dependencies) into
 * one CommonJS file in dist/sdk/, and records the versions bundled, which the drivers check before using a bundle.
 * Whitespace and syntax are minified, names kept (stack traces and `constructor.name` read as in the package); the
 * packages' licence comments are kept at the end of each file.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { bundledSdkDir, bundledSdks, bundledVersionsFile, installedVersion, type BundledSdk } from '../src/driver/sdk.js';

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
// Written last: a build stopped half-way leaves no versions file, and the drivers load the packages.
writeFileSync(join(bundledSdkDir, bundledVersionsFile), `${JSON.stringify(versions, null, 2)}\n`);
console.log(`bundle-sdks: dist/sdk/ from ${Object.entries(versions).map(([name, version]) => `${name} ${version}`).join(', ')}`);
