/**
 * The attempt an SDK request belongs to, for SDKs whose HTTP hook gets no abort signal or token of its own (Okta's
 * request executor, MSAL's network client, the init Keycloak's client copies into each fetch): the driver runs each
 * attempt inside the scope, and the hook reads the attempt's signal (and the admin token) back from it.
 *
 *   const scope = new AttemptScope();
 *   const call = scope.calls(adminCall);
 *   class Executor extends RequestExecutor { fetch(request) { return scope.fetch(http, request.url, request); } }
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AdminCall } from './admin-call.js';
import type { CallSafety } from './caller.js';
import type { IdpHttpClient } from './http.js';

/** One attempt of an admin call: its abort signal, and the admin token (`''` when the kit fetches none). */
export interface Attempt {
  signal: AbortSignal;
  token: string;
}

/** Where an SDK hook finds the attempt it runs in; one per driver (or per module, for a hook made before the driver). */
export class AttemptScope {
  readonly #current = new AsyncLocalStorage<Attempt>();

  /** Runs `work` as part of `attempt`: what it calls, however deep, sees the attempt. */
  run<T>(attempt: Attempt, work: () => Promise<T>): Promise<T> {
    return this.#current.run(attempt, work);
  }

  /** The current attempt's abort signal; `undefined` outside an attempt. */
  get signal(): AbortSignal | undefined {
    return this.#current.getStore()?.signal;
  }

  /** `adminCall` whose attempts take no arguments: each runs inside the scope, with its signal and token. */
  calls(adminCall: AdminCall): <T>(operation: string, safety: CallSafety, attempt: () => Promise<T>) => Promise<T> {
    return (operation, safety, attempt) =>
      adminCall(operation, safety, (signal, token) => this.run({ signal, token }, attempt));
  }

  /** A fetch over the pool with the current attempt's abort signal, and its token as the bearer when it has one. */
  fetch(
    http: IdpHttpClient,
    url: string,
    request: { method?: string | undefined; headers?: Record<string, string> | undefined; body?: string | undefined },
  ): Promise<Response> {
    const attempt = this.#current.getStore();
    const authorization: Record<string, string> = attempt?.token ? { Authorization: `Bearer ${attempt.token}` } : {};
    return http.fetch(url, {
      method: request.method,
      headers: { ...request.headers, ...authorization },
      body: request.body,
      signal: attempt?.signal ?? null,
    });
  }

  /**
   * Init members for an SDK that copies one init into each of its fetch calls (Keycloak's `requestOptions`): the
   * pool's, and as `signal` the current attempt's, read at each copy — so the call layer's timeout, on whatever clock
   * it runs, ends the SDK's request.
   */
  fetchInit(http: IdpHttpClient): RequestInit {
    const scope = this;
    return {
      ...http.fetchOptions,
      get signal() {
        return scope.signal ?? null;
      },
    };
  }
}
