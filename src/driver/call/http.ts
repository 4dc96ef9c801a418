/**
 * The HTTP client a driver sends every IdP call through: one undici `Agent` per driver, whose connections to each IdP
 * host are kept alive, bounded (`DCR_IDP_MAX_CONNECTIONS`; requests past the bound wait for a free connection) and
 * resume their TLS sessions. Three faces of the same pool, one per kind of caller:
 * - `request`: the kit's and the drivers' own calls (token endpoints, discovery, Graph, the example IdP); the whole
 *   answer as text, no web streams. `requestJson` is the same for a JSON admin API: the admin token as the bearer,
 *   the body as JSON, a non-2xx answer an `IdpStatusError`.
 * - `fetch`: for an SDK whose hook is a fetch function (Auth0's `fetch`, Okta's request executor); its `Response`
 *   holds the body already read, so nothing is streamed unless the SDK asks for `body`.
 * - `fetchOptions`: for an SDK whose only hook is the init it passes to Node's own fetch (Keycloak's `requestOptions`).
 * `request` and `fetch` answer a redirect, never follow it: an admin API does not redirect, and following could carry
 * its token along (Node's fetch, over `fetchOptions`, still follows as it always does).
 * A private CA is trusted through `NODE_EXTRA_CA_CERTS`, which every TLS connection of Node's trusts.
 *
 *   const http = createIdpHttpClient({ maxConnections: 32 });
 *   const answer = await http.request(url, { method: 'POST', headers, body, signal });
 *   if (answer.status >= 400) throw new IdpStatusError(answer.status, answer.headers);
 *   return answer.json();
 */
import type { Agent as UndiciAgent, Dispatcher } from 'undici';
import { defaultIdpMaxConnections } from '../contract.js';
import { IdpConnectionError, IdpStatusError } from './failure.js';
import { loadSdk } from './sdk.js';

export interface IdpHttpOptions {
  /** Connections open at once to each IdP host (origin); default `defaultIdpMaxConnections`. */
  maxConnections?: number;
}

export interface IdpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The attempt's signal: aborting it ends the request (waiting for a connection, sending, or reading the answer). */
  signal?: AbortSignal;
}

/** What `requestJson` sends: the method, the admin token, the JSON body if any, more headers, the attempt's signal. */
export interface JsonRequest {
  method: string;
  /** The admin token, sent as the bearer. */
  token: string;
  /** The token's authorization scheme: `Bearer` unless given (Okta's API tokens are `SSWS`). */
  scheme?: string;
  /** Sent as JSON when present. */
  body?: unknown;
  /** More headers (a request id), sent after `authorization` and `accept`. */
  headers?: Record<string, string>;
  signal: AbortSignal;
  /** The caller does not use the answer (a delete, a lifecycle step): a 2xx is `undefined`, its body not parsed. */
  answerUnused?: boolean;
}

/** An IdP's answer, read whole: status, headers (lower-case names) and the body as text. */
export class IdpAnswer {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string | string[] | undefined>,
    readonly text: string,
  ) {}

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The body as JSON; a `SyntaxError` when it is not JSON. */
  json(): unknown {
    return JSON.parse(this.text);
  }

  /** The body as JSON, or `undefined` when it is not JSON (for a check like `usableAnswer` to refuse). */
  jsonOrUndefined(): unknown {
    try {
      return JSON.parse(this.text);
    } catch {
      return undefined;
    }
  }
}

export interface IdpHttpClient {
  request(url: string, request?: IdpRequest): Promise<IdpAnswer>;
  /**
   * A JSON request: a non-2xx answer is `IdpStatusError` (with its `Retry-After`), a `204` (or any 2xx with
   * `answerUnused`) is `undefined`, any other answer its body as JSON (a `SyntaxError` when it is not JSON, which the admin call makes `idp_error`).
   */
  requestJson(url: string, request: JsonRequest): Promise<unknown>;
  /** A fetch function over the pool, for SDKs that take one. */
  readonly fetch: typeof fetch;
  /** Init members that send Node's own fetch through the pool, for SDKs that only pass an init on. */
  readonly fetchOptions: RequestInit;
  /** Closes the pool once the requests in flight have their answers; closing again is the same close. */
  close(): Promise<void>;
}

