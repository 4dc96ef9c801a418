/**
 * The doc-test: every shell block of the walkthroughs in the README and docs/ runs, as a reader pastes it, against the
 * compiled bridge started the way the page's ```` ```sh bridge ```` block says (its variables, on a free loopback port
 * instead of 3000). The page's blocks run in order in one bash (`set -euo pipefail`), so a variable one block sets is
 * there for the next, as in a terminal. A block fenced ```` ```sh no-run ```` is skipped (a start that never ends); they
 * stay a small minority of each page. Needs curl and jq, as the pages say.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { root, startBridgeProcess, until, type BridgeProcess } from '../fleet/bridge-process.js';
import { freeLoopbackPort } from '../support/free-port.js';

interface ShellBlock {
  kind: 'run' | 'no-run' | 'bridge';
  text: string;
  line: number;
}

/** The fenced shell blocks of a Markdown page, by their info string: `sh`, `sh no-run`, `sh bridge`. */
export function shellBlocks(markdown: string): ShellBlock[] {
  const blocks: ShellBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(sh|bash|shell)(?:\s+(no-run|bridge))?\s*$/.exec(lines[i]!);
    if (!open) {
      if (/^```/.test(lines[i]!)) {
        // Any other fence: skip to its end, so a ``` inside it is not read as a shell block.
        for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++);
      }
      continue;
    }
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    blocks.push({ kind: (open[2] as ShellBlock['kind'] | undefined) ?? 'run', text: body.join('\n'), line: start });
  }
  return blocks;
}

/** `A=1 B=two npm start` → `{A: '1', B: 'two'}`; anything else in a bridge block is refused. */
function bridgeEnv(block: ShellBlock): Record<string, string> {
  const words = block.text.trim().split(/\s+/);
  const start = words.indexOf('npm');
  assert.deepEqual(words.slice(start), ['npm', 'start'], `line ${block.line}: a bridge block is VAR=value… npm start`);
  return Object.fromEntries(
    words.slice(0, start).map((word) => {
      const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
      assert.ok(match, `line ${block.line}: ${word} is not VAR=value`);
      return [match[1]!, match[2]!];
    }),
  );
}

interface Walkthrough {
  page: string;
  /** What the page's output must show, in order, so a block that silently did nothing fails. */
  shows: RegExp[];
}

const walkthroughs: Walkthrough[] = [
  {
    page: 'README.md',
    shows: [
      /"client_secret": "[^"]+"/,
      /"issuer": "http:\/\/localhost:\d+\/local-idp"/,
      /"access_token": "[^"]+"/,
      /"error": "invalid_client"/,
      /"access_token": "[^"]+"/,
      /^204$/m,
      /"error": "invalid_client"/,
      /"error": "client_not_found"/,
      /"client_secret"/,
      /^204$/m,
    ],
  },
  {
    page: 'docs/standard-dcr.md',
    shows: [
      /"registration_endpoint": "http:\/\/localhost:\d+\/register"/,
      /"registration_access_token": "[^"]+"/,
      /"client_secret": null/,
      /"client_name": "orders service v2"/,
      /HTTP\/1.1 401/,
      /www-authenticate: Bearer error="invalid_token"/i,
      /^204$/m,
      /^401$/m,
      /"client_ids": \[/,
      /"deleted": 0/,
    ],
  },
  {
    page: 'docs/operations.md',
    shows: [
      /"version": "\d+\.\d+\.\d+",\n {2}"commit": "([0-9a-f]{7,64}|unknown)"/,
      /^dcr_build_info\{version="\d+\.\d+\.\d+",commit="[^"]+"\} 1$/m,
      /"dialect": "konnect"/,
      /"portal_id": "portal-1"/,
      /"next": "1"/,
      /"(billing|shipping)"/,
      /"client_name": "(billing|shipping)"/,
      /^204$/m,
      /^client_id\tdialect\tportal_id\tcreated\tmarks\tclient_name$/m,
      /\tkonnect\tportal-1\t\d{4}-\d\d-\d\dT/,
      /"client_id": "[^"]+",\n {2}"client_id_issued_at"/,
    ],
  },
  {
    page: 'docs/troubleshooting.md',
    shows: [/^404$/m, /"error": "invalid_api_key"/, /"status": "ok"/, /"token_type": "Bearer"/, /^204$/m],
  },
];

