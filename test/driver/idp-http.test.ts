/**
 * The kit's pooled IdP HTTP client (src/driver/call/http.ts), over TLS against the emulator framework: its connections are
 * kept alive and reused, at most `maxConnections` open at once, new ones resume the TLS session; an attempt's abort
 * ends the request at the IdP; dropped, refused and TLS failures keep the causes the call layer classifies them by.
 * Each face is checked: `request` (the kit's own calls), `fetch` (the SDKs that take a fetch function) and
 * `fetchOptions` (Node's own fetch sent over the pool, Keycloak's SDK).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createServer as createPlainServer, type Server } from 'node:http';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createAdminCall } from '../../src/driver/call/admin-call.js';
import type { IdpFailureReport } from '../../src/driver/contract.js';
import { mayHaveBeenApplied } from '../../src/driver/recovery.js';
import { createIdpHttpClient, type IdpHttpClient } from '../../src/driver/call/http.js';
import { IdpTimeoutError, IdpUnavailableError } from '../../src/errors.js';
import { Emulator } from '../emulators/framework.js';
import { VirtualClock } from '../support/virtual-clock.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const THINGS = 'GET /things';
const ECHO = 'POST /echo';

type Face = 'request' | 'fetch' | 'fetchOptions';
const faces: Face[] = ['request', 'fetch', 'fetchOptions'];

/** One GET through one face of the client; resolves to the status once the body is read. */
async function get(http: IdpHttpClient, face: Face, url: string, signal?: AbortSignal): Promise<number> {
  if (face === 'request')
    return (await http.request(url, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) })).status;
  const init: RequestInit = { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) };
  const response = face === 'fetch' ? await http.fetch(url, init) : await fetch(url, { ...http.fetchOptions, ...init });
  await response.text();
  return response.status;
}

