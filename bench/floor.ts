/**
 * `npm run bench -- floor`: what one GET costs the event loop before the bridge does anything, measured as the driver
 * benchmarks measure: a bare `node:http` server answering a JSON body, a bare Express 5 app with one `GET
 * /clients/:id` route (ETag, query parsing and X-Powered-By off, as the bridge sets them), and the bridge itself (local
 * driver, `GET /clients/{id}` of a registered client). Each in its own process with `npm start`'s V8 flags, 16
 * concurrent keep-alive requests, `ROUNDS` rounds of `COUNT` requests after one unmeasured round; the servers take
 * turns round by round, so the machine's noise falls on all three alike. Prints the median of the rounds.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataDirectory } from '../drivers/local/store.js';
import { startFlags } from '../scripts/start-arguments.js';
import { eventLoopCpu, jsonCaller, measure, median, root, startBridgeProcess, type JsonCall } from './support.js';

const ROUNDS = 5;
const COUNT = 3_000;
const CONCURRENCY = 16;

const servers: Record<string, string> = {
  'node:http': `require('node:http').createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ client_id: req.url.slice(9) })); }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`,
  'express 5': `const express = require('express'); const app = express(); app.set('etag', false); app.set('query parser', false); app.disable('x-powered-by');
    app.get('/clients/:id', (req, res) => res.json({ client_id: req.params.id })); const server = app.listen(0, '127.0.0.1', () => console.log(server.address().port));`,
};

interface Target {
  name: string;
  pid: number;
  get: () => Promise<unknown>;
  stop(): Promise<void>;
}

async function bareServer(name: string, code: string): Promise<Target> {
  const child = spawn(process.execPath, [...startFlags(), '-e', code], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve) =>
    child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())),
  );
  const call: JsonCall = jsonCaller(`http://127.0.0.1:${port}`, {});
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    pid: child.pid!,
    get: () => call('GET', '/clients/abc'),
    stop: async () => {
      child.kill();
      await exited;
    },
  };
}

async function bridge(): Promise<Target> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dcr-bench-floor-'));
  await openDataDirectory(dataDir, () => undefined);
  const started = await startBridgeProcess({ DCR_DRIVER: 'local', DCR_LOCAL_DATA_DIR: dataDir });
  const { client_id: id } = (
    await started.call('POST', '/clients', { client_name: 'floor', grant_types: ['client_credentials'] })
  ).body as { client_id: string };
  return {
    name: 'bridge (local get)',
    pid: started.pid,
    get: () => started.call('GET', `/clients/${id}`),
    stop: async () => {
      await started.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function run(): Promise<void> {
  const targets = [
    ...(await Promise.all(Object.entries(servers).map(([name, code]) => bareServer(name, code)))),
    await bridge(),
  ];
  const figures = new Map<string, number[]>(targets.map((target) => [target.name, []]));
  try {
    for (let round = -1; round < ROUNDS; round++) {
      for (const target of targets) {
        const measured = await measure(
          target.name,
          target.get,
          { concurrency: CONCURRENCY, count: COUNT },
          { loop: eventLoopCpu(target.pid) },
        );
        if (round >= 0) figures.get(target.name)!.push(measured.cpuUsPerOp.loop!);
      }
    }
  } finally {
    await Promise.all(targets.map((target) => target.stop()));
  }
  console.log(
    `\nfloor: event-loop CPU µs per GET, ${CONCURRENCY} concurrent, median of ${ROUNDS} rounds of ${COUNT} after one unmeasured, the servers taking turns`,
  );
  for (const [name, values] of figures)
    console.log(
      `${name.padEnd(20)} ${median(values).toFixed(0).padStart(6)} µs  (rounds: ${values.map((value) => value.toFixed(0)).join(', ')})`,
    );
}
