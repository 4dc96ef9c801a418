/**
 * `DCR_DRIVER` → driver module. A fork adds its IdP with one module under drivers/ and one line here.
 * Modules load lazily, so a deployment never loads the SDKs of IdPs it does not use.
 */
import { ConfigurationError, type Env } from '../src/env.js';
import type { DcrDriver, DriverFactory, DriverSettings } from './driver.js';

const factories: Record<string, () => Promise<DriverFactory>> = {
  local: async () => (await import('./local.js')).createDriverFromEnv,
  keycloak: async () => (await import('./keycloak.js')).createDriverFromEnv,
  okta: async () => (await import('./okta.js')).createDriverFromEnv,
  auth0: async () => (await import('./auth0.js')).createDriverFromEnv,
  entra: async () => (await import('./entra.js')).createDriverFromEnv,
};

const aliases: Record<string, string> = { azure: 'entra' };

export const driverNames = Object.keys(factories);

export async function createDriverFromEnv(env: Env, settings: DriverSettings & { publicUrl: string }): Promise<DcrDriver> {
  const requested = (env.DCR_DRIVER ?? 'local').trim().toLowerCase();
  const name = aliases[requested] ?? requested;
  const load = factories[name];
  if (!load) throw new ConfigurationError('DCR_DRIVER', `must be one of ${[...driverNames, ...Object.keys(aliases)].join(', ')}`);
  return (await load())(env, settings);
}
