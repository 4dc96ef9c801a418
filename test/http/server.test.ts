/**
 * The HTTP server around the app, over real sockets: its limits are set from the configuration, a connection
 * answered before its body arrived is closed, the parser's own refusals come in the JSON error shape, and connections
 * are bounded.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { ConfigurationError } from '../../src/env.js';
import { clientErrorAnswer, createBridgeServer } from '../../src/server.js';
import { createTestApp, testConfig, type TestApp } from '../support/app.js';
import { MemoryDriver } from '../support/memory-driver.js';

/** What the server sent on a raw connection until it closed it, or `closed: false` if it kept it open. */
interface RawExchange {
  text: string;
  closedByServer: boolean;
}

/** The deadline after which a connection the server should have closed counts as held open (a failure, not a wait). */
const heldOpenAfterMs = 5_000;

function exchange(port: number, chunks: string[], { trickle }: { trickle?: string } = {}): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let trickler: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean) => {
      clearTimeout(deadline);
      clearInterval(trickler);
      socket.destroy();
      resolve({ text, closedByServer });
    };
    const deadline = setTimeout(() => finish(false), heldOpenAfterMs);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      // Like the attack: keep sending one byte at a time after the answer.
      if (trickle && trickler === undefined) trickler = setInterval(() => socket.writable && socket.write(trickle), 50);
    });
    socket.on('end', () => finish(true));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' || error.code === 'EPIPE' ? finish(true) : reject(error),
    );
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
    });
  });
}

function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
}

function bodyOf(text: string): { error?: string; error_description?: string } {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error?: string; error_description?: string };
}

