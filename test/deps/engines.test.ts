/**
 * Every package the lock file installs runs on the Node this project supports (`engines.node` of package.json, Node
 * 20): a dependency the registry would otherwise resolve to a Node-22-only version (cookie 2 through light-my-request,
 * the AWS SDK after January 2027) fails here, so it is pinned or overridden before it reaches a user.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import semver from 'semver';
import { root } from '../fleet/bridge-process.js';

interface LockedPackage {
  version?: string;
  engines?: { node?: string } | string[];
  optional?: boolean;
}

describe("the lock file's packages and the supported Node", () => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockedPackage>;
  };
  const lowest = semver.minVersion(manifest.engines.node)!.version;

  it('reads the lowest supported Node from package.json', () => {
    assert.equal(semver.major(lowest), 20);
  });

  it('installs no package whose engines exclude it', () => {
    const refusing = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && !entry.optional)
      .flatMap(([path, entry]) => {
        const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
        return range !== undefined && semver.validRange(range) && !semver.satisfies(lowest, range)
          ? [`${path.replace(/^.*node_modules\//, '')}@${entry.version} needs node ${range}`]
          : [];
      });
    assert.deepEqual(refusing, []);
  });
});
