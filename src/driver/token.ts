/**
 * The client-credentials token fetcher (RFC 6749 §4.4) the drivers share: Auth0's Management API token (client id and
 * secret) and Okta's service-app token (a signed client assertion, RFC 7523) are both one form POST to a token
 * endpoint (with a secret, or a signed client assertion). A refusal is the bridge's own credentials refused; throttling and outages keep their status for the retry
 * layer; an answer without a usable token is `502 idp_error`.
 *
 *   fetchToken: (signal, http) => fetchClientCredentialsToken(http, `https://${domain}/oauth/token`, { client_id, client_secret, audience }, signal)
 */
import { createPrivateKey, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { IdpStatusError, hasStrings, usableAnswer } from './admin-call.js';
import type { IdpHttpClient } from './http.js';
import type { IssuedToken } from '../idp/token-cache.js';

export async function fetchClientCredentialsToken(http: IdpHttpClient, tokenUrl: string, form: Record<string, string>, signal: AbortSignal): Promise<IssuedToken> {
  const answer = await http.request(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...form }).toString(),
    signal,
  });
  if (!answer.ok) {
    // Any refusal but throttling is the bridge's own credentials refused, whatever 4xx the IdP picks for it.
    const refused = answer.status >= 400 && answer.status < 500 && answer.status !== 429;
    throw new IdpStatusError(refused ? 401 : answer.status, answer.headers);
  }
  const body = answer.jsonOrUndefined();
  const issued = usableAnswer(body, (value): value is { access_token: string; expires_in: number } => hasStrings('access_token')(value) && typeof value.expires_in === 'number', 'the token request');
  return { accessToken: issued.access_token, expiresInSeconds: issued.expires_in };
}

/** A PEM or JWK private key (RSA, or EC P-256), with the JWK's `kid` when it has one. */
export function parsePrivateKey(text: string): { key: KeyObject; keyId?: string } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    const jwk = JSON.parse(trimmed) as { kid?: string } & Record<string, unknown>;
    return { key: createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }), keyId: jwk.kid };
  }
  return { key: createPrivateKey(trimmed.replaceAll('\\n', '\n')) };
}

/** An RFC 7523 client assertion (`private_key_jwt`), as a token endpoint accepts it from a client with a key pair (Okta's service apps). */
export function signedClientAssertion(key: KeyObject, keyId: string | undefined, clientId: string, audience: string): string {
  const ec = key.asymmetricKeyType === 'ec';
  const now = Math.floor(Date.now() / 1000);
  const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode({ alg: ec ? 'ES256' : 'RS256', typ: 'JWT', ...(keyId ? { kid: keyId } : {}) })}.${encode({
    iss: clientId,
    sub: clientId,
    aud: audience,
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
  })}`;
  const signature = sign('sha256', Buffer.from(input), ec ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${input}.${signature.toString('base64url')}`;
}
