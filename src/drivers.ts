/**
 * The composition root: every driver the bridge can run, in one literal — the one file of src/ that names drivers/.
 * `DCR_DRIVER`'s values are this literal's keys; the app, the emulator CLI (`test/emulators/<name>.ts`), the benchmark
 * (`bench/<name>.ts`) and `npm run new-driver` read or edit it. Modules load lazily, so a deployment never loads the
 * SDKs of IdPs it does not use.
 */
import type { DriverFactory, DriverImplementation, DriverSettings } from './driver/contract.js';
import type { Env } from './env.js';

const driverModules = {
  local: () => import('../drivers/local/index.js'),
  keycloak: () => import('../drivers/keycloak.js'),
  okta: () => import('../drivers/okta.js'),
  auth0: () => import('../drivers/auth0.js'),
  entra: () => import('../drivers/entra.js'),
  cognito: () => import('../drivers/cognito.js'),
  // The worked example of docs/writing-a-driver.md: a small generic IdP admin API, and the template of `npm run new-driver`.
  example: () => import('../drivers/example.js'),
  // Any IdP that speaks RFC 7591/7592 itself; its registration access tokens live in the state store (DCR_STATE_URL).
  rfc7591: () => import('../drivers/rfc7591.js'),
} satisfies Record<string, () => Promise<{ createDriverFromEnv: DriverFactory }>>;

export type DriverName = keyof typeof driverModules;

export const driverNames = Object.keys(driverModules) as DriverName[];

/** Other names `DCR_DRIVER` accepts for a driver. */
export const driverAliases: Readonly<Record<string, DriverName>> = { azure: 'entra' };

/** Builds the driver `name` (as `loadConfig` resolved `DCR_DRIVER`) from its variables. */
export async function loadDriver(
  name: DriverName,
  env: Env,
  settings: DriverSettings & { publicUrl: string },
): Promise<DriverImplementation> {
  return (await driverModules[name]()).createDriverFromEnv(env, settings);
}
