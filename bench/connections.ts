/**
 * What connections cost (DESIGN.md "Connections"): the bridge started as `npm start` starts it, with no
 * DCR_CONFIG_FILE (one connection from the environment), then with a file of 1 and of 5 connections (the local
 * driver each, its own data directory and issuer). For each: the time from spawn to the first `200` of `/readyz`,
 * the resident memory (VmRSS) once ready, and again after one client registered through every connection (which
 * wakes each local IdP's provider). Median of `runs` starts each. `npm run bench -- connections [--quick]`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startArguments } from '../test/support/built.js';
import { freeLoopbackPort } from '../test/support/free-port.js';
import type { BenchOptions } from './support.js';

const keyOf = (index: number): string => `bench-connection-key-${String(index).padStart(4, '0')}`;

function residentMegabytes(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  return kb / 1024;
}

interface Start {
  readyMs: number;
  idleMb: number;
  afterRegisterMb: number;
}

/** `connections` undefined: no file, the environment's one connection. */
async function startOnce(connections: number | undefined): Promise<Start> {
  const dir = mkdtempSync(join(tmpdir(), 'dcr-bench-connections-'));
  const port = await freeLoopbackPort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DCR_AUDIT_LOG: 'off',
    DCR_LOCAL_DATA_DIR: dir,
    NODE_ENV: 'production',
  };
  const paths: { path: string; key: string }[] = [];
  if (connections === undefined) {
    env.DCR_API_KEYS = keyOf(0);
    paths.push({ path: '', key: keyOf(0) });
  } else {
    const lines = ['connections:'];
    for (let index = 0; index < connections; index++) {
      lines.push(`  - name: c${index}`, '    driver: local', `    api_keys: ${keyOf(index)}`);
      paths.push({ path: `/c${index}`, key: keyOf(index) });
    }
    env.DCR_CONFIG_FILE = join(dir, 'connections.yaml');
    writeFileSync(env.DCR_CONFIG_FILE, `${lines.join('\n')}\n`);
  }
  const started = performance.now();
  const child = spawn(process.execPath, startArguments(), { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the bridge exited with code ${child.exitCode}`);
      const ready = await fetch(`${base}/readyz`).then(
        (response) => response.status === 200,
        () => false,
      );
      if (ready) break;
      if (performance.now() - started > 120_000) throw new Error('not ready within 120 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const readyMs = performance.now() - started;
    const idleMb = residentMegabytes(child.pid!);
    for (const { path, key } of paths) {
      const response = await fetch(`${base}${path}/clients`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'bench', grant_types: ['client_credentials'] }),
      });
      if (response.status !== 201) throw new Error(`register under ${path || '/'} answered ${response.status}`);
    }
    return { readyMs, idleMb, afterRegisterMb: residentMegabytes(child.pid!) };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function run(options: BenchOptions): Promise<void> {
  console.log('\nconnections: start to ready and resident memory, local driver per connection');
  console.log('setup                    ready ms   RSS idle MB   RSS after one register each MB');
  for (const connections of [undefined, 1, 5]) {
    const starts: Start[] = [];
    for (let index = 0; index < options.runs; index++) starts.push(await startOnce(connections));
    const label = connections === undefined ? 'no file (environment)' : `file, ${connections} connection(s)`;
    console.log(
      `${label.padEnd(24)} ${median(starts.map((s) => s.readyMs))
        .toFixed(0)
        .padStart(8)}   ${median(starts.map((s) => s.idleMb))
        .toFixed(1)
        .padStart(11)}   ${median(starts.map((s) => s.afterRegisterMb))
        .toFixed(1)
        .padStart(10)}`,
    );
  }
}
