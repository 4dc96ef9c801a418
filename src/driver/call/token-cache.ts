/**
 * Caches an IdP admin access token until shortly before it expires, and refreshes it once for all concurrent
 * callers: a thousand operations inside one token lifetime cost one token request.
 */
export interface IssuedToken {
  accessToken: string;
  /** Lifetime from now, in seconds, as the token endpoint reported it (`expires_in`). */
  expiresInSeconds: number;
}

export interface AdminTokenCacheOptions {
  /** Refresh this long before expiry, at most half the lifetime. Default 30 s. */
  refreshMarginSeconds?: number;
  now?: () => number;
}

export class AdminTokenCache {
  private token: { accessToken: string; refreshAt: number } | undefined;
  private inFlight: Promise<string> | undefined;
  private fetchCount = 0;
  private readonly fetchToken: () => Promise<IssuedToken>;
  private readonly refreshMarginSeconds: number;
  private readonly now: () => number;

  constructor(fetchToken: () => Promise<IssuedToken>, options: AdminTokenCacheOptions = {}) {
    this.fetchToken = fetchToken;
    this.refreshMarginSeconds = options.refreshMarginSeconds ?? 30;
    this.now = options.now ?? Date.now;
  }

  /** Token requests made so far (benchmarks and tests read it). */
  get tokenRequests(): number {
    return this.fetchCount;
  }

  async get(): Promise<string> {
    if (this.token && this.now() < this.token.refreshAt) return this.token.accessToken;
    this.inFlight ??= this.refresh().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * Forgets the token, e.g. after the IdP answered 401 to it. Given the token that was refused, forgets it only if it
   * is still the cached one, so concurrent 401s to one stale token cause one refresh, not one each.
   */
  invalidate(refused?: string): void {
    if (refused === undefined || this.token?.accessToken === refused) this.token = undefined;
  }

  private async refresh(): Promise<string> {
    this.fetchCount++;
    const issued = await this.fetchToken();
    const margin = Math.min(this.refreshMarginSeconds, issued.expiresInSeconds / 2);
    this.token = { accessToken: issued.accessToken, refreshAt: this.now() + (issued.expiresInSeconds - margin) * 1000 };
    return issued.accessToken;
  }
}
