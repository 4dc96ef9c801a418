/**
 * What this bridge is: the package version, and the commit `npm run build` recorded into dist/build-info.json
 * (scripts/record-build.ts). Served at `GET /version` and as the `dcr_build_info` metric. Without a build record (the
 * sources run by `npm run dev`, a build outside a git checkout) the commit is `unknown`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './paths.js';

export interface BuildInfo {
  version: string;
  commit: string;
}

export const buildInfoFile = join(packageRoot, 'dist', 'build-info.json');

const commitPattern = /^[0-9a-f]{7,64}$/;

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function readBuildInfo(root: string = packageRoot): BuildInfo {
  const version = readJson(join(root, 'package.json'))?.version;
  const commit = readJson(join(root, 'dist', 'build-info.json'))?.commit;
  return {
    version: typeof version === 'string' ? version : 'unknown',
    commit: typeof commit === 'string' && commitPattern.test(commit) ? commit : 'unknown',
  };
}
