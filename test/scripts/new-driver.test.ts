/**
 * `npm run new-driver`: the scaffold is the worked example under the new name, registered in the driver registry —
 * checked on a copy of the repository's own template files, so the test never writes into the tree.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { scaffoldDriver } from '../../scripts/new-driver.js';

const repository = fileURLToPath(new URL('../..', import.meta.url));
const templateFiles = ['drivers/example.ts', 'test/emulators/example.ts', 'test/drivers/example.test.ts', 'test/vendor-specs/example', 'src/driver/registry.ts'];

describe('npm run new-driver', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'new-driver-'));
    for (const file of templateFiles) cpSync(join(repository, file), join(root, file), { recursive: true });
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  const read = (path: string) => readFileSync(join(root, path), 'utf8');

  it('writes the driver, its emulator, its test file running both suites and its API description, under the new name', () => {
    const { created } = scaffoldDriver('acme-id', root);
    assert.deepEqual(created, ['drivers/acme-id.ts', 'test/emulators/acme-id.ts', 'test/drivers/acme-id.test.ts', 'test/vendor-specs/acme-id', 'src/driver/registry.ts (registered)']);
    const driver = read('drivers/acme-id.ts');
    assert.match(driver, /export function createAcmeIdDriver\(options: AcmeIdDriverOptions\)/);
    assert.match(driver, /name: 'acme-id'/);
    assert.match(driver, /'ACME_ID_URL'/);
    const emulator = read('test/emulators/acme-id.ts');
    assert.match(emulator, /export const acmeIdEmulator: EmulatorDefinition/);
    assert.match(emulator, /vendorSpecFile\('acme-id\/acme-id-idp-admin\.yaml'\)/);
    assert.ok(existsSync(join(root, 'test/vendor-specs/acme-id/acme-id-idp-admin.yaml')));
    const tests = read('test/drivers/acme-id.test.ts');
    assert.match(tests, /from '\.\.\/\.\.\/drivers\/acme-id\.js'/);
    assert.match(tests, /testDriver\(\{/);
    assert.match(tests, /faultMatrix\(\{/);
    for (const file of ['drivers/acme-id.ts', 'test/emulators/acme-id.ts', 'test/drivers/acme-id.test.ts']) {
      assert.doesNotMatch(read(file), /example/i, `${file} keeps nothing of the template's name`);
    }
  });

  it('registers the name once in the registry the app, the emulator CLI and the benchmark read', () => {
    const registry = read('src/driver/registry.ts');
    assert.equal(registry.split("'acme-id': () => import('../../drivers/acme-id.js'),").length, 2);
    assert.match(registry, /\n  'acme-id': \(\) => import\('\.\.\/\.\.\/drivers\/acme-id\.js'\),\n\};/, 'after the drivers already there');
    for (const name of ['local', 'keycloak', 'okta', 'auth0', 'entra', 'example']) assert.match(registry, new RegExp(`\\n  ${name}: \\(\\) => import`), `${name} stays`);
  });

  it('refuses a name that exists, the template itself, and names that are not driver names', () => {
    assert.throws(() => scaffoldDriver('acme-id', root), /exists already/);
    assert.throws(() => scaffoldDriver('example', root), /template/);
    for (const bad of ['Acme', '1acme', 'acme_id', 'acme--id', '../acme', '']) assert.throws(() => scaffoldDriver(bad, root), /not a driver name/, bad);
  });
});
