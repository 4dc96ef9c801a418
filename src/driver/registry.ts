/**
 * The driver registry: `DCR_DRIVER` (as `loadConfig` resolved it through names.ts) → driver module, the one list the
 * app (here, the composition root: the only place in src/ that reaches into drivers/), the emulator CLI
 * (`test/emulators/<name>.ts`) and the benchmark (`bench/<name>.ts`) read. A fork adds its IdP with one module under
 * drivers/, its name in names.ts and one line here (the compiler checks the two agree). Modules load lazily, so a
 * deployment never loads the SDKs of IdPs it does not use.
 */
import type { Env } from '../env.js';
import type { DcrDriver, DriverFactory, DriverSettings } from './contract.js';
import { defineDriver } from './define.js';
import { driverNames, type DriverName } from './names.js';

export { driverAliases, driverNames, type DriverName } from './names.js';

export const driverModules: Readonly<Record<DriverName, () => Promise<{ createDriverFromEnv: DriverFactory }>>> = {
  local: () => import('../../drivers/local.js'),
  keycloak: () => import('../../drivers/keycloak.js'),
  okta: () => import('../../drivers/okta.js'),
  auth0: () => import('../../drivers/auth0.js'),
  entra: () => import('../../drivers/entra.js'),
  // The worked example of docs/writing-a-driver.md: a small generic IdP admin API, and the template of `npm run new-driver`.
  example: () => import('../../drivers/example.js'),
};

/** Builds the driver `name` (as `loadConfig` resolved `DCR_DRIVER`) from its variables. */
export async function createDriver(name: DriverName, env: Env, settings: DriverSettings & { publicUrl: string }): Promise<DcrDriver> {
  return defineDriver(await (await driverModules[name]()).createDriverFromEnv(env, settings));
}

