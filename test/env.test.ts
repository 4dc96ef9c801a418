import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigurationError, envValue, integerEnv, requiredEnv, urlEnv } from '../src/env.js';

describe('environment configuration', () => {
  it('reads NAME_FILE for container secrets, without the trailing newline', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dcr-env-')), 'secret');
    writeFileSync(file, 'from-a-file\n');
    assert.equal(envValue({ KEYCLOAK_CLIENT_SECRET_FILE: file }, 'KEYCLOAK_CLIENT_SECRET'), 'from-a-file');
  });

  it('stops at a credential holding a newline or control character, in one line naming it (issue 23, item 13)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dcr-env-')), 'secret');
    writeFileSync(file, 'first-line\nsecond-line\n');
    for (const [env, name] of [
      [{ KEYCLOAK_CLIENT_SECRET_FILE: file }, 'KEYCLOAK_CLIENT_SECRET'],
      [{ OKTA_API_TOKEN: 'token\r' }, 'OKTA_API_TOKEN'],
      [{ DCR_API_KEYS: 'portal-key-0123456789\u0000' }, 'DCR_API_KEYS'],
      [{ AUTH0_CLIENT_SECRET: 'a\tb' }, 'AUTH0_CLIENT_SECRET'],
    ] as const) {
      assert.throws(
        () => envValue(env, name),
        (error: unknown) =>
          error instanceof ConfigurationError &&
          error.variable === name &&
          !error.message.includes('\n') &&
          !error.message.includes('second-line') &&
          !error.message.includes('token'),
        name,
      );
    }
    assert.match(
      envValue({ OKTA_PRIVATE_KEY: '-----BEGIN\nx\n-----END' }, 'OKTA_PRIVATE_KEY')!,
      /\n/,
      'PEM keys are multi-line',
    );
  });

  it('refuses a variable set both ways, and an unreadable file, naming the variable', () => {
    assert.throws(
      () => envValue({ A: 'x', A_FILE: '/etc/hostname' }, 'A'),
      /^ConfigurationError: A and A_FILE are both set/,
    );
    assert.throws(
      () => envValue({ A_FILE: '/no/such/file' }, 'A'),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.variable === 'A_FILE' &&
        error.message === 'A_FILE must name a readable file',
    );
  });

  it('says in one line what a missing or malformed variable must be', () => {
    assert.throws(() => requiredEnv({}, 'OKTA_ORG_URL', 'the Okta org URL'), {
      message: 'OKTA_ORG_URL is required: the Okta org URL',
    });
    assert.throws(() => urlEnv({ KEYCLOAK_URL: 'not a url' }, 'KEYCLOAK_URL'), {
      message: 'KEYCLOAK_URL must be an absolute http(s) URL',
    });
    assert.throws(() => urlEnv({ KEYCLOAK_URL: 'ftp://x' }, 'KEYCLOAK_URL'), {
      message: 'KEYCLOAK_URL must be an absolute http(s) URL',
    });
    assert.equal(urlEnv({ KEYCLOAK_URL: 'https://kc.example.com/' }, 'KEYCLOAK_URL'), 'https://kc.example.com');
    assert.throws(() => integerEnv({ PORT: '70000' }, 'PORT', 3000, { max: 65535 }), {
      message: 'PORT must be a whole number from 0 to 65535',
    });
    assert.throws(() => integerEnv({ PORT: '-1' }, 'PORT', 3000), ConfigurationError);
    assert.equal(integerEnv({}, 'PORT', 3000), 3000);
    assert.equal(integerEnv({ PORT: '8080' }, 'PORT', 3000), 8080);
  });
});
