/**
 * The emulator framework: an HTTPS server on 127.0.0.1 with the test CA, a route table, real state kept by each
 * vendor's module, every request checked against the vendor spec (violations recorded and answered 400 so the
 * test fails), every answer checked too, and scripted faults per route and per call number.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ensureTestTls, type TestTls } from './tls.js';
import type { SpecValidator } from './spec-validator.js';

export interface EmulatorRequest {
  method: string;
  /** The path as sent, percent-encoding kept, without the query. */
  rawPath: string;
  /** Route parameters, percent-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON or form body; `undefined` when there was none. */
  body: unknown;
  rawBody: string;
}

export interface EmulatorResponse {
  status: number;
  headers?: Record<string, string>;
  /** Sent as JSON unless it is a string. */
  body?: unknown;
}

export type RouteHandler = (request: EmulatorRequest) => EmulatorResponse | Promise<EmulatorResponse>;

/** What checks requests and answers against a vendor's published API description (an OpenAPI document, AWS's service model). */
export type RequestValidator = Pick<SpecValidator, 'validateRequest' | 'validateResponse'>;

export interface RouteOptions {
  /** The spec that covers this route; default: the emulator's. `false` for routes no published spec describes (token endpoints). */
  spec?: RequestValidator | false;
  /**
   * Matches only requests carrying this header value, for APIs that name the operation in a header rather than the
   * path (AWS JSON: `X-Amz-Target`); the route key then ends with the value (`POST / CreateUserPoolClient`).
   */
  header?: { name: string; value: string };
  /** Tolerate a body on an operation the spec gives none (the Keycloak SDK sends `{}` on DELETE). */
  tolerateUndeclaredBody?: boolean;
  /** Statuses the real server answers that its published spec does not document (Keycloak's PUT answers 204, not 200). */
  undocumentedStatuses?: number[];
}

export interface RecordedRequest {
  route: string;
  method: string;
  rawPath: string;
  query: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** The status answered, or `'dropped'`. */
  outcome: number | 'dropped';
}

/** A scripted fault: which calls of which route, and what happens instead of (or before) the real answer. */
export interface Fault {
  /** `'METHOD /pattern'` as registered, e.g. `'POST /admin/realms/:realm/clients'`; omit for every route. */
  route?: string;
  /** The first matching call it hits, counted from when the fault was added (1 = the next one). Default 1. */
  nth?: number;
  /** How many consecutive matching calls it hits from there. Default 1; `Infinity` for all. */
  times?: number;
  /** Answer with this status (and headers/body) instead of the real handler. */
  status?: number;
  /** With `status`: the handler runs first (the IdP acts), then this answer replaces its own (a malformed success). */
  replacesAnswer?: boolean;
  headers?: Record<string, string>;
  body?: unknown;
  /**
   * Wait this long before answering (the real answer, unless `status` or `drop` is set too). A caller that hangs up
   * during the wait is treated as a request lost in transit: the handler never runs.
   */
  latencyMs?: number;
  /** Wait this long after the handler ran (the IdP acted) before answering: answers then arrive out of order. */
  answerLatencyMs?: number;
  /**
   * Destroy the connection without an answer: `true` before the handler runs (nothing happened at the IdP),
   * `'after-processing'` once it has run (the IdP acted, the answer was lost: the ambiguous case).
   */
  drop?: boolean | 'after-processing';
}

/** A clock the emulator's latency faults run on instead of real time (test/support/virtual-clock.ts). */
export interface EmulatorClock {
  /** Moves the time forward, running the timers that fall due; returns how many ran. */
  advance(ms: number): number;
  /** Epoch milliseconds: what the vendor modules' token lifetimes run on while the clock is in use. */
  now(): number;
}

interface Route {
  key: string;
  method: string;
  pattern: RegExp;
  names: string[];
  header: { name: string; value: string } | undefined;
  handler: RouteHandler;
  options: RouteOptions;
}

interface ActiveFault extends Fault {
  seen: number;
}

export interface EmulatorOptions {
  name: string;
  spec?: RequestValidator;
  tls?: TestTls;
}

/** TLS connections callers made: since the last `resetConnectionCounts`, open now, the most open at once, resumed sessions. */
export interface ConnectionCounts {
  opened: number;
  open: number;
  peak: number;
  resumedSessions: number;
}