describe('the HTTP server', () => {
  let bridge: TestApp;
  let server: http.Server;
  let port: number;
  const limits = {
    headersTimeoutMs: 7_000,
    requestTimeoutMs: 9_000,
    keepAliveTimeoutMs: 61_000,
    maxConnections: 3,
    maxConnectionsPerAddress: 3,
  };
  before(async () => {
    const config = testConfig({ serverLimits: limits, bodyLimitBytes: 1024 });
    bridge = await createTestApp(new MemoryDriver(), config);
    server = createBridgeServer({ ...config, apiKeys: [bridge.apiKey] }, bridge.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await bridge.close();
  });

  it('sets the configured header, request and keep-alive timeouts and the connection bound', () => {
    assert.equal(server.headersTimeout, 7_000);
    assert.equal(server.requestTimeout, 9_000);
    assert.equal(server.keepAliveTimeout, 61_000);
    assert.equal(server.maxConnections, 3);
  });

  it('closes a connection answered 401 before its body arrived, while the caller trickles the body', async () => {
    const answer = await exchange(
      port,
      ['POST /clients HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{'],
      { trickle: 'x' },
    );
    assert.equal(statusOf(answer.text), 401, answer.text);
    assert.match(answer.text, /\r\nConnection: close\r\n/i);
    assert.equal(bodyOf(answer.text).error, 'invalid_api_key');
    assert.equal(answer.closedByServer, true, 'the server closed the connection instead of waiting for the body');
  });

  it('closes a connection answered 413 from its Content-Length before the body arrived', async () => {
    const answer = await exchange(
      port,
      [
        `POST /clients HTTP/1.1\r\nHost: bridge\r\nX-API-Key: ${bridge.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
      ],
      { trickle: 'x' },
    );
    assert.equal(statusOf(answer.text), 413, answer.text);
    assert.match(answer.text, /\r\nConnection: close\r\n/i);
    assert.equal(bodyOf(answer.text).error, 'request_too_large');
    assert.equal(answer.closedByServer, true);
  });

  it('keeps a connection whose request was read whole, even when the answer is an error', async () => {
    const socket = net.connect(port, '127.0.0.1');
    try {
      const answers: string[] = [];
      const next = () =>
        new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      const first = next();
      socket.write('GET /clients/x HTTP/1.1\r\nHost: bridge\r\n\r\n');
      answers.push(await first);
      const second = next();
      socket.write('GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n');
      answers.push(await second);
      assert.equal(statusOf(answers[0]!), 401);
      assert.doesNotMatch(answers[0]!, /\r\nConnection: close\r\n/i);
      assert.equal(statusOf(answers[1]!), 200, 'the same connection served the next request');
    } finally {
      socket.destroy();
    }
  });

  it('answers headers over 16 KB 431 in the JSON error shape and closes', async () => {
    const answer = await exchange(port, [
      `GET /healthz HTTP/1.1\r\nHost: bridge\r\nX-Padding: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
    ]);
    assert.equal(statusOf(answer.text), 431, answer.text);
    assert.match(answer.text, /\r\nContent-Type: application\/json/i);
    const body = bodyOf(answer.text);
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
    assert.equal(body.error, 'request_too_large');
    assert.equal(answer.closedByServer, true);
  });

  it('answers a request that is not HTTP 400 in the JSON error shape', async () => {
    const answer = await exchange(port, ['GET /healthz HTTP/1.1\r\nHost bridge\r\n\r\n']);
    assert.equal(statusOf(answer.text), 400, answer.text);
    assert.equal(bodyOf(answer.text).error, 'invalid_request');
    assert.equal(answer.closedByServer, true);
  });

  it('a timeout of the parser is a 408 in the same shape', () => {
    assert.deepEqual(clientErrorAnswer('ERR_HTTP_REQUEST_TIMEOUT').status, 408);
    assert.equal(clientErrorAnswer('ERR_HTTP_REQUEST_TIMEOUT').code, 'invalid_request');
  });

  it('refuses connections beyond the bound', async () => {
    const open = await Promise.all(
      Array.from(
        { length: 3 },
        () =>
          new Promise<net.Socket>((resolve) => {
            const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
          }),
      ),
    );
    try {
      // The server counts a connection once it has accepted it; an answered request proves all three were.
      for (const socket of open) {
        const answered = new Promise<string>((resolve) =>
          socket.once('data', (chunk: Buffer) => resolve(chunk.toString())),
        );
        socket.write('GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n');
        assert.equal(statusOf(await answered), 200);
      }
      const extra = await exchange(port, ['GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n']);
      assert.equal(extra.text, '', 'the fourth connection got no answer');
      assert.equal(extra.closedByServer, true, 'and was closed at once');
    } finally {
      for (const socket of open) socket.destroy();
    }
  });
});

/** Connections that never send a byte and never close their side (no FIN): what the attack held open. */
async function silentConnections(port: number, count: number, localAddress = '127.0.0.1'): Promise<net.Socket[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen: true }, () =>
            resolve(socket),
          );
          socket.on('error', () => undefined);
          socket.once('error', reject);
        }),
    ),
  );
}

