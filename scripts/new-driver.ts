/**
 * `npm run new-driver -- <name>`: scaffolds a driver for a new IdP from the worked example (docs/writing-a-driver.md)
 * — drivers/<name>.ts, test/emulators/<name>.ts, test/drivers/<name>.test.ts running the conformance suite and the
 * fault matrix, the API description under test/vendor-specs/<name>/ — and registers it with one line in the
 * `driverModules` literal of src/drivers.ts, which `DCR_DRIVER`, `npm run emulator` and `npm run bench` read. The copy
 * speaks the example API, so `npm test -- <name>` passes before the first change.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPLATE = 'example';
const COMPOSITION_ROOT = 'src/drivers.ts';

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

/**
 * src/drivers.ts with `name` added as the last member of `driverModules`: the template's own line under the new name,
 * so it is written the way that file is written (quotes, path, trailing comma). A key with a dash is quoted.
 */
export function registered(compositionRoot: string, name: string): string {
  const lines = compositionRoot.split('\n');
  const start = lines.findIndex((line) => /^(export )?const driverModules = \{$/.test(line));
  const end = start < 0 ? -1 : lines.findIndex((line, index) => index > start && line.startsWith('}'));
  const members = lines.slice(start + 1, end).map((line) => line.trimStart());
  const templateLine = members.find((line) => line.startsWith(`${TEMPLATE}: `));
  if (end < 0 || templateLine === undefined) {
    throw new Error(
      `${COMPOSITION_ROOT} has no "const driverModules = {" literal with a "${TEMPLATE}: ..." line to add ${name} beside`,
    );
  }
  if (members.some((line) => new RegExp(`^(${name}|'${name}'|"${name}"): `).test(line)))
    throw new Error(`${COMPOSITION_ROOT} has a driver named ${name} already`);
  const quote = /import\((['"])/.exec(templateLine)?.[1] ?? "'";
  const key = /^[a-z][a-z0-9]*$/.test(name) ? name : `${quote}${name}${quote}`;
  const indent = /^\s*/.exec(lines[start + 1]!)?.[0] ?? '  ';
  const entry = indent + renamed(templateLine.replace(`${TEMPLATE}: `, `${key}: `).replace(/,?$/, ','), name);
  const last = end - 1;
  if (!lines[last]!.trimEnd().endsWith(',') && !lines[last]!.trimEnd().endsWith('{'))
    lines[last] = `${lines[last]!.trimEnd()},`;
  lines.splice(end, 0, entry);
  return lines.join('\n');
}

export function scaffoldDriver(name: string, root: string): ScaffoldResult {
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name) || name.length > 30) {
    throw new Error(
      `"${name}" is not a driver name: lowercase letters and digits, dashes between words, at most 30 characters`,
    );
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
  const compositionRootPath = join(root, COMPOSITION_ROOT);
  const compositionRoot = readFileSync(compositionRootPath, 'utf8');
  // Computed before any file is written: a composition root it cannot edit leaves the tree as it was.
  const withDriver = registered(compositionRoot, name);

  for (const [source, target] of files)
    writeFileSync(join(root, target), renamed(readFileSync(join(root, source), 'utf8'), name));
  mkdirSync(join(root, specDir[1]), { recursive: true });
  for (const file of readdirSync(join(root, specDir[0]))) {
    writeFileSync(
      join(root, specDir[1], renamed(file, name)),
      renamed(readFileSync(join(root, specDir[0], file), 'utf8'), name),
    );
  }
  writeFileSync(compositionRootPath, withDriver);
  return { created: [...files.map(([, target]) => target), specDir[1]] };
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
    console.log(`registered ${name} in ${COMPOSITION_ROOT} (one line in driverModules)`);
    console.log(
      `next: npm run typecheck && npm test -- ${name}   then change the emulator and the driver into your IdP's API (docs/writing-a-driver.md)`,
    );
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
