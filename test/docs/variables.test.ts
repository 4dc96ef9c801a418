/**
 * Every environment variable the code reads is documented where an operator looks for it: the bridge's own (`DCR_…`)
 * in docs/configuration.md, a driver's (`OKTA_…`, `COGNITO_…`, `RFC7591_…`) on its page under docs/drivers/. The
 * names are read from the string literals of src/ and drivers/, so a variable added to the code without a line in the
 * docs fails here.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { driverNames } from '../../src/drivers.js';
import { root } from '../fleet/bridge-process.js';

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(root, dir, file));
}

/** The page that documents a variable: the driver whose name is its prefix, else the configuration page. */
function pageOf(variable: string): string {
  const driver = driverNames.find((name) => variable.startsWith(`${name.toUpperCase()}_`));
  return driver ? join('docs', 'drivers', `${driver}.md`) : join('docs', 'configuration.md');
}

describe('the documented configuration', () => {
  const prefixes = ['DCR', ...driverNames.filter((name) => name !== 'local').map((name) => name.toUpperCase())];
  const literal = new RegExp(`['"\`]((?:${prefixes.join('|')})_[A-Z0-9_]+)['"\`]`, 'g');
  const variables = new Set(
    [...sources('src'), ...sources('drivers')].flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(literal)].map((match) => match[1]!),
    ),
  );

  it('finds the variables the code reads', () => {
    for (const known of ['DCR_API_KEYS', 'DCR_CONFIG_FILE', 'DCR_STATE_URL', 'OKTA_ORG_URL', 'COGNITO_USER_POOL_ID'])
      assert.ok(variables.has(known), known);
  });

  it('names each one on its page: the bridge-wide ones in docs/configuration.md, a driver’s on the driver’s page', () => {
    const missing = [...variables]
      .filter((variable) => !variable.endsWith('_FILE') || variable === 'DCR_CONFIG_FILE')
      .filter((variable) => {
        const page = join(root, pageOf(variable));
        return !existsSync(page) || !readFileSync(page, 'utf8').includes(`\`${variable}\``);
      })
      .map((variable) => `${variable} (${pageOf(variable)})`);
    assert.deepEqual(missing, []);
  });
});
