/**
 * Files the bridge ships beside its code (spec/openapi.yaml), found the same way from the TypeScript sources
 * (src/…) and from the compiled JavaScript (dist/src/…): the nearest folder above this module with a package.json.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** The API description: the source of truth for validation and docs. */
export const apiSpecPath = join(packageRoot, 'spec', 'openapi.yaml');

/** What `npm run build` derives from the API description (scripts/derive-spec.ts); used only while it matches. */
export const derivedApiSpecDir = join(packageRoot, 'dist', 'spec');
