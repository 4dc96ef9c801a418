/**
 * `npm run emulator -- <idp> [--port N]`: one vendor emulator on its own, for trying the bridge by hand or
 * developing a driver. Prints the base URL, the CA file to trust and the driver variables to use.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { driverNames } from '../../src/drivers.js';
import type { EmulatorDefinition } from './framework.js';

// Every registered driver whose emulator exists: test/emulators/<name>.ts, exporting `<name>Emulator` (`acme-id` →
// `acmeIdEmulator`, as `npm run new-driver` names it).
const exportOf = (driver: string) =>
  `${driver.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())}Emulator`;
const definitions: Record<string, () => Promise<EmulatorDefinition>> = Object.fromEntries(
  driverNames
    .filter((driver) => existsSync(fileURLToPath(new URL(`./${driver}.ts`, import.meta.url))))
    .map((driver) => [
      driver,
      async () => ((await import(`./${driver}.js`)) as Record<string, EmulatorDefinition>)[exportOf(driver)]!,
    ]),
);

const [name, ...rest] = process.argv.slice(2);
const portIndex = rest.indexOf('--port');
const port = portIndex >= 0 ? Number(rest[portIndex + 1]) : 0;
const load = name ? definitions[name] : undefined;
if (!load || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`usage: npm run emulator -- <${Object.keys(definitions).join('|')}> [--port N]`);
  process.exit(2);
}
const { emulator, driverEnv, alternativeEnv = {} } = await (await load()).start({ port });
console.log(`${name} emulator listening at ${emulator.url}`);
console.log(`trust its CA: export NODE_EXTRA_CA_CERTS=${emulator.caFile}`);
console.log('driver variables:');
for (const [key, value] of Object.entries(driverEnv)) console.log(`  export ${key}=${value}`);
for (const [what, env] of Object.entries(alternativeEnv)) {
  console.log(`or, ${what}:`);
  for (const [key, value] of Object.entries(env)) console.log(`  export ${key}=${value}`);
}
const stop = () => {
  void emulator.stop().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
