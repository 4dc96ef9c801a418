/**
 * Vendor SDKs (and undici) loaded from one bundled file each. Requiring `@okta/okta-sdk-nodejs` resolves and compiles
 * 2,463 modules (1.0–1.7 s and ~25 MiB here), `auth0` a few hundred (0.4–0.6 s): most of those drivers' start; undici,
 * which every vendor driver's HTTP client loads, 0.15 s. `npm run build` bundles each into `dist/sdk/<file>.cjs` with
 * esbuild (scripts/bundle-sdks.ts) and records the version it bundled in `dist/sdk/versions.json`; a driver loads the
 * bundle while that version is the one installed, and the package itself otherwise (from the sources before a build,
 * or after an upgrade without one). The same SDK code either way: the bundle is the installed package and its
 * dependencies, concatenated.
 *
 * The build also runs each bundle once under `npm start`'s V8 flags and keeps V8's code cache of it beside it
 * (`<file>.cache`): a start then compiles none of the bundle's functions it ran (the Okta bundle: 0.59 → 0.24 s here).
 * V8 checks the cache against its version, its flags and the source, and compiles as usual when it does not match,
 * so node run with other flags only loses the cache, never the SDK.
 *
 *   import type * as OktaSdk from '@okta/okta-sdk-nodejs';
 *   const { Client } = loadSdk<typeof OktaSdk>('@okta/okta-sdk-nodejs');
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { packageRoot } from '../../paths.js';

/** The packages bundled, and each one's file in `dist/sdk/`: three vendor SDKs, and undici, every vendor driver's HTTP client. */
export const bundledSdks = {
  '@okta/okta-sdk-nodejs': 'okta-sdk-nodejs.cjs',
  auth0: 'auth0.cjs',
  '@aws-sdk/client-cognito-identity-provider': 'client-cognito-identity-provider.cjs',
  undici: 'undici.cjs',
} as const;
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

export interface SdkSource {
  from: 'bundle' | 'package';
  path: string;
}

/** Whether V8 took a bundle's code cache. */
export type CodeCacheUse = 'accepted' | 'rejected' | 'missing';

/** Where `loadSdk` takes `name` from: the bundle while it holds the installed version, else the package. */
export function sdkSource(name: BundledSdk, directory: string = bundledSdkDir): SdkSource {
  const bundle = join(directory, bundledSdks[name]);
  if (existsSync(bundle) && bundledVersions(directory)[name] === installedVersion(name))
    return { from: 'bundle', path: bundle };
  return { from: 'package', path: require.resolve(name) };
}

/** How each SDK loaded so far was loaded: from where, and whether V8 took the bundle's code cache. */
export const loadedSdks = new Map<BundledSdk, SdkSource & { codeCache?: CodeCacheUse }>();

/** The code cache's file beside a bundle's (`okta-sdk-nodejs.cjs` → `okta-sdk-nodejs.cache`). */
export const codeCacheOf = (bundle: string) => bundle.replace(/\.cjs$/, '.cache');

/** The bundle as a CommonJS module compiled with its code cache, when there is one. */
function bundleScript(bundle: string): { script: Script; codeCache: CodeCacheUse } {
  const cachedData = existsSync(codeCacheOf(bundle)) ? readFileSync(codeCacheOf(bundle)) : undefined;
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'utf8')}\n})`;
  const script = new Script(wrapped, { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  return {
    script,
    codeCache: cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'accepted',
  };
}

function runBundle(script: Script, bundle: string): unknown {
  const module = { exports: {} as unknown };
  (script.runInThisContext() as (...args: unknown[]) => void)(
    module.exports,
    createRequire(bundle),
    module,
    bundle,
    dirname(bundle),
  );
  return module.exports;
}

const sdkExports = new Map<BundledSdk, unknown>();

/** The SDK's exports, loaded once per process (as `require` would). */
export function loadSdk<T>(name: BundledSdk): T {
  if (sdkExports.has(name)) return sdkExports.get(name) as T;
  const source = sdkSource(name);
  if (source.from === 'package') {
    loadedSdks.set(name, source);
    sdkExports.set(name, require(source.path));
  } else {
    const { script, codeCache } = bundleScript(source.path);
    loadedSdks.set(name, { ...source, codeCache });
    sdkExports.set(name, runBundle(script, source.path));
  }
  return sdkExports.get(name) as T;
}

/**
 * For the build (scripts/bundle-sdks.ts runs it in a node started with `npm start`'s flags): runs every bundle in
 * `directory` and writes V8's code cache of it, with the functions that running it compiled.
 */
export function writeCodeCaches(directory: string = bundledSdkDir): void {
  for (const file of Object.values(bundledSdks)) {
    const bundle = join(directory, file);
    const { script } = bundleScript(bundle);
    runBundle(script, bundle);
    writeFileSync(codeCacheOf(bundle), script.createCachedData());
  }
}
