/**
 * `DCR_DRIVER` → driver module. A fork adds its IdP with one module under drivers/ and one line here.
 * Modules load lazily, so a deployment never loads the SDKs of IdPs it does not use.
 */
import type { DriverName } from '../src/driver/names.js';
import type { Env } from '../src/env.js';
import type { DcrDriver, DriverFactory, DriverSettings } from './driver.js';

const factories: Record<DriverName, () => Promise<DriverFactory>> = {
  local: async () => (await import('./local.js')).createDriverFromEnv,
  keycloak: async () => (await import('./keycloak.js')).createDriverFromEnv,
  okta: async () => (await import('./okta.js')).createDriverFromEnv,
  auth0: async () => (await import('./auth0.js')).createDriverFromEnv,
  entra: async () => (await import('./entra.js')).createDriverFromEnv,
};

/** Builds the driver `name` (as `loadConfig` resolved `DCR_DRIVER`) from its variables. */
export async function createDriver(name: DriverName, env: Env, settings: DriverSettings & { publicUrl: string }): Promise<DcrDriver> {
  return (await factories[name]())(env, settings);
}
