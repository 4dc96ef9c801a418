import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { runBridge } from '../../src/main.js';
import { compiledMain, ensureBuilt } from '../support/built.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Started {
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

/** `npm start`'s process: plain node on the compiled entry point, so a signal and an exit code are the real ones. */
function startBridge(env: Record<string, string>): Started {
  const child = spawn(process.execPath, [compiledMain], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  void exited.then(() => clearTimeout(killer));
  return { stdout: () => stdout, stderr: () => stderr, exited, kill: (signal) => child.kill(signal) };
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('timed out waiting for the bridge');
}

/**
 * The same start inside this test process, with its environment, output, exit and signals in the test's hands: for
 * what does not need a process of its own (which line names the cause), without a node start and module load each.
 */
const runningInProcess = new Set<Started>();

async function startInProcess(env: Record<string, string>): Promise<Started> {
  let stdout = '';
  let stderr = '';
  const collect = (append: (text: string) => void) =>
    new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        append(chunk.toString());
        done();
      },
    });
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  const listeners = new Map<NodeJS.Signals, () => void>();
  await runBridge({
    env,
    stdout: collect((text) => (stdout += text)),
    stderr: collect((text) => (stderr += text)),
    exit,
    onSignal: (signal, listener) => listeners.set(signal, listener),
  });
  const bridge: Started = {
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    kill: (signal) => {
      const listener = listeners.get(signal);
      assert.ok(listener, `the bridge listens for ${signal}`);
      listener();
    },
  };
  runningInProcess.add(bridge);
  void exited.then(() => runningInProcess.delete(bridge));
  return bridge;
}

before(() => ensureBuilt());
// A test that failed half-way leaves its bridge serving in this process, which would then never end.
after(() =>
  Promise.all(
    [...runningInProcess].map((bridge) => {
      bridge.kill('SIGTERM');
      return bridge.exited;
    }),
  ),
);

describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dcr-main-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts with the local driver, prints a generated key once, serves it, and exits 0 on SIGTERM', async () => {
    const bridge = startBridge({
      DCR_DRIVER: 'local',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DCR_LOCAL_DATA_DIR: dataDir,
    });
    const port = await waitFor(() => /"port":(\d+)/.exec(bridge.stdout())?.[1], 30_000);
    const apiKey = await waitFor(() => /generated API key for this run: (\S+)/.exec(bridge.stdout())?.[1], 5_000);
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/clients/x`)).status, 401);
    const created = await fetch(`${base}/clients`, {
      method: 'POST',
      headers: { 'X-API-Key': apiKey, 'Content-Type': 'application/json' },
      body: '{}',
    });
    assert.equal(created.status, 201);
    const { client_secret: secret } = (await created.json()) as { client_secret: string };
    bridge.kill('SIGTERM');
    assert.equal(await bridge.exited, 0);
    assert.equal(bridge.stdout().split(apiKey).length - 1, 1, 'the key is printed exactly once');
    assert.ok(!bridge.stdout().includes(secret) && !bridge.stderr().includes(secret), 'no client secret in the output');
    assert.match(bridge.stdout(), /"message":"shutting down"/);
  });

  it('on SIGTERM finishes a request already in flight before it exits 0', async () => {
    const bridge = startBridge({
      DCR_DRIVER: 'local',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DCR_LOCAL_DATA_DIR: dataDir,
      DCR_API_KEYS: 'in-flight-portal-key-01',
    });
    const port = Number(await waitFor(() => /"port":(\d+)/.exec(bridge.stdout())?.[1], 30_000));
    const body = JSON.stringify({ client_name: 'registered during shutdown' });
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const sent = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/clients',
          headers: {
            'X-API-Key': 'in-flight-portal-key-01',
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(body),
          },
        },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
        },
      );
      sent.on('error', reject);
      sent.write(body.slice(0, 10));
      setTimeout(() => {
        bridge.kill('SIGTERM');
        setTimeout(() => sent.end(body.slice(10)), 300);
      }, 200);
    });
    const started = Date.now();
    const response = await answered;
    assert.equal(response.status, 201, response.text);
    assert.equal(await bridge.exited, 0);
    assert.ok(Date.now() - started < 9_000, 'it exits once the request is answered, not at the 10 s limit');
  });

  it('serves HTTPS directly with TLS_CERT_FILE and TLS_KEY_FILE', async () => {
    const bridge = startBridge({
      DCR_DRIVER: 'local',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DCR_LOCAL_DATA_DIR: dataDir,
      DCR_API_KEYS: 'tls-portal-key-000001',
      TLS_CERT_FILE: join(root, '.test-ca/server.pem'),
      TLS_KEY_FILE: join(root, '.test-ca/server-key.pem'),
    });
    const port = await waitFor(() => /"port":(\d+)/.exec(bridge.stdout())?.[1], 30_000);
    assert.match(bridge.stdout(), /"publicUrl":"https:\/\/localhost:0"|"tls":true/);
    const response = await fetch(`https://localhost:${port}/clients`, {
      method: 'POST',
      headers: { 'X-API-Key': 'tls-portal-key-000001' },
    });
    assert.equal(response.status, 201);
    bridge.kill('SIGINT');
    assert.equal(await bridge.exited, 0);
  });

  it('refuses to start with one line naming a missing variable, exit code 1, before anything opened', async () => {
    const bridge = startBridge({ DCR_DRIVER: 'keycloak' });
    assert.equal(await bridge.exited, 1);
    const lines = bridge.stderr().trim().split('\n');
    assert.equal(lines.length, 1, bridge.stderr());
    assert.match(lines[0]!, /^DCR_API_KEYS is required/);
  });

  it('refuses an unknown driver by naming DCR_DRIVER', async () => {
    const bridge = await startInProcess({ DCR_DRIVER: 'ldap', DCR_API_KEYS: 'portal-key-one-000' });
    assert.equal(await bridge.exited, 1);
    assert.match(bridge.stderr().trim(), /^DCR_DRIVER must be one of /);
  });
});

