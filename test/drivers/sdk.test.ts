/**
 * The bundled vendor SDKs (src/driver/sdk.ts): built into dist/sdk/ and used while they hold the installed version,
 * so the Okta and Auth0 suites, which run after the build, go through the same bundle as production.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundledSdkDir, bundledSdks, bundledVersionsFile, installedVersion, sdkSource, type BundledSdk } from '../../src/driver/sdk.js';
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

  it('export what the packages export', () => {
    for (const name of names) {
      const bundle = require(join(bundledSdkDir, bundledSdks[name])) as Record<string, unknown>;
      const original = require(name) as Record<string, unknown>;
      assert.deepEqual(Object.keys(bundle).sort(), Object.keys(original).sort(), name);
      for (const [key, value] of Object.entries(original)) assert.equal(typeof bundle[key], typeof value, `${name}: ${key}`);
    }
  });

  it('the compiled drivers load the bundles and none of the packages’ own modules', () => {
    const script = `
      const drivers = ['okta', 'auth0'].map((name) => import(${JSON.stringify(join(bundledSdkDir, '..', 'drivers'))} + '/' + name + '.js'));
      Promise.all(drivers).then(() => console.log(JSON.stringify(Object.keys(require.cache))));`;
    const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } }).trim().split('\n').at(-1)!) as string[];
    for (const name of names) assert.ok(loaded.includes(join(bundledSdkDir, bundledSdks[name])), `${name}'s bundle loaded`);
    assert.deepEqual(loaded.filter((file) => /node_modules\/(@okta\/okta-sdk-nodejs|auth0)\//.test(file)), []);
  });

  describe('fall back to the packages', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dcr-sdk-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const packageOf = (name: BundledSdk) => ({ from: 'package', path: require.resolve(name) });

    it('when the bundle holds another version than the one installed', () => {
      for (const name of names) copyFileSync(join(bundledSdkDir, bundledSdks[name]), join(dir, bundledSdks[name]));
      writeFileSync(join(dir, bundledVersionsFile), JSON.stringify(Object.fromEntries(names.map((name) => [name, `${installedVersion(name)}-older`]))));
      for (const name of names) assert.deepEqual(sdkSource(name, dir), packageOf(name));
      writeFileSync(join(dir, bundledVersionsFile), JSON.stringify(Object.fromEntries(names.map((name) => [name, installedVersion(name)]))));
      for (const name of names) assert.equal(sdkSource(name, dir).from, 'bundle');
    });

    it('when the versions file or the bundle is missing (before a build, or a build stopped half-way)', () => {
      rmSync(join(dir, bundledVersionsFile));
      for (const name of names) assert.deepEqual(sdkSource(name, dir), packageOf(name));
      writeFileSync(join(dir, bundledVersionsFile), JSON.stringify(Object.fromEntries(names.map((name) => [name, installedVersion(name)]))));
      rmSync(join(dir, bundledSdks.auth0));
      assert.deepEqual(sdkSource('auth0', dir), packageOf('auth0'));
      assert.equal(sdkSource('@okta/okta-sdk-nodejs', dir).from, 'bundle');
    });
  });
});
