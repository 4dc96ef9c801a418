/**
 * The bundled vendor SDKs and undici (src/driver/call/sdk.ts): built into dist/sdk/ and used while they hold the installed version,
 * so the Okta and Auth0 suites, which run after the build, go through the same bundle as production.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  bundledSdkDir,
  bundledSdks,
  bundledVersionsFile,
  installedVersion,
  loadSdk,
  sdkSource,
  type BundledSdk,
} from '../../src/driver/call/sdk.js';
import { startFlags } from '../../scripts/start-arguments.js';
import { ensureBuilt } from '../support/built.js';

const names = Object.keys(bundledSdks) as BundledSdk[];
const require = createRequire(import.meta.url);

describe('bundled vendor SDKs', () => {
  before(async () => {
    await ensureBuilt();
  });

  it('are built with the installed versions, and are what the drivers load', () => {
    for (const name of names) {
      const source = sdkSource(name);
      assert.deepEqual(source, { from: 'bundle', path: join(bundledSdkDir, bundledSdks[name]) }, name);
    }
  });

  it('load once per process, as require does', () => {
    assert.equal(loadSdk('undici'), loadSdk('undici'));
    assert.equal(typeof loadSdk<{ Agent: unknown }>('undici').Agent, 'function');
  });

  it('export what the packages export', () => {
    for (const name of names) {
      const bundle = require(join(bundledSdkDir, bundledSdks[name])) as Record<string, unknown>;
      const original = require(name) as Record<string, unknown>;
      assert.deepEqual(Object.keys(bundle).sort(), Object.keys(original).sort(), name);
      for (const [key, value] of Object.entries(original))
        assert.equal(typeof bundle[key], typeof value, `${name}: ${key}`);
    }
  });

  /**
   * The compiled Okta, Auth0 and Cognito drivers imported, an Okta and an Auth0 driver made (each leaves its SDK for
   * its first listing), an IdP HTTP client made and those two SDKs loaded as their listings load them, in a node with
   * `flags`: which of those two was loaded before that, how each bundled package was loaded, and what else was.
   */
  function loadInNode(flags: string[]): {
    vendorSdksAtStart: string[];
    sdks: Record<string, { from: string; path: string; codeCache?: string }>;
    modules: string[];
  } {
    const dist = join(bundledSdkDir, '..');
    const script = `
      const { createOktaDriver } = await import(${JSON.stringify(join(dist, 'drivers', 'okta.js'))});
      await createOktaDriver({ orgUrl: 'https://127.0.0.1:9', credentials: { apiToken: 'unused' } }).close();
      const { createAuth0Driver } = await import(${JSON.stringify(join(dist, 'drivers', 'auth0.js'))});
      await createAuth0Driver({ domain: '127.0.0.1:9', clientId: 'unused', clientSecret: 'unused' }).close();
      await import(${JSON.stringify(join(dist, 'drivers', 'cognito.js'))});
      const { createIdpHttpClient } = await import(${JSON.stringify(join(dist, 'src', 'driver', 'call', 'http.js'))});
      await createIdpHttpClient().close();
      const { loadSdk, loadedSdks } = await import(${JSON.stringify(join(dist, 'src', 'driver', 'call', 'sdk.js'))});
      const vendorSdksAtStart = ['@okta/okta-sdk-nodejs', 'auth0'].filter((name) => loadedSdks.has(name));
      loadSdk('@okta/okta-sdk-nodejs');
      loadSdk('auth0');
      const { createRequire } = await import('node:module');
      console.log(JSON.stringify({ vendorSdksAtStart, sdks: Object.fromEntries(loadedSdks), modules: Object.keys(createRequire(import.meta.url).cache) }));`;
    const output = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    return JSON.parse(output.trim().split('\n').at(-1)!) as ReturnType<typeof loadInNode>;
  }

  it("the compiled drivers load the bundles with their code caches under the start's flags, and none of the packages' modules", () => {
    const { vendorSdksAtStart, sdks, modules } = loadInNode(startFlags());
    // Each bundle is about a second of the start (Okta's also 80 MiB): a driver loads its SDK for its first listing.
    assert.deepEqual(vendorSdksAtStart, []);
    for (const name of names)
      assert.deepEqual(
        sdks[name],
        { from: 'bundle', path: join(bundledSdkDir, bundledSdks[name]), codeCache: 'accepted' },
        name,
      );
    assert.deepEqual(
      modules.filter((file) => /node_modules\/(@okta\/okta-sdk-nodejs|auth0|undici|@aws-sdk|@smithy)\//.test(file)),
      [],
    );
  });

  it('under other V8 flags V8 refuses the code caches, and the bundles load without them', () => {
    const { sdks } = loadInNode(['--max-semi-space-size=16']);
    for (const name of names)
      assert.deepEqual(
        sdks[name],
        { from: 'bundle', path: join(bundledSdkDir, bundledSdks[name]), codeCache: 'rejected' },
        name,
      );
  });

  describe('fall back to the packages', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dcr-sdk-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const packageOf = (name: BundledSdk) => ({ from: 'package', path: require.resolve(name) });
    const recordVersions = (version: (name: BundledSdk) => string) =>
      writeFileSync(
        join(dir, bundledVersionsFile),
        JSON.stringify(Object.fromEntries(names.map((name) => [name, version(name)]))),
      );

    it('when the bundle holds another version than the one installed', () => {
      for (const name of names) copyFileSync(join(bundledSdkDir, bundledSdks[name]), join(dir, bundledSdks[name]));
      recordVersions((name) => `${installedVersion(name)}-older`);
      for (const name of names) assert.deepEqual(sdkSource(name, dir), packageOf(name));
      recordVersions(installedVersion);
      for (const name of names) assert.equal(sdkSource(name, dir).from, 'bundle');
    });

    it('when the versions file or the bundle is missing (before a build, or a build stopped half-way)', () => {
      rmSync(join(dir, bundledVersionsFile));
      for (const name of names) assert.deepEqual(sdkSource(name, dir), packageOf(name));
      recordVersions(installedVersion);
      rmSync(join(dir, bundledSdks.auth0));
      assert.deepEqual(sdkSource('auth0', dir), packageOf('auth0'));
      assert.equal(sdkSource('@okta/okta-sdk-nodejs', dir).from, 'bundle');
    });
  });
});
