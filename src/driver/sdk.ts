/**
 * Vendor SDKs loaded from one bundled file each. Requiring `@okta/okta-sdk-nodejs` resolves and compiles 2,463
 * modules (1.1–1.7 s and ~25 MiB here), `auth0` a few hundred (0.4–0.6 s): most of those drivers' start. `npm run
 * build` bundles each into `dist/sdk/<file>.cjs` with esbuild (scripts/bundle-sdks.ts) and records the version it
 * bundled in `dist/sdk/versions.json`; a driver loads the bundle while that version is the one installed, and the
 * package itself otherwise (from the sources before a build, or after an upgrade without one). The same SDK code
 * either way: the bundle is the installed package and its dependencies, concatenated.
 *
 *   import type * as OktaSdk from '@okta/okta-sdk-nodejs';
 *   const { Client } = loadSdk<typeof OktaSdk>('@okta/okta-sdk-nodejs');
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

/** The SDKs bundled, and each one's file in `dist/sdk/`. */
export const bundledSdks = { '@okta/okta-sdk-nodejs': 'okta-sdk-nodejs.cjs', auth0: 'auth0.cjs' } as const;
export type BundledSdk = keyof typeof bundledSdks;

export const bundledSdkDir = join(packageRoot, 'dist', 'sdk');
export const bundledVersionsFile = 'versions.json';

const require = createRequire(import.meta.url);

/** The installed package's version, from its package.json. */
export function installedVersion(name: BundledSdk): string {
  return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
}

function bundledVersions(directory: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(join(directory, bundledVersionsFile), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

/** Where `loadSdk` takes `name` from: the bundle while it holds the installed version, else the package. */
export function sdkSource(name: BundledSdk, directory: string = bundledSdkDir): { from: 'bundle' | 'package'; path: string } {
  const bundle = join(directory, bundledSdks[name]);
  if (existsSync(bundle) && bundledVersions(directory)[name] === installedVersion(name)) return { from: 'bundle', path: bundle };
  return { from: 'package', path: require.resolve(name) };
}

export function loadSdk<T>(name: BundledSdk): T {
  return require(sdkSource(name).path) as T;
}
