/**
 * The standard DCR settings: defaults, the open-registration policy variables, one clear line for a bad value, and a
 * driver that cannot list open registrations refusing DCR_OPEN_REGISTRATION at start.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DcrDriver } from '../../src/driver/contract.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { ConfigurationError } from '../../src/env.js';
import { createLogger } from '../../src/logging.js';
import { MemoryDriver } from '../support/memory-driver.js';
import { testConfig } from '../support/app.js';

function refusal(env: Record<string, string>): ConfigurationError {
  try {
    loadConfig({ DCR_API_KEYS: 'a-valid-key-0123456789', ...env });
  } catch (error) {
    assert.ok(error instanceof ConfigurationError);
    return error;
  }
  assert.fail('loadConfig accepted a bad environment');
}

describe('standard DCR configuration', () => {
  it('defaults: rotation on update, a five-minute discovery cache, no open registration', () => {
    const config = loadConfig({ DCR_API_KEYS: 'a-valid-key-0123456789' });
    assert.deepEqual(config.standardDcr, { tokenRotation: 'on-update', discoveryTtlSeconds: 300 });
  });

  it('open registration reads its policy, with the defaults the issue names', () => {
    const defaults = loadConfig({ DCR_API_KEYS: 'a-valid-key-0123456789', DCR_OPEN_REGISTRATION: 'true' }).standardDcr
      ?.openRegistration;
    assert.deepEqual(defaults, {
      grantTypes: ['authorization_code', 'refresh_token'],
      tokenEndpointAuthMethods: ['none'],
      perAddressPerHour: 10,
      maxClients: 1000,
    });
    const custom = loadConfig({
      DCR_API_KEYS: 'a-valid-key-0123456789',
      DCR_OPEN_REGISTRATION: 'TRUE',
      DCR_OPEN_REGISTRATION_GRANT_TYPES:
        'authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code',
      DCR_OPEN_REGISTRATION_AUTH_METHODS: 'none,private_key_jwt',
      DCR_OPEN_REGISTRATION_PER_ADDRESS_PER_HOUR: '3',
      DCR_OPEN_REGISTRATION_MAX_CLIENTS: '50',
      DCR_REGISTRATION_TOKEN_ROTATION: 'never',
    }).standardDcr!;
    assert.equal(custom.tokenRotation, 'never');
    assert.deepEqual(custom.openRegistration, {
      grantTypes: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      tokenEndpointAuthMethods: ['none', 'private_key_jwt'],
      perAddressPerHour: 3,
      maxClients: 50,
    });
  });

  it('a bad value stops the start with one line naming the variable', () => {
    assert.equal(refusal({ DCR_REGISTRATION_TOKEN_ROTATION: 'always' }).variable, 'DCR_REGISTRATION_TOKEN_ROTATION');
    assert.equal(refusal({ DCR_OPEN_REGISTRATION: 'yes' }).variable, 'DCR_OPEN_REGISTRATION');
    assert.equal(
      refusal({ DCR_OPEN_REGISTRATION: 'true', DCR_OPEN_REGISTRATION_GRANT_TYPES: 'password' }).variable,
      'DCR_OPEN_REGISTRATION_GRANT_TYPES',
    );
    assert.equal(
      refusal({ DCR_OPEN_REGISTRATION: 'true', DCR_OPEN_REGISTRATION_AUTH_METHODS: ' , ' }).variable,
      'DCR_OPEN_REGISTRATION_AUTH_METHODS',
    );
    assert.equal(
      refusal({ DCR_OPEN_REGISTRATION: 'true', DCR_OPEN_REGISTRATION_MAX_CLIENTS: '0' }).variable,
      'DCR_OPEN_REGISTRATION_MAX_CLIENTS',
    );
    assert.equal(refusal({ DCR_DISCOVERY_TTL_SECONDS: '0' }).variable, 'DCR_DISCOVERY_TTL_SECONDS');
  });

  it('open registration with a driver that cannot list open-registered clients refuses to start', () => {
    const withoutListing: DcrDriver = new MemoryDriver();
    assert.equal(withoutListing.listOpenRegistrations, undefined);
    const config = testConfig({
      standardDcr: {
        tokenRotation: 'on-update',
        discoveryTtlSeconds: 300,
        openRegistration: {
          grantTypes: ['authorization_code'],
          tokenEndpointAuthMethods: ['none'],
          perAddressPerHour: 1,
          maxClients: 1,
        },
      },
    });
    assert.throws(
      () => createApp(config, withoutListing, { logger: createLogger({ level: 'silent' }) }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigurationError);
        assert.equal(error.variable, 'DCR_OPEN_REGISTRATION');
        return true;
      },
    );
  });
});