/** Resolves once the server holds no connection; a deadline turns "held for ever" into a failure, not a hang. */
async function serverHoldsNone(server: http.Server, deadlineMs: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const count = await new Promise<number>((resolve, reject) =>
      server.getConnections((error, n) => (error ? reject(error) : resolve(n))),
    );
    if (count === 0) return;
    assert.ok(Date.now() - started < deadlineMs, `the server still holds ${count} connections after ${deadlineMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function getHealthz(port: number, localAddress: string): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    const deadline = setTimeout(() => {
      socket.destroy();
      resolve({ text, closedByServer: false });
    }, heldOpenAfterMs);
    socket.on('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: bridge\r\nConnection: close\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve({ text, closedByServer: true });
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' || error.code === 'EPIPE' ? undefined : reject(error),
    );
  });
}

describe('idle connections (issue 23, item 2)', () => {
  let bridge: TestApp;
  let server: http.Server;
  let port: number;
  const limits = {
    headersTimeoutMs: 1_000,
    requestTimeoutMs: 1_000,
    keepAliveTimeoutMs: 1_000,
    maxConnections: 1024,
    maxConnectionsPerAddress: 256,
  };
  before(async () => {
    const config = testConfig({ serverLimits: limits });
    bridge = await createTestApp(new MemoryDriver(), config);
    server = createBridgeServer({ ...config, apiKeys: [bridge.apiKey] }, bridge.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await bridge.close();
  });

  it('1,024 silent connections from one address neither block another caller nor outlive the header timeout', async () => {
    const silent = await silentConnections(port, 1024);
    try {
      // The per-address bound kept most of them out, so a caller elsewhere is served at once.
      const other = await getHealthz(port, '127.0.0.2');
      assert.equal(statusOf(other.text), 200, other.text);
      // Each one that was let in is answered 408 and destroyed after the header timeout, though none sends a FIN.
      await serverHoldsNone(server, limits.headersTimeoutMs + 3_000);
      const again = await getHealthz(port, '127.0.0.1');
      assert.equal(statusOf(again.text), 200, 'the attacking address itself is served once its connections are gone');
    } finally {
      for (const socket of silent) socket.destroy();
    }
  });

  it('refuses connections beyond DCR_MAX_CONNECTIONS_PER_ADDRESS and counts them again once closed', async () => {
    const held = await silentConnections(port, 256, '127.0.0.3');
    try {
      const refused = await getHealthz(port, '127.0.0.3');
      assert.equal(refused.text, '', 'the 257th connection from one address got no answer');
      assert.equal(refused.closedByServer, true);
    } finally {
      for (const socket of held) socket.destroy();
    }
    await serverHoldsNone(server, 2_000);
    const served = await getHealthz(port, '127.0.0.3');
    assert.equal(statusOf(served.text), 200);
  });
});

describe('server limits configuration', () => {
  it('has defaults for a service behind a load balancer and reads each variable', () => {
    const defaults = loadConfig({}).serverLimits;
    assert.deepEqual(defaults, {
      headersTimeoutMs: 20_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 65_000,
      maxConnections: 1024,
      maxConnectionsPerAddress: 256,
    });
    assert.ok(defaults.keepAliveTimeoutMs > 60_000, 'above the 60 s idle timeout of common load balancers');
    const configured = loadConfig({
      DCR_HEADERS_TIMEOUT_MS: '5000',
      DCR_REQUEST_TIMEOUT_MS: '6000',
      DCR_KEEP_ALIVE_TIMEOUT_MS: '75000',
      DCR_MAX_CONNECTIONS: '50',
      DCR_MAX_CONNECTIONS_PER_ADDRESS: '7',
    }).serverLimits;
    assert.deepEqual(configured, {
      headersTimeoutMs: 5_000,
      requestTimeoutMs: 6_000,
      keepAliveTimeoutMs: 75_000,
      maxConnections: 50,
      maxConnectionsPerAddress: 7,
    });
    assert.equal(loadConfig({ DCR_MAX_CONNECTIONS: '40' }).serverLimits.maxConnectionsPerAddress, 10);
    assert.equal(
      loadConfig({ DCR_TRUST_PROXY: '1' }).serverLimits.maxConnectionsPerAddress,
      1024,
      'behind a trusted proxy every connection comes from its address',
    );
  });

  it('refuses bad values in one line naming the variable', () => {
    for (const [env, variable] of [
      [{ DCR_HEADERS_TIMEOUT_MS: 'soon' }, 'DCR_HEADERS_TIMEOUT_MS'],
      [{ DCR_REQUEST_TIMEOUT_MS: '10' }, 'DCR_REQUEST_TIMEOUT_MS'],
      [{ DCR_KEEP_ALIVE_TIMEOUT_MS: '-1' }, 'DCR_KEEP_ALIVE_TIMEOUT_MS'],
      [{ DCR_MAX_CONNECTIONS: '0' }, 'DCR_MAX_CONNECTIONS'],
      [{ DCR_MAX_CONNECTIONS_PER_ADDRESS: '0' }, 'DCR_MAX_CONNECTIONS_PER_ADDRESS'],
      [{ DCR_HEADERS_TIMEOUT_MS: '40000', DCR_REQUEST_TIMEOUT_MS: '30000' }, 'DCR_HEADERS_TIMEOUT_MS'],
    ] as const) {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) =>
          error instanceof ConfigurationError && error.variable === variable && !error.message.includes('\n'),
      );
    }
  });
});
