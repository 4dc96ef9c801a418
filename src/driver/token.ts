/**
 * The client-credentials token fetcher (RFC 6749 §4.4) the drivers share: Auth0's Management API token (client id and
 * secret) and Okta's service-app token (a signed client assertion, RFC 7523) are both one form POST to a token
 * endpoint. A refusal is the bridge's own credentials refused; throttling and outages keep their status for the retry
 * layer; an answer without a usable token is `502 idp_error`.
 *
 *   fetchToken: (signal) => fetchClientCredentialsToken(`https://${domain}/oauth/token`, { client_id, client_secret, audience }, signal)
 */
import { IdpStatusError, hasStrings, usableAnswer } from './admin-call.js';
import type { IssuedToken } from '../idp/token-cache.js';

export async function fetchClientCredentialsToken(tokenUrl: string, form: Record<string, string>, signal: AbortSignal): Promise<IssuedToken> {
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...form }),
    signal,
  });
  if (!response.ok) {
    await response.arrayBuffer().catch(() => undefined);
    // Any refusal but throttling is the bridge's own credentials refused, whatever 4xx the IdP picks for it.
    const refused = response.status >= 400 && response.status < 500 && response.status !== 429;
    throw new IdpStatusError(refused ? 401 : response.status, response.headers);
  }
  const body: unknown = await response.json().catch(() => undefined);
  const issued = usableAnswer(body, (value): value is { access_token: string; expires_in: number } => hasStrings('access_token')(value) && typeof value.expires_in === 'number', 'the token request');
  return { accessToken: issued.access_token, expiresInSeconds: issued.expires_in };
}