export class Emulator {
  readonly name: string;
  readonly requests: RecordedRequest[] = [];
  readonly connections: ConnectionCounts = { opened: 0, open: 0, peak: 0, resumedSessions: 0 };
  private readonly idleWaiters: Array<() => void> = [];
  readonly violations: string[] = [];
  private readonly spec: RequestValidator | undefined;
  private readonly tls: TestTls;
  private readonly routes: Route[] = [];
  private faults: ActiveFault[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private baseUrl: string | undefined;
  private clock: EmulatorClock | undefined;

  constructor(options: EmulatorOptions) {
    this.name = options.name;
    this.spec = options.spec;
    this.tls = options.tls ?? ensureTestTls();
  }

  get url(): string {
    if (!this.baseUrl) throw new Error(`${this.name} emulator is not started`);
    return this.baseUrl;
  }

  get caFile(): string {
    return this.tls.caFile;
  }

  /** `pattern` uses `:name` segments, matched against the raw (still percent-encoded) path. */
  route(method: string, pattern: string, handler: RouteHandler, options: RouteOptions = {}): this {
    const names: string[] = [];
    const source = pattern
      .split('/')
      .map((segment) =>
        segment.replace(/:([A-Za-z][A-Za-z0-9_]*)|[^:]+/g, (part, name: string | undefined) => {
          if (name) {
            names.push(name);
            return '([^/]+)';
          }
          return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        }),
      )
      .join('/');
    this.routes.push({
      key: options.header ? `${method} ${pattern} ${options.header.value}` : `${method} ${pattern}`,
      method,
      pattern: new RegExp(`^${source}/?$`),
      names,
      header: options.header && { name: options.header.name.toLowerCase(), value: options.header.value },
      handler,
      options,
    });
    return this;
  }

  /** Starts counting connections afresh; the ones open now stay open (and counted in `open` and `peak`). */
  resetConnectionCounts(): void {
    Object.assign(this.connections, { opened: 0, peak: this.connections.open, resumedSessions: 0 });
  }

  /** Resolves once no caller holds a connection open (a pool that was closed). */
  connectionsClosed(): Promise<void> {
    return this.connections.open === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  injectFault(fault: Fault): this {
    if (fault.route && !this.routes.some((route) => route.key === fault.route)) {
      throw new Error(
        `${this.name} emulator has no route ${fault.route}; routes: ${this.routes.map((r) => r.key).join(', ')}`,
      );
    }
    this.faults.push({ ...fault, seen: 0 });
    return this;
  }

  clearFaults(): void {
    this.faults = [];
  }

  /**
   * Runs latency faults on `clock` (shared with the driver's call layer) instead of real time: the latency advances
   * it, so a caller's attempt timeout that is shorter fires at once. `undefined` goes back to real time.
   */
  useClock(clock: EmulatorClock | undefined): void {
    this.clock = clock;
  }

  /** The time the emulator's state (token lifetimes) runs on: the clock in use, else the real time. */
  now(): number {
    return this.clock ? this.clock.now() : Date.now();
  }

  /** Route keys, for fault matrices. */
  get routeKeys(): string[] {
    return this.routes.map((route) => route.key);
  }

  requestsTo(routeKey: string): RecordedRequest[] {
    return this.requests.filter((request) => request.route === routeKey);
  }

  assertNoViolations(): void {
    if (this.violations.length > 0) {
      throw new Error(
        `${this.name} emulator saw ${this.violations.length} spec violation(s):\n${this.violations.slice(0, 10).join('\n')}`,
      );
    }
  }

  async start(port = 0): Promise<string> {
    const server = createServer({ cert: this.tls.cert, key: this.tls.key }, (req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.violations.push(`${this.name} emulator crashed on ${req.method} ${req.url}: ${String(error)}`);
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'emulator_crash' }));
        }
      });
    });
    server.keepAliveTimeout = 5_000;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const counts = this.connections;
      counts.opened++;
      counts.peak = Math.max(counts.peak, ++counts.open);
      if (socket.isSessionReused()) counts.resumedSessions++;
      socket.once('close', () => {
        if (--counts.open === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    this.baseUrl = `https://127.0.0.1:${address.port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://emulator.invalid');
    const rawPath = url.pathname;
    const rawBody = await readBody(req);
    const method = (req.method ?? 'GET').toUpperCase();
    const route = this.routes.find(
      (candidate) =>
        candidate.method === method &&
        candidate.pattern.test(rawPath) &&
        (!candidate.header || req.headers[candidate.header.name] === candidate.header.value),
    );
    const record: RecordedRequest = {
      route: route?.key ?? `${method} (no route)`,
      method,
      rawPath,
      query: url.search,
      headers: req.headers,
      body: undefined,
      outcome: 404,
    };
    this.requests.push(record);
    if (!route) {
      const target = req.headers['x-amz-target'];
      this.violations.push(
        `${this.name} emulator has no route for ${method} ${rawPath}${typeof target === 'string' ? ` ${target}` : ''}`,
      );
      return send(res, { status: 404, body: { error: 'no_such_route' } });
    }
    let body: unknown;
    try {
      body = parseBody(rawBody, req.headers['content-type']);
    } catch {
      this.violations.push(`${method} ${rawPath}: body is not valid ${req.headers['content-type'] ?? 'content'}`);
      record.outcome = 400;
      return send(res, { status: 400, body: { error: 'malformed_body' } });
    }
    record.body = body;

    const spec = route.options.spec === false ? undefined : (route.options.spec ?? this.spec);
    if (spec) {
      const hasBody = rawBody.length > 0 && !(route.options.tolerateUndeclaredBody && rawBody.trim() === '{}');
      const problems = spec.validateRequest({
        method,
        path: rawPath,
        query: url.searchParams,
        contentType: req.headers['content-type'],
        body,
        hasBody,
      });
      if (problems.length > 0) {
        this.violations.push(...problems);
        record.outcome = 400;
        return send(res, { status: 400, body: { error: 'emulator_spec_violation', problems } });
      }
    }

    const fault = this.takeFault(route.key);
    let callerGone = false;
    res.once('close', () => {
      callerGone = !res.writableFinished;
    });
    if (fault?.latencyMs) await this.wait(fault.latencyMs, res);
    if (callerGone) {
      record.outcome = 'dropped';
      return;
    }
    if (fault?.drop === true) {
      record.outcome = 'dropped';
      req.socket.destroy();
      return;
    }
    if (fault?.status !== undefined && !fault.replacesAnswer) {
      record.outcome = fault.status;
      return send(res, { status: fault.status, headers: fault.headers, body: fault.body });
    }

    const match = route.pattern.exec(rawPath)!;
    const params: Record<string, string> = {};
    route.names.forEach((name, index) => {
      params[name] = decodeURIComponent(match[index + 1]!);
    });
    const response = await route.handler({
      method,
      rawPath,
      params,
      query: url.searchParams,
      headers: req.headers,
      body,
      rawBody,
    });
    if (fault?.answerLatencyMs) await this.wait(fault.answerLatencyMs, res);
    if (fault?.drop === 'after-processing') {
      record.outcome = 'dropped';
      req.socket.destroy();
      return;
    }
    if (fault?.status !== undefined) {
      record.outcome = fault.status;
      return send(res, { status: fault.status, headers: fault.headers, body: fault.body });
    }
    if (spec && typeof response.body !== 'string' && !route.options.undocumentedStatuses?.includes(response.status)) {
      this.violations.push(
        ...spec
          .validateResponse(method, rawPath, response.status, response.body)
          .map((problem) => `emulator answer: ${problem}`),
      );
    }
    record.outcome = response.status;
    if (res.destroyed) return;
    send(res, response);
  }

  private takeFault(routeKey: string): ActiveFault | undefined {
    let hit: ActiveFault | undefined;
    for (const fault of this.faults) {
      if (fault.route !== undefined && fault.route !== routeKey) continue;
      fault.seen++;
      const first = fault.nth ?? 1;
      const last = first + (fault.times ?? 1) - 1;
      if (!hit && fault.seen >= first && fault.seen <= last) hit = fault;
    }
    return hit;
  }

  /**
   * The IdP is slow for `ms`. On a virtual clock the time jumps at once; if that ran the caller's attempt timeout, the
   * caller has given up on this request, which then waits for its hang-up and is never acted on (as a request lost in
   * transit, whenever the caller's own socket timeout closes it); a caller with no shorter timeout gets the answer.
   */
  private async wait(ms: number, res: ServerResponse): Promise<void> {
    const clock = this.clock;
    if (!clock) return this.delay(ms);
    const hungUp = new Promise<void>((resolve) => res.once('close', () => resolve()));
    if (clock.advance(ms) > 0) await hungUp;
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(raw));
  // AWS JSON protocols send `application/x-amz-json-1.0` / `-1.1`.
  if (
    type === 'application/json' ||
    type.endsWith('+json') ||
    type.startsWith('application/x-amz-json-') ||
    type === ''
  )
    return JSON.parse(raw);
  return raw;
}

function send(res: ServerResponse, response: EmulatorResponse): void {
  const headers: Record<string, string> = { ...response.headers };
  let payload: string | undefined;
  if (response.body !== undefined) {
    payload = typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
      headers['content-type'] = typeof response.body === 'string' ? 'text/plain' : 'application/json';
    }
  }
  res.writeHead(response.status, headers);
  res.end(payload);
}

/** What the standalone CLI (`npm run emulator -- <idp>`) and the tests need from each vendor's emulator module. */
export interface EmulatorDefinition {
  name: string;
  /**
   * Starts an emulator with the given port (0 = any) and returns it with the driver variables that point at it, and
   * any other set of variables the driver takes instead (e.g. another credential mode), keyed by what it is.
   */
  start(options: { port?: number }): Promise<{
    emulator: Emulator;
    driverEnv: Record<string, string>;
    alternativeEnv?: Record<string, Record<string, string>>;
  }>;
}