describe('the IdP HTTP client', () => {
  const emulator = new Emulator({ name: 'idp' });
  emulator.route('GET', '/things', () => ({
    status: 200,
    headers: { 'x-request-id': 'r-1' },
    body: { things: [1, 2, 3] },
  }));
  emulator.route('POST', '/echo', (request) => ({
    status: 200,
    body: { contentType: request.headers['content-type'] ?? null, body: request.rawBody },
  }));
  emulator.route('HEAD', '/things', () => ({ status: 200 }));
  emulator.route('DELETE', '/things', () => ({ status: 204 }));
  emulator.route('POST', '/things/lifecycle', (request) => ({
    status: 200,
    headers: { 'content-type': 'text/html', 'x-authorization': String(request.headers.authorization) },
    body: '<html>done</html>',
  }));
  let url: string;
  before(async () => {
    url = await emulator.start();
  });
  after(() => emulator.stop());
  beforeEach(async () => {
    emulator.clearFaults();
    emulator.useClock(undefined);
    // Each test counts the connections of its own client only.
    await emulator.connectionsClosed();
    emulator.resetConnectionCounts();
  });

  describe('keeps its connections alive', () => {
    for (const face of faces) {
      it(`61 calls through ${face} open at most the limit of connections, and every connection after the first resumes its TLS session`, async () => {
        const http = createIdpHttpClient({ maxConnections: 4 });
        try {
          assert.equal(await get(http, face, `${url}/things`), 200);
          for (let wave = 0; wave < 6; wave++) {
            const statuses = await Promise.all(Array.from({ length: 10 }, () => get(http, face, `${url}/things`)));
            assert.deepEqual(new Set(statuses), new Set([200]));
          }
          const { opened, resumedSessions } = emulator.connections;
          assert.ok(
            opened >= 2 && opened <= 4,
            `61 calls opened ${opened} connections: between 2 (10 at once on one would wait) and the limit of 4`,
          );
          assert.equal(resumedSessions, opened - 1, 'the connections after the first resumed its TLS session');
        } finally {
          await http.close();
        }
      });
    }
  });

  describe('honours its connection limit', () => {
    for (const limit of [1, 3]) {
      it(`holds at most ${limit} connection(s) open at once, whichever face sends, and queues the rest`, async () => {
        const http = createIdpHttpClient({ maxConnections: limit });
        try {
          const statuses = await Promise.all(
            Array.from({ length: 30 }, (_, index) => get(http, faces[index % faces.length]!, `${url}/things`)),
          );
          assert.equal(statuses.filter((status) => status === 200).length, 30);
          assert.equal(emulator.connections.peak, limit, `30 concurrent calls with a limit of ${limit}`);
        } finally {
          await http.close();
        }
      });
    }

    it('closes its connections when it is closed', async () => {
      const http = createIdpHttpClient();
      await Promise.all(Array.from({ length: 5 }, () => get(http, 'request', `${url}/things`)));
      assert.ok(emulator.connections.open > 0, 'kept alive while open');
      await http.close();
      await emulator.connectionsClosed();
      const sent = emulator.requests.length;
      await assert.rejects(http.request(`${url}/things`));
      assert.equal(emulator.requests.length, sent, 'a closed client sends nothing');
    });
  });

  describe('an attempt that times out', () => {
    for (const face of faces) {
      it(`through ${face}: is idp_timeout, and the IdP sees the request hung up before it answered`, async () => {
        const clock = new VirtualClock();
        emulator.useClock(clock);
        const call = createAdminCall({
          host: new URL(url).host,
          idpCallPolicy: { timeoutMs: 1_000, budgetMs: 1_500, maxAttempts: 1, clock },
        });
        try {
          emulator.injectFault({ route: THINGS, latencyMs: 5_000 });
          const error = await call('read things', 'idempotent', (signal) =>
            get(call.http, face, `${url}/things`, signal),
          ).catch((caught: unknown) => caught);
          assert.ok(error instanceof IdpTimeoutError, String(error));
          assert.equal(error.status, 504);
          const sent = emulator.requestsTo(THINGS).at(-1)!;
          for (let turn = 0; turn < 1_000 && sent.outcome !== 'dropped'; turn++)
            await new Promise((resolve) => setImmediate(resolve));
          assert.equal(sent.outcome, 'dropped', 'the aborted attempt closed its connection; the IdP never answered it');
        } finally {
          await call.close();
        }
      });
    }
  });

  describe('failures keep their causes', () => {
    let plain: Server;
    let plainPort: number;
    let closedPort: number;
    before(async () => {
      plain = createPlainServer((_, res) => res.end('not TLS'));
      await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
      plainPort = (plain.address() as { port: number }).port;
      const closed = createPlainServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      closedPort = (closed.address() as { port: number }).port;
      await new Promise((resolve) => closed.close(resolve));
    });
    after(() => new Promise((resolve) => plain.close(resolve)));

    async function failedCall(face: Face, target: string): Promise<{ error: unknown; reports: IdpFailureReport[] }> {
      const reports: IdpFailureReport[] = [];
      const call = createAdminCall({
        host: new URL(target).host,
        idpCallPolicy: { timeoutMs: 5_000, maxAttempts: 1 },
        onIdpFailure: (report) => reports.push(report),
      });
      try {
        const error = await call('create thing', 'unsafe', (signal) => get(call.http, face, target, signal)).catch(
          (caught: unknown) => caught,
        );
        return { error, reports };
      } finally {
        await call.close();
      }
    }

    for (const face of faces) {
      it(`through ${face}: a connection dropped before the answer is 503 "connection reset", which the IdP may have acted on`, async () => {
        emulator.injectFault({ route: THINGS, drop: true });
        const { error, reports } = await failedCall(face, `${url}/things`);
        assert.ok(error instanceof IdpUnavailableError, String(error));
        assert.equal(error.status, 503);
        assert.equal(reports[0]?.cause, 'connection reset');
        assert.equal(mayHaveBeenApplied(error), true);
      });

      it(`through ${face}: a refused connection is 503 "connection refused", never sent`, async () => {
        const { error, reports } = await failedCall(face, `https://127.0.0.1:${closedPort}/things`);
        assert.ok(error instanceof IdpUnavailableError, String(error));
        assert.equal(reports[0]?.cause, 'connection refused');
        assert.equal(mayHaveBeenApplied(error), false);
      });

      it(`through ${face}: a failed TLS handshake is 503 "tls", never sent`, async () => {
        const { error, reports } = await failedCall(face, `https://127.0.0.1:${plainPort}/things`);
        assert.ok(error instanceof IdpUnavailableError, String(error));
        assert.equal(reports[0]?.cause, 'tls');
        assert.equal(mayHaveBeenApplied(error), false);
      });
    }
  });

  describe('its fetch function answers as fetch does', () => {
    // A client per test, closed after it: the next test's wait for closed connections then ends at once, not when
    // an idle kept-alive connection times out.
    let http: IdpHttpClient;
    beforeEach(() => {
      http = createIdpHttpClient();
    });
    afterEach(() => http.close());

    it('gives status, headers, url and a body read once', async () => {
      const response = await http.fetch(`${url}/things`);
      assert.equal(response.status, 200);
      assert.equal(response.ok, true);
      assert.equal(response.url, `${url}/things`);
      assert.equal(response.headers.get('x-request-id'), 'r-1');
      assert.equal(response.bodyUsed, false);
      const clone = response.clone();
      assert.deepEqual(await response.json(), { things: [1, 2, 3] });
      assert.equal(response.bodyUsed, true);
      await assert.rejects(response.text(), TypeError);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(await clone.arrayBuffer())), { things: [1, 2, 3] });
    });

    it('gives the body as a stream on demand, and none for HEAD and 204', async () => {
      const streamed = await http.fetch(`${url}/things`);
      assert.deepEqual(await new Response(streamed.body).json(), { things: [1, 2, 3] });
      assert.equal((await http.fetch(`${url}/things`, { method: 'HEAD' })).body, null);
      const deleted = await http.fetch(`${url}/things`, { method: 'DELETE' });
      assert.equal(deleted.status, 204);
      assert.equal(deleted.body, null);
      assert.equal(await deleted.text(), '');
    });

    it('sends each kind of body with the content type fetch gives it', async () => {
      const echoed = async (body: RequestInit['body'], headers?: Record<string, string>) =>
        (await (await http.fetch(`${url}/echo`, { method: 'POST', body, ...(headers ? { headers } : {}) })).json()) as {
          contentType: string | null;
          body: string;
        };
      assert.deepEqual(await echoed('plain'), { contentType: 'text/plain;charset=UTF-8', body: 'plain' });
      assert.deepEqual(await echoed('{"a":1}', { 'Content-Type': 'application/json' }), {
        contentType: 'application/json',
        body: '{"a":1}',
      });
      assert.deepEqual(await echoed(new URLSearchParams({ grant_type: 'client_credentials' })), {
        contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
        body: 'grant_type=client_credentials',
      });
      assert.deepEqual(
        await echoed(new TextEncoder().encode('bytes'), { 'content-type': 'application/octet-stream' }),
        { contentType: 'application/octet-stream', body: 'bytes' },
      );
      const form = new FormData();
      form.set('field', 'value');
      const multipart = await echoed(form);
      assert.match(multipart.contentType ?? '', /^multipart\/form-data; boundary=/);
      assert.match(multipart.body, /name="field"\r\n\r\nvalue/);
      assert.equal(emulator.requestsTo(ECHO).length, 5);
    });
  });

  describe('its JSON requests (requestJson)', () => {
    let http: IdpHttpClient;
    beforeEach(() => {
      http = createIdpHttpClient();
    });
    afterEach(() => http.close());
    const signal = new AbortController().signal;

    it('send the token with its scheme, and read a 2xx body as JSON unless the answer is unused', async () => {
      assert.deepEqual(await http.requestJson(`${url}/things`, { method: 'GET', token: 't', signal }), {
        things: [1, 2, 3],
      });
      await assert.rejects(
        http.requestJson(`${url}/things/lifecycle`, { method: 'POST', token: 't', signal }),
        SyntaxError,
      );
      // A delete or a lifecycle step whose answer the driver never reads does not fail on what the body holds.
      const unused = { method: 'POST', token: 'api-token', scheme: 'SSWS', signal, answerUnused: true };
      assert.equal(await http.requestJson(`${url}/things/lifecycle`, unused), undefined);
      const [, sent] = emulator.requestsTo('POST /things/lifecycle');
      assert.equal(sent?.headers.authorization, 'SSWS api-token');
    });
  });

  it('trusts a private CA through NODE_EXTRA_CA_CERTS, and nothing else', async () => {
    assert.equal(process.env.NODE_EXTRA_CA_CERTS, emulator.caFile, 'npm test trusts the test CA the standard Node way');
    const script = `import { createIdpHttpClient } from './src/driver/call/http.ts';
      const http = createIdpHttpClient();
      http.request(process.argv[1]).then((answer) => console.log(answer.status), (error) => console.log(error.cause?.code)).finally(() => http.close());`;
    const run = async (env: NodeJS.ProcessEnv) =>
      (
        await promisify(execFile)(
          process.execPath,
          ['--import', './test/loader/register.mjs', '--input-type=module', '-e', script, `${url}/things`],
          { cwd: root, env, timeout: 60_000 },
        )
      ).stdout.trim();
    const { NODE_EXTRA_CA_CERTS: _trusted, ...untrusting } = process.env;
    assert.match(
      await run(untrusting),
      /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/,
      'a process that does not trust the CA refuses the certificate',
    );
    assert.equal(await run(process.env), '200');
  });
});
