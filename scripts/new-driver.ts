/**
 * `npm run new-driver -- <name>`: scaffolds a driver for a new IdP from the worked example (docs/writing-a-driver.md)
 * — drivers/<name>.ts, test/emulators/<name>.ts, test/drivers/<name>.test.ts running the conformance suite and the
 * fault matrix, the API description under test/vendor-specs/<name>/ — and registers the name in
 * src/driver/registry.ts. The copy speaks the example API, so `npm test -- <name>` passes before the first change.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPLATE = 'example';
const REGISTRY = 'src/driver/registry.ts';

export interface ScaffoldResult {
  created: string[];
}

/**
 * The example's names in the new driver's spellings: `Example` → `AcmeId`, `EXAMPLE` → `ACME_ID`, `exampleX` →
 * `acmeIdX` (identifiers), and every other `example` → `acme-id` (file names, `DCR_DRIVER`, route and emulator names).
 */
export function renamed(text: string, name: string): string {
  const camel = name.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
  const pascal = camel[0]!.toUpperCase() + camel.slice(1);
  return text
    .replaceAll('Example', pascal)
    .replaceAll('EXAMPLE', name.replaceAll('-', '_').toUpperCase())
    .replace(/example(?=[A-Z])/g, camel)
    .replaceAll('example', name);
}

export function scaffoldDriver(name: string, root: string): ScaffoldResult {
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name) || name.length > 30) {
    throw new Error(`"${name}" is not a driver name: lowercase letters and digits, dashes between words, at most 30 characters`);
  }
  if (name === TEMPLATE) throw new Error(`"${TEMPLATE}" is the template itself`);
  const files: Array<[string, string]> = [
    [`drivers/${TEMPLATE}.ts`, `drivers/${name}.ts`],
    [`test/emulators/${TEMPLATE}.ts`, `test/emulators/${name}.ts`],
    [`test/drivers/${TEMPLATE}.test.ts`, `test/drivers/${name}.test.ts`],
  ];
  const specDir: [string, string] = [`test/vendor-specs/${TEMPLATE}`, `test/vendor-specs/${name}`];
  for (const [, target] of [...files, specDir]) {
    if (existsSync(join(root, target))) throw new Error(`${target} exists already; pick another name or remove it`);
  }
  const registryPath = join(root, REGISTRY);
  const registry = readFileSync(registryPath, 'utf8');
  const entry = `  ${/^[a-z][a-z0-9]*$/.test(name) ? name : `'${name}'`}: () => import('../../drivers/${name}.js'),`;
  const modules = /(export const driverModules\b[^\n]*\{\n)([\s\S]*?)(\n\};)/.exec(registry);
  if (!modules) throw new Error(`${REGISTRY} has no driverModules list to add ${name} to`);

  for (const [source, target] of files) writeFileSync(join(root, target), renamed(readFileSync(join(root, source), 'utf8'), name));
  mkdirSync(join(root, specDir[1]), { recursive: true });
  for (const file of readdirSync(join(root, specDir[0]))) {
    writeFileSync(join(root, specDir[1], renamed(file, name)), renamed(readFileSync(join(root, specDir[0], file), 'utf8'), name));
  }
  const [whole, head, body, tail] = modules;
  writeFileSync(registryPath, registry.replace(whole, `${head}${body}\n${entry}${tail}`));
  return { created: [...files.map(([, target]) => target), specDir[1], `${REGISTRY} (registered)`] };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [name] = process.argv.slice(2);
  if (!name) {
    console.error('usage: npm run new-driver -- <name>');
    process.exit(2);
  }
  try {
    const { created } = scaffoldDriver(name, fileURLToPath(new URL('..', import.meta.url)));
    for (const path of created) console.log(`created ${path}`);
    console.log(`next: npm test -- ${name}   then change the emulator and the driver into your IdP's API (docs/writing-a-driver.md)`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
