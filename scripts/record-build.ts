/**
 * A step of `npm run build`: records the commit the build was made from into dist/build-info.json, read by
 * src/build-info.ts for `GET /version` and `dcr_build_info`. Outside a git checkout (a Docker build context without
 * .git) it records `unknown`; `DCR_BUILD_COMMIT` names the commit explicitly (e.g. a CI build argument).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildInfoFile } from '../src/build-info.js';
import { packageRoot } from '../src/paths.js';

function currentCommit(): string {
  const given = process.env.DCR_BUILD_COMMIT?.trim();
  if (given) return given;
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: packageRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'unknown';
  }
}

const commit = /^[0-9a-f]{7,64}$/.test(currentCommit()) ? currentCommit() : 'unknown';
mkdirSync(dirname(buildInfoFile), { recursive: true });
writeFileSync(buildInfoFile, `${JSON.stringify({ commit }, null, 2)}\n`);
console.log(`record-build: dist/build-info.json commit ${commit}`);
