/**
 * Small helpers for a driver that talks to its IdP over the kit's HTTP client or through an SDK's hook: a JSON request
 * with the admin token, SDK errors that carry the IdP's status, failures that must travel inside a foreign error
 * type, headers flattened for an SDK, and IdP dates as epoch seconds.
 *
 *   const app = usableAnswer(await requestJson(call.http, url, { method: 'GET', token, signal }), isApp, 'the app');
 */
import { IdpStatusError, statusFailure } from './admin-call.js';
import type { HeaderSource, UpstreamFailure } from '../idp/call.js';
import type { IdpHttpClient } from './http.js';

/** What `requestJson` sends: the method, the admin token, the JSON body if any, more headers, the attempt's signal. */
export interface JsonRequest {
  method: string;
  /** The admin token, sent as the bearer. */
  token: string;
  /** Sent as JSON when present. */
  body?: unknown;
  /** More headers (a request id), sent after `authorization` and `accept`. */
  headers?: Record<string, string>;
  signal: AbortSignal;
}

/**
 * A JSON request over the pool: a non-2xx answer is `IdpStatusError` (with its `Retry-After`), a `204` is `undefined`,
 * any other answer its body as JSON (a `SyntaxError` when it is not JSON, which the admin call makes `idp_error`).
 */
export async function requestJson(http: IdpHttpClient, url: string, request: JsonRequest): Promise<unknown> {
  const { method, token, body, signal } = request;
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json', ...request.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  const answer = await http.request(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal });
  if (!answer.ok) throw new IdpStatusError(answer.status, answer.headers);
  return answer.status === 204 ? undefined : answer.json();
}

/** An SDK error that carries the IdP's answer as a numeric `status` and its `headers` (Okta's `HttpError`), as a failure. */
export function describeStatusMember(error: unknown): UpstreamFailure | undefined {
  const { status, headers } = error as { status?: unknown; headers?: HeaderSource };
  return typeof status === 'number' ? statusFailure(status, headers) : undefined;
}

/** The failures carried beside errors of an SDK's own type, which the SDK passes on but never reads. */
const carried = new WeakMap<object, UpstreamFailure>();

/** `error` (of the type an SDK insists on, e.g. MSAL's `AuthError`), carrying `failure` for the driver's `describe`. */
export function carryFailure<E extends object>(error: E, failure: UpstreamFailure): E {
  carried.set(error, failure);
  return error;
}

/** The failure `carryFailure` put beside `error`, if any. */
export function carriedFailure(error: unknown): UpstreamFailure | undefined {
  return typeof error === 'object' && error !== null ? carried.get(error) : undefined;
}

/** Headers with one string per name (repeated headers joined by `, `), for an SDK that reads them so (MSAL). */
export const singleValuedHeaders = (headers: Record<string, string | string[] | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).flatMap(([name, value]) => (value === undefined ? [] : [[name, Array.isArray(value) ? value.join(', ') : value]])));

/** Epoch seconds of an ISO date; `0` when there is none (or it is not a date). */
export const epochSeconds = (iso: string | null | undefined) => Math.floor(Date.parse(iso ?? '') / 1000) || 0;
