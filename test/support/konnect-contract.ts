/**
 * Kong's contract as the judge of the Konnect dialect (test/vendor-specs/konnect/): wraps an app so every answer to one
 * of the contract's seven calls is validated against Kong's newest `openapi.yaml` as it leaves. One waiver, stated
 * there and nowhere else: the create answer's `client_id_issued_at` / `client_secret_expires_at` may be integer epoch
 * seconds (Kong's own handler sends them, Konnect accepts them). An error answer of any status must have the
 * contract's error shape. Answers to paths outside the contract (API7, operations) are not judged.
 *
 *   const contract = konnectContract();
 *   await request(contract.judge(bridge.app)).post('/').send(body);
 *   contract.assertNoViolations();
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { SpecValidator, vendorSpecFile } from '../emulators/spec-validator.js';

export interface KonnectContract {
  /** The app, each of whose Konnect answers is judged as it is sent. */
  judge(app: RequestListener): RequestListener;
  /** Judges one answer already received (a compiled bridge's, read over HTTP). */
  check(method: string, path: string, status: number, body: unknown): void;
  /** How many answers were judged, per `METHOD template`. */
  readonly judged: Map<string, number>;
  readonly violations: string[];
  assertNoViolations(): void;
}

/** The one waiver: integer epoch seconds where the create answer's contract says date-time. */
function waiveCreateEpochSeconds(body: unknown): unknown {
  if (typeof body !== 'object' || body === null) return body;
  const waived: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const member of ['client_id_issued_at', 'client_secret_expires_at']) {
    const value = waived[member];
    if (Number.isInteger(value)) waived[member] = new Date((value as number) * 1000).toISOString();
  }
  return waived;
}

export function konnectContract(): KonnectContract {
  const spec = SpecValidator.load(vendorSpecFile('konnect/openapi.yaml'));
  const violations: string[] = [];
  const judged = new Map<string, number>();

  function check(method: string, path: string, status: number, body: unknown): void {
    const match = spec.match(method, path);
    if (!match) return;
    const call = `${method} ${match.template}`;
    judged.set(call, (judged.get(call) ?? 0) + 1);
    const where = `${call} answered ${status}`;
    if (status === 204) {
      if (body !== undefined) violations.push(`${where} with a body`);
      return;
    }
    if (body === undefined) return void violations.push(`${where} without a JSON body`);
    // Every operation of the contract documents 400 with its error shape; any other error status is held to it too.
    const problems =
      status >= 400
        ? spec.validateResponse(method, path, 400, body)
        : spec.validateResponse(
            method,
            path,
            status,
            call === 'POST /' && status === 201 ? waiveCreateEpochSeconds(body) : body,
          );
    violations.push(...problems.map((problem) => `${where}: ${problem}`));
  }

  function judge(app: RequestListener): RequestListener {
    return (req: IncomingMessage, res: ServerResponse) => {
      // Read now: Express rewrites `req.url` while a mounted router (API7's under /clients) handles the request.
      const method = req.method ?? 'GET';
      const path = new URL(req.url ?? '/', 'http://judge').pathname;
      const chunks: Buffer[] = [];
      const keep = (chunk: unknown) => {
        if (typeof chunk === 'string' || chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
      };
      const write = res.write.bind(res) as (...args: unknown[]) => boolean;
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      res.write = ((chunk: unknown, ...rest: unknown[]) => {
        keep(chunk);
        return write(chunk, ...rest);
      }) as ServerResponse['write'];
      res.end = ((chunk?: unknown, ...rest: unknown[]) => {
        keep(chunk);
        return end(chunk, ...rest);
      }) as ServerResponse['end'];
      res.once('finish', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const isJson = String(res.getHeader('content-type') ?? '').includes('json');
        let body: unknown;
        if (text !== '') body = isJson ? JSON.parse(text) : text;
        check(method, path, res.statusCode, body);
      });
      app(req, res);
    };
  }

  return {
    judge,
    check,
    judged,
    violations,
    assertNoViolations: () => assert.deepEqual(violations, [], "every Konnect answer passes Kong's contract"),
  };
}
