/**
 * The standard DCR façade's credentials (RFC 7591/7592) without state in the bridge: a registration access token is
 * 256 random bits handed out once, and only its SHA-256 lives at the IdP, inside the client's ownership mark, as one
 * short string every driver can store next to the portal ids it already keeps there.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { StandardRegistration } from './driver/contract.js';

const markVersion = 'dcr1';
const hashPattern = /^[A-Za-z0-9_-]{43}$/;

/** 32 random bytes, base64url: the registration access token (RFC 7592 §3) a client presents as a bearer token. */
export function newRegistrationAccessToken(): string {
  return randomBytes(32).toString('base64url');
}

/** base64url SHA-256; the tokens and secrets hashed here are random, so no slow password hash is needed. */
export function credentialHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/** Whether `presented` hashes to `storedHash`, compared in constant time. */
export function matchesCredentialHash(presented: string, storedHash: string | undefined): boolean {
  if (storedHash === undefined || !hashPattern.test(storedHash)) return false;
  return timingSafeEqual(Buffer.from(credentialHash(presented), 'base64url'), Buffer.from(storedHash, 'base64url'));
}

/** `dcr1.<token hash>.<secret hash or empty>.<"open" or empty>`: 95 characters at most, within every IdP's limits. */
export function encodeStandardRegistration(registration: StandardRegistration): string {
  return [
    markVersion,
    registration.accessTokenHash,
    registration.clientSecretHash ?? '',
    registration.openRegistration ? 'open' : '',
  ].join('.');
}

/** The stored mark back, or undefined when there is none or it is not one this bridge wrote. */
export function decodeStandardRegistration(value: unknown): StandardRegistration | undefined {
  if (typeof value !== 'string') return undefined;
  const [version, accessTokenHash, clientSecretHash, open, ...rest] = value.split('.');
  if (version !== markVersion || rest.length > 0 || accessTokenHash === undefined || !hashPattern.test(accessTokenHash))
    return undefined;
  if (clientSecretHash !== undefined && clientSecretHash !== '' && !hashPattern.test(clientSecretHash))
    return undefined;
  return {
    accessTokenHash,
    ...(clientSecretHash ? { clientSecretHash } : {}),
    ...(open === 'open' ? { openRegistration: true } : {}),
  };
}
