/**
 * Credentials and their configuration: the bridge's own (a service app's key pair, a certificate for a token endpoint,
 * one of two alternative variables) and the clients' (which authentication methods have a secret to rotate).
 *
 *   fetchToken: assertionTokenFetcher(`${orgUrl}/oauth2/v1/token`, { clientId, privateKey }, 'okta.apps.manage'),
 */
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigurationError, envValue, requiredEnv, urlEnv, type Env } from '../env.js';
import { InvalidRequestError } from '../errors.js';
import type { IssuedToken } from '../idp/token-cache.js';
import type { IdpHttpClient } from './http.js';
import { fetchClientCredentialsToken, parsePrivateKey, signedClientAssertion } from './token.js';

/**
 * The admin token of a client with a key pair (PEM or JWK; parsed once, here): the client-credentials grant at
 * `tokenUrl` with a signed client assertion (RFC 7523) for `scope`. The JWK's `kid` is used unless `keyId` is given.
 */
export function assertionTokenFetcher(tokenUrl: string, client: { clientId: string; privateKey: string; keyId?: string | undefined }, scope: string): (signal: AbortSignal, http: IdpHttpClient) => Promise<IssuedToken> {
  const signingKey = parsePrivateKey(client.privateKey);
  return (signal, http) =>
    fetchClientCredentialsToken(http, tokenUrl, {
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: signedClientAssertion(signingKey.key, client.keyId ?? signingKey.keyId, client.clientId, tokenUrl),
    }, signal);
}

/** The private key in `name` (PEM or JWK, RSA or EC P-256), required and checked to parse. */
export function privateKeyEnv(env: Env, name: string, requirement: string): string {
  const privateKey = requiredEnv(env, name, requirement);
  try {
    parsePrivateKey(privateKey);
  } catch {
    throw new ConfigurationError(name, 'must be a PEM private key or a private JWK (RSA or EC P-256)');
  }
  return privateKey;
}

/**
 * Which of two alternative variables is set, and its value (an API token or a service app, a secret or a certificate).
 * Both set, or neither, is a configuration error named after the first, with the message given for the case.
 */
export function eitherEnv<A extends string, B extends string>(env: Env, names: [A, B], messages: { both: string; neither: string }): { name: A | B; value: string } {
  const [first, second] = names.map((name) => envValue(env, name));
  if (first !== undefined && second !== undefined) throw new ConfigurationError(names[0], messages.both);
  if (first !== undefined) return { name: names[0], value: first };
  if (second !== undefined) return { name: names[1], value: second };
  throw new ConfigurationError(names[0], messages.neither);
}

/** An https URL (no trailing slash) for an IdP endpoint that speaks https only: an http URL would fail later, less clearly. */
export function httpsUrlEnv(env: Env, name: string, fallback: string): string {
  const value = urlEnv(env, name, fallback);
  if (!value.startsWith('https://')) throw new ConfigurationError(name, 'must be an absolute https URL');
  return value;
}

/** A PEM holding a private key and its certificate, as a token endpoint's client certificate: the key, the SHA-256 thumbprint, the certificate. */
export function certificateCredential(pem: string, variable: string): { privateKey: string; thumbprintSha256: string; x5c: string } {
  const certificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  const key = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.exec(pem)?.[0];
  if (!certificate || !key) throw new ConfigurationError(variable, 'must name a PEM file holding both the private key and the certificate');
  const der = new X509Certificate(certificate).raw;
  return {
    privateKey: createPrivateKey(key).export({ format: 'pem', type: 'pkcs8' }).toString(),
    thumbprintSha256: createHash('sha256').update(der).digest('hex'),
    x5c: certificate,
  };
}

/** The PEM file `path` (named by `variable`), read and checked to hold a private key and its certificate. */
export function readCertificatePem(variable: string, path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigurationError(variable, 'must name a readable PEM file holding the private key and the certificate');
  }
  certificateCredential(pem, variable);
  return pem;
}

/** The token endpoint authentication methods that use a client secret (RFC 7591 §2). */
const SECRET_AUTH_METHODS: ReadonlySet<string> = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);

/** Whether a client that authenticates by `tokenEndpointAuthMethod` has a client secret. */
export const usesClientSecret = (tokenEndpointAuthMethod: string): boolean => SECRET_AUTH_METHODS.has(tokenEndpointAuthMethod);

/** `400 invalid_request` when a client's authentication method has no secret to rotate. */
export function checkHasSecret(tokenEndpointAuthMethod: string): void {
  if (!usesClientSecret(tokenEndpointAuthMethod)) {
    throw new InvalidRequestError('This client authenticates without a client secret, so it has none to rotate.');
  }
}
