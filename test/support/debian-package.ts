/**
 * A command a test needs from Debian's packages (redis-server, chromium…): found on PATH or in the usual folders;
 * under CI=true a missing one is installed with apt-get first. Otherwise the test fails with the command to run.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function onPath(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The path of `command`; `purpose` says in the failure what needs it. */
export function findOrInstall(command: string, debianPackage: string, purpose: string): string {
  const found = onPath(command);
  if (found) return found;
  if (process.env.CI !== 'true') {
    throw new Error(
      `${command} is not installed: run \`apt-get update && apt-get install -y ${debianPackage}\` (CI=true does it itself); ${purpose} needs it`,
    );
  }
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', debianPackage]]) {
    const result = spawnSync('apt-get', args, {
      stdio: 'inherit',
      timeout: 600_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (result.status !== 0)
      throw new Error(
        `apt-get ${args.join(' ')} failed (status ${String(result.status)}); ${purpose} needs ${command}`,
      );
  }
  const installed = onPath(command);
  if (!installed) throw new Error(`${command} is still missing after apt-get install ${debianPackage}`);
  return installed;
}