export function createIdpHttpClient(options: IdpHttpOptions = {}): IdpHttpClient {
  // Loaded with the first client, not with the kit: the local driver, which calls no IdP, never loads undici.
  const { Agent } = loadSdk<{ Agent: typeof UndiciAgent }>('undici');
  const agent = new Agent({
    connections: options.maxConnections ?? defaultIdpMaxConnections,
    // Idle connections close after 4 s unless the IdP's Keep-Alive header allows longer: well inside any load
    // balancer's idle timeout, so a request never races the IdP closing its end.
    keepAliveTimeout: 4_000,
    connect: { maxCachedSessions: 100 },
  });

  /** One request; the body read by `read` (as text for `request`, as bytes for `fetch`: one copy less each). */
  async function send<Body>(
    url: string,
    request: IdpRequest,
    read: (body: Dispatcher.ResponseData['body']) => Promise<Body>,
  ): Promise<{
    status: number;
    statusText: string;
    headers: Record<string, string | string[] | undefined>;
    body: Body;
  }> {
    const { origin, pathname, search } = new URL(url);
    try {
      const answer = await agent.request({
        origin,
        path: `${pathname}${search}`,
        method: (request.method ?? 'GET').toUpperCase() as Dispatcher.HttpMethod,
        headers: request.headers,
        body: request.body,
        signal: request.signal,
      });
      return {
        status: answer.statusCode,
        statusText: answer.statusText,
        headers: answer.headers,
        body: await read(answer.body),
      };
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason;
      // A request the client itself refuses (a header it cannot send) is the caller's mistake, not the network's.
      if ((error as { code?: unknown }).code === 'UND_ERR_INVALID_ARG') throw error;
      throw new IdpConnectionError(error);
    }
  }

  const request = async (url: string, init: IdpRequest = {}): Promise<IdpAnswer> => {
    const { status, headers, body } = await send(url, init, (answer) => answer.text());
    return new IdpAnswer(status, headers, body);
  };

  const fetchOverPool = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const { url, method, headers, body, signal } = await fetchArguments(input, init);
    let answer: Awaited<ReturnType<typeof send<Buffer>>>;
    try {
      answer = await send(
        url,
        {
          method,
          headers,
          ...(body === undefined ? {} : { body }),
          ...(signal ? { signal } : {}),
        },
        async (answer) => Buffer.from(await answer.arrayBuffer()),
      );
    } catch (error) {
      // What fetch rejects with: the abort reason, or "fetch failed" with the socket's error as its cause.
      throw error instanceof IdpConnectionError ? new TypeError('fetch failed', { cause: error.cause }) : error;
    }
    const bytes = method === 'HEAD' || NULL_BODY_STATUSES.has(answer.status) ? null : answer.body;
    return new BufferedResponse(url, answer.status, answer.statusText, headersOf(answer.headers), bytes);
  };

  const requestJson = async (
    url: string,
    { method, token, scheme = 'Bearer', body, headers, signal, answerUnused }: JsonRequest,
  ): Promise<unknown> => {
    const sent = {
      authorization: `${scheme} ${token}`,
      accept: 'application/json',
      ...headers,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const answer = await request(url, {
      method,
      headers: sent,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal,
    });
    if (!answer.ok) throw new IdpStatusError(answer.status, answer.headers);
    return answer.status === 204 || answerUnused ? undefined : answer.json();
  };

  // Node's fetch is undici and takes an undici Agent as its dispatcher; the types of the two copies differ.
  const fetchOptions = { dispatcher: agent } as unknown as RequestInit;

  let closed: Promise<void> | undefined;
  return {
    request,
    requestJson,
    fetch: fetchOverPool as typeof fetch,
    fetchOptions,
    close: () => (closed ??= agent.close()),
  };
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** A fetch call's arguments as the pool sends them: the URL, the method, headers by lower-case name, the body as bytes or text. */
async function fetchArguments(
  input: string | URL | Request,
  init: RequestInit,
): Promise<{
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
  signal: AbortSignal | undefined;
}> {
  if (input instanceof Request) {
    const body = input.body === null ? undefined : new Uint8Array(await input.arrayBuffer());
    return fetchArguments(input.url, {
      method: input.method,
      headers: input.headers,
      body,
      signal: input.signal,
      ...init,
    });
  }
  const url = String(input);
  const method = (init.method ?? 'GET').toUpperCase();
  const signal = init.signal ?? undefined;
  const headers = headerRecord(init.headers);
  const body = init.body;
  if (body === undefined || body === null) return { url, method, headers, body: undefined, signal };
  if (typeof body === 'string')
    return { url, method, headers: { 'content-type': 'text/plain;charset=UTF-8', ...headers }, body, signal };
  if (body instanceof URLSearchParams)
    return {
      url,
      method,
      headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', ...headers },
      body: body.toString(),
      signal,
    };
  if (body instanceof ArrayBuffer) return { url, method, headers, body: new Uint8Array(body), signal };
  if (ArrayBuffer.isView(body))
    return { url, method, headers, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), signal };
  // Form data, a blob or a stream: fetch's own encoding (a multipart boundary, the blob's type) makes the bytes.
  const encoded = new Request(url, { method, headers, body, duplex: 'half' } as RequestInit);
  return {
    url,
    method,
    headers: headerRecord(encoded.headers),
    body: new Uint8Array(await encoded.arrayBuffer()),
    signal,
  };
}