/** The bridge's own stderr lines: oidc-provider prints an "Unsupported runtime" warning of its own on Node 20. */
function ownStderrLines(bridge: Started): string[] {
  return bridge
    .stderr()
    .trim()
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('oidc-provider WARNING'));
}

async function refusesWithOneLine(
  env: Record<string, string>,
  expected: RegExp,
  start: (env: Record<string, string>) => Started | Promise<Started> = startInProcess,
): Promise<void> {
  const bridge = await start({ LOG_LEVEL: 'info', HOST: '127.0.0.1', DCR_API_KEYS: 'start-up-portal-key-01', ...env });
  assert.equal(await bridge.exited, 1);
  const lines = ownStderrLines(bridge);
  assert.equal(lines.length, 1, bridge.stderr());
  assert.match(lines[0]!, expected);
}

describe('start-up failures name their cause in one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dcr-start-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a port already in use: the process exits 1 with the driver and the app already open', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      await refusesWithOneLine(
        { PORT: String(port), DCR_LOCAL_DATA_DIR: join(dir, 'in-use') },
        new RegExp(`^PORT ${port} is already in use on 127\\.0\\.0\\.1$`),
        startBridge,
      );
    } finally {
      holder.close();
    }
  });

  it('an address that is not this machine’s', async () => {
    // TEST-NET-1 (RFC 5737): never assigned here, so the bind fails at once and nothing is sent anywhere.
    await refusesWithOneLine(
      { PORT: '0', HOST: '192.0.2.1', DCR_LOCAL_DATA_DIR: join(dir, 'address') },
      /^HOST 192\.0\.2\.1 cannot be bound: it is not an address of this machine$/,
    );
  });

  it('a data directory that cannot be created', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    await refusesWithOneLine(
      { PORT: '0', DCR_LOCAL_DATA_DIR: join(file, 'data') },
      new RegExp(
        `^DCR_LOCAL_DATA_DIR ${join(file, 'data')} cannot be created or written: a part of the path is not a directory$`,
      ),
    );
  });

  it('a clients folder that cannot be read', async () => {
    const dataDir = join(dir, 'clients-is-a-file');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'clients'), '');
    await refusesWithOneLine(
      { PORT: '0', DCR_LOCAL_DATA_DIR: dataDir },
      new RegExp(`^DCR_LOCAL_DATA_DIR holds ${join(dataDir, 'clients')}, which cannot be read: `),
    );
  });

  it('a damaged key file, named, and left in place', async () => {
    const dataDir = join(dir, 'bad-keys');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'keys.json'), '{"jwks":');
    await refusesWithOneLine(
      { PORT: '0', DCR_LOCAL_DATA_DIR: dataDir },
      new RegExp(
        `^DCR_LOCAL_DATA_DIR holds ${join(dataDir, 'keys.json')}, which is not a valid key file: restore it, or remove it to generate new keys$`,
      ),
    );
    assert.equal(readFileSync(join(dataDir, 'keys.json'), 'utf8'), '{"jwks":');
  });

  it('a damaged client file is moved aside and logged, and the other clients are served', async () => {
    const dataDir = join(dir, 'bad-client');
    const apiKey = 'damaged-file-portal-01';
    const first = await startInProcess({
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DCR_LOCAL_DATA_DIR: dataDir,
      DCR_API_KEYS: apiKey,
    });
    let port = await waitFor(() => /"port":(\d+)/.exec(first.stdout())?.[1], 30_000);
    const register = () =>
      fetch(`http://127.0.0.1:${port}/clients`, { method: 'POST', headers: { 'X-API-Key': apiKey } }).then(
        (r) => r.json() as Promise<{ client_id: string }>,
      );
    const good = await register();
    const damaged = await register();
    first.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    const damagedFile = join(dataDir, 'clients', `${damaged.client_id}.json`);
    writeFileSync(damagedFile, '{"clientId": "trunc');

    const second = await startInProcess({
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DCR_LOCAL_DATA_DIR: dataDir,
      DCR_API_KEYS: apiKey,
    });
    port = await waitFor(() => /"port":(\d+)/.exec(second.stdout())?.[1], 30_000);
    const warning = second
      .stdout()
      .split('\n')
      .find((line) => line.includes('moved aside a client file'));
    assert.ok(warning, second.stdout());
    assert.equal((JSON.parse(warning) as { file: string }).file, damagedFile);
    assert.equal(existsSync(damagedFile), false, 'moved aside, so the next start does not trip on it again');
    assert.equal(
      readdirSync(join(dataDir, 'clients')).filter((name) => name.startsWith(`${damaged.client_id}.json.damaged-`))
        .length,
      1,
    );
    const get = (id: string) => fetch(`http://127.0.0.1:${port}/clients/${id}`, { headers: { 'X-API-Key': apiKey } });
    assert.equal((await get(good.client_id)).status, 200);
    assert.equal((await get(damaged.client_id)).status, 404);
    second.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });
});