function matchInOrder(output: string, patterns: RegExp[]): void {
  let rest = output;
  for (const pattern of patterns) {
    const match = pattern.exec(rest);
    assert.ok(match, `the output shows ${pattern} after what came before:\n${output}`);
    rest = rest.slice(match.index + match[0].length);
  }
}

describe('the walkthroughs of the README and docs/, pasted into a shell against npm start', () => {
  const workDirs: string[] = [];
  const blockCounts = { run: 0, skipped: 0 };
  const bridges: BridgeProcess[] = [];
  after(async () => {
    for (const bridge of bridges) await bridge.stop();
    for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('has curl and jq, which the pages tell the reader to have', () => {
    for (const tool of ['curl', 'jq']) {
      const found = spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
      assert.ok(found, `${tool} is needed by the walkthroughs (apt-get install -y ${tool})`);
    }
  });

  for (const { page, shows } of walkthroughs) {
    it(`${page}: every shell block runs and shows what the page says`, async () => {
      const blocks = shellBlocks(readFileSync(join(root, page), 'utf8'));
      const starts = blocks.filter((block) => block.kind === 'bridge');
      const runs = blocks.filter((block) => block.kind === 'run');
      const skipped = blocks.filter((block) => block.kind === 'no-run');
      assert.equal(starts.length, 1, `${page} starts the bridge in exactly one block`);
      assert.ok(runs.length > 0, `${page} has blocks to run`);
      blockCounts.run += runs.length;
      blockCounts.skipped += skipped.length;

      const workDir = mkdtempSync(join(tmpdir(), 'dcr-doc-test-'));
      workDirs.push(workDir);
      const port = await freeLoopbackPort();
      const bridge = await startBridgeProcess({ ...bridgeEnv(starts[0]!), PORT: String(port) }, { cwd: workDir });
      bridges.push(bridge);
      await until(async () => (await fetch(`${bridge.baseUrl}/readyz`)).status === 200, `${page}: /readyz is 200`);

      const script = runs
        .map((block) => `# ${page}:${block.line}\n${block.text.replaceAll('localhost:3000', `localhost:${port}`)}`)
        .join('\n');
      // `npm run …` as the reader runs it in the clone: an npm on PATH that runs the clone's scripts from here.
      const shims = join(workDir, 'bin');
      mkdirSync(shims);
      const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
      writeFileSync(join(shims, 'npm'), `#!/bin/sh\nexec "${npm}" --prefix "${root}" "$@"\n`, { mode: 0o755 });
      const result = spawnSync('bash', ['-c', `set -euo pipefail\n${script}`], {
        cwd: workDir,
        encoding: 'utf8',
        timeout: 120_000,
        env: { PATH: `${shims}:${process.env.PATH ?? ''}`, HOME: workDir },
      });
      assert.equal(result.status, 0, `${page}: the blocks exit 0\n${result.stderr}\n${result.stdout}`);
      matchInOrder(result.stdout, shows);
      assert.doesNotMatch(result.stdout, /"client_id": null/, 'every id the page reads from an answer was there');
    });
  }

  it('runs most blocks: those marked no-run stay a small minority of the walkthroughs', () => {
    assert.ok(blockCounts.run > 0);
    assert.ok(blockCounts.skipped * 2 < blockCounts.run, `under a third: ${JSON.stringify(blockCounts)}`);
  });

  it('reads info strings as the pages use them, and skips other fences whole', () => {
    const blocks = shellBlocks(
      [
        '```sh bridge',
        'A=1 npm start',
        '```',
        '```json',
        '```sh',
        '```',
        '```sh no-run',
        'x',
        '```',
        '```sh',
        'y',
        '```',
      ].join('\n'),
    );
    assert.deepEqual(
      blocks.map((block) => [block.kind, block.text]),
      [
        ['bridge', 'A=1 npm start'],
        ['no-run', 'x'],
        ['run', 'y'],
      ],
    );
  });
});