function headerRecord(init: RequestInit['headers']): Record<string, string> {
  const record: Record<string, string> = {};
  if (init === undefined) return record;
  const entries: Iterable<readonly [string, string | readonly string[]]> =
    Symbol.iterator in init ? (init as Iterable<[string, string]>) : Object.entries(init);
  for (const [name, value] of entries) {
    const key = name.toLowerCase();
    const text = typeof value === 'string' ? value : value.join(', ');
    record[key] = record[key] === undefined ? text : `${record[key]}, ${text}`;
  }
  return record;
}

function headersOf(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
    for (const each of values) headers.append(name, each);
  }
  return headers;
}

/** A fetch `Response` whose body is already read: reading it costs no web stream, which only `body` makes, on demand. */
class BufferedResponse implements Response {
  readonly type = 'basic' as const;
  readonly redirected = false;
  #bytes: Buffer | null;
  #used = false;
  #stream: ReadableStream<Uint8Array> | undefined;

  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    readonly headers: Headers,
    bytes: Buffer | null,
  ) {
    this.#bytes = bytes;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  get bodyUsed(): boolean {
    return this.#used || this.#stream?.locked === true;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#bytes === null) return null;
    this.#stream ??= new Response(this.#bytes).body!;
    return this.#stream;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.#take();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(this.#take());
  }

  async blob(): Promise<Blob> {
    return new Blob([this.#take()], { type: this.headers.get('content-type') ?? '' });
  }

  async formData(): Promise<FormData> {
    return new Response(this.#take(), { headers: this.headers }).formData();
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async text(): Promise<string> {
    return this.#take().toString('utf8');
  }

  clone(): Response {
    if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.');
    return new BufferedResponse(this.url, this.status, this.statusText, new Headers(this.headers), this.#bytes);
  }

  /** The body, once: a second read is fetch's `TypeError`. */
  #take(): Buffer {
    if (this.bodyUsed) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#bytes ?? Buffer.alloc(0);
  }
}
