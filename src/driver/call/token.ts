/**
 * The client-credentials grant (RFC 6749 §4.4) the drivers' admin tokens come from: Auth0's Management API token and
 * Keycloak's service account (a client id and secret in the form), Okta's service app (a signed client assertion,
 * RFC 7523, from its key pair). One form POST to a token endpoint. A refusal is the bridge's own credentials refused;
 * throttling and outages keep their status for the retry layer; an answer without a usable token is `502 idp_error`.
 *
 *   fetchToken: clientCredentialsGrant(`https://${domain}/oauth/token`, { client_id, client_secret, audience })
 *   fetchToken: clientCredentialsGrant(`${orgUrl}/oauth2/v1/token`, { scope }, { clientId, privateKey })
 */
import { randomUUID, sign, type KeyObject } from 'node:crypto';
import { parsePrivateKey } from '../../env.js';
import { hasStrings } from '../../records.js';
import { IdpStatusError, usableAnswer } from './failure.js';
import type { IdpHttpClient } from './http.js';
import type { IssuedToken } from './token-cache.js';

/** A client that proves itself with a key pair (PEM or JWK) instead of a secret; the JWK's `kid` unless `keyId` is given. */
export interface AssertingClient {
  clientId: string;
  privateKey: string;
  keyId?: string | undefined;
}

/**
 * The admin token fetcher of `createAdminCall`: the client-credentials grant at `tokenUrl` with `form` (the client's id
 * and secret, an audience, a scope), plus a signed client assertion when `asserting` is given (its key parsed once, here).
 */
export function clientCredentialsGrant(
  tokenUrl: string,
  form: Record<string, string>,
  asserting?: AssertingClient,
): (signal: AbortSignal, http: IdpHttpClient) => Promise<IssuedToken> {
  const signingKey = asserting && parsePrivateKey(asserting.privateKey);
  return (signal, http) => {
    const assertion = asserting &&
      signingKey && {
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: signedClientAssertion(
          signingKey.key,
          asserting.keyId ?? signingKey.keyId,
          asserting.clientId,
          tokenUrl,
        ),
      };
    return requestToken(http, tokenUrl, { ...form, ...assertion }, signal);
  };
}

async function requestToken(
  http: IdpHttpClient,
  tokenUrl: string,
  form: Record<string, string>,
  signal: AbortSignal,
): Promise<IssuedToken> {
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
  const issued = usableAnswer(
    body,
    (value): value is { access_token: string; expires_in: number } =>
      hasStrings('access_token')(value) && typeof value.expires_in === 'number',
    'the token request',
  );
  return { accessToken: issued.access_token, expiresInSeconds: issued.expires_in };
}

/** An RFC 7523 client assertion (`private_key_jwt`), as a token endpoint accepts it from a client with a key pair (Okta's service apps). */
function signedClientAssertion(key: KeyObject, keyId: string | undefined, clientId: string, audience: string): string {
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
