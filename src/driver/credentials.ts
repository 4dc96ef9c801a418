/**
 * Multiple credentials (`listSecrets`, `addSecret`, `revokeSecret`): the rules every driver shares. The IdP's limit is
 * a `409` that creates nothing; the last working secret is a `409` that removes nothing; an add whose answer may have
 * been lost leaves no secret nobody holds; a revoke of an id already gone is done. A secret id is the IdP's own where
 * it has one, else `derivedSecretId`.
 */
import { createHash } from 'node:crypto';
import { ConflictError, IdpError } from '../errors.js';
import type { ClientSecretInfo } from './contract.js';
import { cleanUpIfApplied } from './recovery.js';
import { removeUnknown, supersededEnds, type HeldSecret, type SecretSlots } from './rotation/grace.js';

/**
 * A stable id for a secret at an IdP that names none (Keycloak, Auth0): a SHA-256 digest of the client id and the
 * secret, cut to 128 bits. It lives as long as the secret and reveals nothing of it (the IdP generates the secret
 * with far more than 128 bits of randomness), so it may appear in logs and answers.
 */
export const derivedSecretId = (clientId: string, secret: string): string =>
  `sec_${createHash('sha256').update(`dcr-bridge secret id\0${clientId}\0${secret}`).digest('base64url').slice(0, 22)}`;

/** The `409` for an add at the IdP's limit, naming it: nothing was created. */
export const secretLimitReached = (limit: string): ConflictError =>
  new ConflictError(`${limit}; revoke one first. No secret was added.`);

/** The `409` for revoking a client's last working secret: a client without a secret is broken. */
export const lastSecretRefused = (): ConflictError =>
  new ConflictError(
    "That is the client's last working secret, so it is not revoked: add another one first, or delete the client.",
  );

/**
 * Adds one secret in `slots` (whose secrets before the add are `previous`), the others untouched. The add is never
 * repeated; if it fails in a way the IdP may have acted on, every secret that was not in `previous` is removed, so no
 * secret nobody holds is left. An add the IdP answers without the value or the id is removed again (`502`).
 */
export async function addOneSecret(
  slots: SecretSlots,
  previous: HeldSecret[],
): Promise<{ id: string; value: string; expiresAt?: number; createdAt?: number }> {
  const added = await cleanUpIfApplied(
    () => slots.add(),
    () => removeUnknown(slots, previous),
  );
  const { id, value } = added;
  if (!id || !value) {
    await (id ? slots.remove({ id, createdAt: Number.NaN }) : removeUnknown(slots, previous)).catch(() => undefined);
    throw new IdpError('The identity provider added a secret without returning it; it was removed again.');
  }
  return { ...added, id, value };
}

/**
 * Revokes `secretId` among the client's `listed` secrets with `remove`: an id not listed is already gone (done); the
 * last `ACTIVE` secret is refused (`lastSecretRefused`) and left as it is.
 */
export async function revokeListedSecret<Secret extends ClientSecretInfo>(
  listed: Secret[],
  secretId: string,
  remove: (secret: Secret) => Promise<unknown>,
): Promise<void> {
  const secret = listed.find((candidate) => candidate.secretId === secretId);
  if (!secret) return;
  const active = listed.filter((candidate) => candidate.status === 'ACTIVE');
  if (secret.status === 'ACTIVE' && active.length <= 1) throw lastSecretRefused();
  await remove(secret);
}

/**
 * When the grace sweep (sweep.ts) retires each of `held`, for a client in a rotation's grace: every secret but the
 * newest ends `graceSeconds` after its successor was created (epoch seconds), as `retireSupersededSecrets` counts it.
 * Secrets without a known successor time are left out.
 */
export function graceEnds(held: HeldSecret[], graceSeconds: number): Map<string, number> {
  if (graceSeconds <= 0) return new Map();
  return new Map(
    supersededEnds(held, graceSeconds).map(({ secret, endsAt }) => [secret.id, Math.floor(endsAt / 1000)]),
  );
}

/** Epoch seconds of epoch milliseconds, `undefined` when unknown. */
export const epochSecondsOf = (milliseconds: number | undefined): number | undefined =>
  milliseconds !== undefined && Number.isFinite(milliseconds) ? Math.floor(milliseconds / 1000) : undefined;
