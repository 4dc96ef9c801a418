/**
 * The driver registry: `DCR_DRIVER` → driver module, the one list the app (here, the composition root: the only
 * place in src/ that reaches into drivers/), the emulator CLI (`test/emulators/<name>.ts`) and the benchmark
 * (`bench/<name>.ts`) read. A fork adds its IdP with one module under drivers/ and one line here. Modules load
 * lazily, so a deployment never loads the SDKs of IdPs it does not use.
 */
import { ConfigurationError, type Env } from '../env.js';
import type { DcrDriver, DriverFactory, DriverSettings } from './contract.js';
import { defineDriver } from './define.js';

export const driverModules: Readonly<Record<string, () => Promise<{ createDriverFromEnv: DriverFactory }>>> = {
  local: () => import('../../drivers/local.js'),
  keycloak: () => import('../../drivers/keycloak.js'),
  okta: () => import('../../drivers/okta.js'),
  auth0: () => import('../../drivers/auth0.js'),
  entra: () => import('../../drivers/entra.js'),
  // The worked example of docs/writing-a-driver.md: a small generic IdP admin API, and the template of `npm run new-driver`.
  example: () => import('../../drivers/example.js'),
};

const aliases: Record<string, string> = { azure: 'entra' };

export const driverNames = Object.keys(driverModules);

export async function createDriverFromEnv(env: Env, settings: DriverSettings & { publicUrl: string }): Promise<DcrDriver> {
  const requested = (env.DCR_DRIVER ?? 'local').trim().toLowerCase();
  const name = aliases[requested] ?? requested;
  const load = driverModules[name];
  if (!load) throw new ConfigurationError('DCR_DRIVER', `must be one of ${[...driverNames, ...Object.keys(aliases)].join(', ')}`);
  return defineDriver(await (await load()).createDriverFromEnv(env, settings));
}
