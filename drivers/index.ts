/**
 * `DCR_DRIVER` → driver module. A fork adds its IdP with one module under drivers/ and one line here.
 * Modules load lazily, so a deployment never loads the SDKs of IdPs it does not use.
 */
import type { DriverChoices } from '../src/config.js';
import type { Env } from '../src/env.js';
import type { DcrDriver, DriverFactory, DriverSettings } from './driver.js';

const factories: Record<string, () => Promise<DriverFactory>> = {
  local: async () => (await import('./local.js')).createDriverFromEnv,
  keycloak: async () => (await import('./keycloak.js')).createDriverFromEnv,
  okta: async () => (await import('./okta.js')).createDriverFromEnv,
  auth0: async () => (await import('./auth0.js')).createDriverFromEnv,
  entra: async () => (await import('./entra.js')).createDriverFromEnv,
};

/** What `DCR_DRIVER` may say; `loadConfig` checks it against these before anything else. */
export const driverChoices: DriverChoices = { names: Object.keys(factories), aliases: { azure: 'entra' } };

/** Builds the driver `name` (a name from `driverChoices.names`, as `loadConfig` resolved it) from its variables. */
export async function createDriver(name: string, env: Env, settings: DriverSettings & { publicUrl: string }): Promise<DcrDriver> {
  const load = factories[name];
  if (!load) throw new TypeError(`no driver named ${name}`);
  return (await load())(env, settings);
}
