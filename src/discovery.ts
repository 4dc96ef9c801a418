/**
 * The IdP's own discovery document for the standard DCR façade: fetched through the driver, kept for a TTL, then
 * served stale while one background fetch replaces it, and kept serving stale when the IdP fails. Only the very first
 * fetch is awaited by a caller. The clock is injected so tests need no timers.
 */
import type { IdpAnswer, IdpHttpClient } from './driver/call/http.js';
import { BridgeError, IdpUnavailableError } from './errors.js';

export type DiscoveryDocument = Record<string, unknown>;

const failureHoldMs = 5_000;

export interface DiscoveryCacheOptions {
  fetchDocument: () => Promise<DiscoveryDocument>;
  ttlMs: number;
  now?: () => number;
  /** Told about a background refresh that failed (the stale document stays served). */
  onRefreshFailed?: (error: unknown) => void;
}

export class DiscoveryCache {
  readonly #options: DiscoveryCacheOptions;
  readonly #now: () => number;
  #document: DiscoveryDocument | undefined;
  #fetchedAt = 0;
  #inFlight: Promise<DiscoveryDocument> | undefined;
  /** The last failure with nothing cached, answered again for a few seconds so callers cannot hammer a failing IdP. */
  #failure: { at: number; error: unknown } | undefined;

  constructor(options: DiscoveryCacheOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The document; awaits the IdP only when none was ever fetched. */
  async get(): Promise<DiscoveryDocument> {
    if (this.#document === undefined) {
      if (this.#failure && this.#now() - this.#failure.at < failureHoldMs) throw this.#failure.error;
      return this.#refresh();
    }
    if (this.#now() - this.#fetchedAt >= this.#options.ttlMs) {
      this.#refresh().catch((error: unknown) => this.#options.onRefreshFailed?.(error));
    }
    return this.#document;
  }

  /** One fetch at a time, shared by every caller that arrives while it runs. */
  #refresh(): Promise<DiscoveryDocument> {
    this.#inFlight ??= this.#options
      .fetchDocument()
      .then((document) => {
        if (typeof document.issuer !== 'string')
          throw new IdpUnavailableError('The identity provider published no usable discovery document.');
        this.#document = document;
        this.#fetchedAt = this.#now();
        this.#failure = undefined;
        return document;
      })
      .catch((error: unknown) => {
        const typed =
          error instanceof BridgeError
            ? error
            : new IdpUnavailableError("The identity provider's discovery document could not be fetched.", {
                cause: error,
              });
        this.#failure = { at: this.#now(), error: typed };
        throw typed;
      })
      .finally(() => {
        this.#inFlight = undefined;
      });
    return this.#inFlight;
  }
}

/** GET a discovery URL as JSON over the driver's IdP HTTP client, with a timeout; any failure is a typed error, never the upstream body. */
export async function fetchDiscoveryJson(
  http: IdpHttpClient,
  url: string,
  timeoutMs = 10_000,
): Promise<DiscoveryDocument> {
  let answer: IdpAnswer;
  try {
    answer = await http.request(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new IdpUnavailableError("The identity provider's discovery document could not be fetched.", { cause: error });
  }
  // A redirect is not followed (the client never does), so it is a failure like any other non-2xx.
  if (!answer.ok) throw new IdpUnavailableError("The identity provider's discovery document could not be fetched.");
  const document = answer.jsonOrUndefined();
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new IdpUnavailableError('The identity provider published no usable discovery document.');
  }
  return document as DiscoveryDocument;
}
