/**
 * The compiled bridge (dist/) for the tests that run it as production does (`node dist/src/main.js`).
 *
 * `npm ci` builds already (the `prepare` script) and CI runs `npm ci` then `npm test`, so the tests build only when
 * dist/ is missing a file or older than a file it is built from: a clean clone is not built twice (the build costs
 * ~17 s of CPU), and a developer who changed src/ still runs what they wrote. Time stamps decide, as make does: git
 * stamps every file it writes with the time of the checkout, so a pull or a branch switch counts as a change.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundledSdks, bundledVersionsFile, codeCacheOf } from '../../src/driver/call/sdk.js';

const packageRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The entry point `npm start` runs. */
export const compiledMain = join(packageRoot, 'dist', 'src', 'main.js');

export { startArguments } from '../../scripts/start-arguments.js';

/** The folders tsc compiles (tsconfig.build.json `include`); dist/ mirrors them. */
const compiledFolders = ['src', 'drivers'];

/**
 * What else the build reads: its configuration, scripts/derive-spec.ts with the YAML it derives dist/spec from, and
 * scripts/bundle-sdks.ts with the installed packages it bundles into dist/sdk (package-lock.json says which).
 */
const buildFiles = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'scripts/derive-spec.ts',
  'spec/openapi.yaml',
  'scripts/bundle-sdks.ts',
  'scripts/start-arguments.ts',
  'scripts/record-build.ts',
];

/** What scripts/derive-spec.ts and scripts/bundle-sdks.ts write, the build's last steps (the versions file last). */
const derivedFiles = [
  'dist/spec/openapi.json',
  'dist/spec/validators.cjs',
  ...Object.values(bundledSdks).flatMap((file) => [`dist/sdk/${file}`, `dist/sdk/${codeCacheOf(file)}`]),
  `dist/sdk/${bundledVersionsFile}`,
  'dist/build-info.json',
];

function filesUnder(root: string, folder: string): string[] {
  if (!existsSync(join(root, folder))) return [];
  return readdirSync(join(root, folder), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

/**
 * Why dist/ under `root` must be built again, in words, or undefined when it is current: a file the build writes is
 * missing, or a file it reads is newer than the oldest file it wrote. Files left in dist/ by a source since deleted
 * are not counted (the build does not remove them either).
 */
export function whyRebuild(root: string = packageRoot): string | undefined {
  const sources = compiledFolders.flatMap((folder) => filesUnder(root, folder));
  const outputs = [
    ...sources
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
      .map((file) => join('dist', file.replace(/\.ts$/, '.js'))),
    ...derivedFiles,
  ];
  let builtAt = Infinity;
  for (const output of outputs) {
    const stat = statSync(join(root, output), { throwIfNoEntry: false });
    if (!stat) return `${output} is missing`;
    builtAt = Math.min(builtAt, stat.mtimeMs);
  }
  for (const input of [...buildFiles, ...sources]) {
    const stat = statSync(join(root, input), { throwIfNoEntry: false });
    if (stat && stat.mtimeMs > builtAt) return `${input} is newer than dist/`;
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One build at a time: `npm test` runs two test files at once, and both may find dist/ stale. */
async function withBuildLock<T>(action: () => Promise<T>): Promise<T> {
  const lockDir = join(packageRoot, '.cache');
  const lock = join(lockDir, 'build.lock');
  mkdirSync(lockDir, { recursive: true });
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(lock, { encoding: 'utf8', flag: 'r' }) || Number.NaN);
      // A dead holder's lock is taken over; an empty one is being written by its holder, so it is waited for.
      if (Number.isInteger(holder) && !isAlive(holder)) rmSync(lock, { force: true });
      else if (Date.now() > deadline)
        throw new Error(`${lock} is held by process ${holder}; remove it if no build runs`);
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return await action();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Builds dist/ with `npm run build` when `whyRebuild` finds it stale; returns the reason it built, if it did. */
export async function ensureBuilt(): Promise<string | undefined> {
  return withBuildLock(async () => {
    const reason = whyRebuild();
    if (reason === undefined) return undefined;
    process.stderr.write(`building dist/ (npm run build): ${reason}\n`);
    const build = spawn('npm', ['run', 'build'], { cwd: packageRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    build.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    build.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      build.on('error', reject);
      build.on('exit', (exitCode) => resolve(exitCode));
    });
    if (code !== 0) throw new Error(`npm run build failed (exit ${code}):\n${output}`);
    return reason;
  });
}
