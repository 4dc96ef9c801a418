/**
 * Every relative link of the README, the top-level pages, docs/ and bench/README.md leads somewhere: the file
 * exists, and an anchor names a heading of it (GitHub's slugs). Links to the web are not followed (no internet).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { root } from '../fleet/bridge-process.js';

function pages(): string[] {
  const docs = readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md'))
    .map((file) => join('docs', file));
  return ['README.md', 'CONTRIBUTING.md', 'SECURITY.md', 'bench/README.md', ...docs];
}

/** GitHub's heading anchor: lower case, markup and punctuation dropped, spaces to dashes. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(path: string): Set<string> {
  const text = readFileSync(path, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((match) => slug(match[1]!)));
}

describe('the links of the README and docs/', () => {
  it('each relative link names a file that exists and, with an anchor, a heading of it', () => {
    const broken: string[] = [];
    for (const page of pages()) {
      const text = readFileSync(join(root, page), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target!)) continue;
        const [file, anchor] = target!.split('#') as [string, string | undefined];
        const path = file === '' ? join(root, page) : join(root, dirname(page), file);
        if (!existsSync(path)) {
          broken.push(`${page}: ${target} (no ${relative(root, path)})`);
          continue;
        }
        if (anchor && statSync(path).isFile() && !anchorsOf(path).has(anchor))
          broken.push(`${page}: ${target} (no heading #${anchor})`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it('makes the slugs GitHub makes', () => {
    assert.equal(slug('Tyk, API7 `oidc` and MCP clients'), 'tyk-api7-oidc-and-mcp-clients');
    assert.equal(slug('Standard DCR (RFC 7591 / RFC 7592)'), 'standard-dcr-rfc-7591--rfc-7592');
  });
});
