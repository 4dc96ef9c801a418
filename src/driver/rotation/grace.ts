/**
 * Rotation with a grace period, once for every IdP that holds more than one secret per client (Okta, Entra, Keycloak
 * with its rotation policy). A driver describes its IdP's secrets as a small list / add / remove interface; the
 * semantics are the kit's:
 *
 * 1. Before adding, every old secret but the newest is retired: a client holds at most two secrets (the new one and
 *    the one in its grace), so rotating again during a grace ends the older grace now.
 * 2. `add` is never repeated blindly. If it fails in a way the IdP may have acted on (`mayHaveBeenApplied`), the
 *    secrets are listed again and any secret that was not there before — one nobody holds — is removed.
 * 3. If the IdP adds a secret but returns no value, that secret is removed (nobody could use it) and the rotation
 *    fails with `502 idp_error`; the old secrets stay as they were.
 * 4. Without a grace, the old secrets are removed once the new one exists; if that fails, the new one is removed and
 *    the error reported, so the caller's old secret still works.
 * 5. The sweep (`retireSupersededSecrets`, sweep.ts) counts each old secret's grace from the creation of its successor — the
 *    next newer secret — not from the newest one, so a secret never loses grace it was promised.
 * 6. A grace is marked on the client (`SecretSlots.markGrace`) BEFORE the grace secret is added, and the sweep
 *    (`createGraceSweep`, sweep.ts) clears the mark only AFTER the last old secret is gone: a crash in between leaves a mark
 *    with nothing to retire (the next sweep clears it), never a secret in grace without a mark. So a sweep reads only
 *    the marked clients, where the IdP can search for the mark, and never reads the secrets of one whose grace has not
 *    ended yet.
 */
import { IdpError, InvalidRequestError } from '../../errors.js';
import { cleanUpIfApplied } from '../recovery.js';
export interface HeldSecret {
  /** Stable across the rotation (the IdP's key id, or whatever identifies this secret while it lives). */
  id: string;
  /** Epoch milliseconds; `NaN` when the IdP does not say. */
  createdAt: number;
}

export interface AddedSecret {
  /** The new secret's id; without one, the kit finds it by listing. */
  id?: string;
  /** The secret itself; the IdP shows it once. */
  value?: string;
  /** Epoch seconds; `0` = never. */
  expiresAt?: number;
  /** Epoch milliseconds, when the IdP says. */
  createdAt?: number;
}

/** A client's secrets at its IdP. `remove` either removes the secret or leaves it working, and "already gone" is done. */
export interface SecretSlots {
  list(): Promise<HeldSecret[]>;
  /** Unsafe: adds a secret (the kit never repeats it). */
  add(): Promise<AddedSecret>;
  /** Resolves `false` when the secret was already gone (another replica's sweep removed it): not counted as retired. */
  remove(secret: HeldSecret): Promise<boolean | void>;
  /** Marks the client as holding a secret in grace until `graceEndsAt` (epoch ms), for the sweep to find. */
  markGrace?(graceEndsAt: number): Promise<void>;
  /** Clears that mark (the sweep, once no secret in grace is left). */
  clearGrace?(): Promise<void>;
}

/** Issues a new secret by the semantics above; resolves with it (and its expiry, epoch seconds, `0` = never). */
export async function rotateWithGrace(
  slots: SecretSlots,
  graceSeconds: number,
): Promise<{ value: string; expiresAt: number }> {
  const held = oldestFirst(await slots.list());
  for (const secret of held.slice(0, -1)) await slots.remove(secret);
  const previous = held.slice(-1);
  // Marked before the add: a crash after it must not leave a secret in grace that no sweep looks for.
  if (graceSeconds > 0 && previous.length > 0) await slots.markGrace?.(Date.now() + graceSeconds * 1000);
  const added = await cleanUpIfApplied(
    () => slots.add(),
    () => removeUnknown(slots, previous),
  );
  if (!added.value) {
    await (added.id ? slots.remove({ id: added.id, createdAt: Number.NaN }) : removeUnknown(slots, previous)).catch(
      () => undefined,
    );
    throw new IdpError('The identity provider added a secret without returning it; the old secret still works.');
  }
  if (graceSeconds <= 0) {
    try {
      for (const secret of previous) await slots.remove(secret);
    } catch (error) {
      if (added.id) await slots.remove({ id: added.id, createdAt: Number.NaN }).catch(() => undefined);
      else await removeUnknown(slots, previous).catch(() => undefined);
      throw error;
    }
  }
  return { value: added.value, expiresAt: added.expiresAt ?? 0 };
}

/**
 * The sweep for one client: removes every secret whose successor was created more than the grace before `now`
 * (epoch milliseconds). The newest secret is never removed. Returns how many it removed itself, so replicas sweeping
 * at once report each secret once.
 */
export async function retireSupersededSecrets(
  held: HeldSecret[],
  graceSeconds: number,
  now: number,
  remove: (secret: HeldSecret) => Promise<boolean | void>,
): Promise<number> {
  let retired = 0;
  for (const { secret, endsAt } of supersededEnds(held, graceSeconds)) {
    if (endsAt >= now) continue;
    if ((await remove(secret)) !== false) retired++;
  }
  return retired;
}

/**
 * When each of `held` but the newest stops being needed: `graceSeconds` after its successor was created (epoch
 * milliseconds), oldest first. Secrets without a known successor time are left out. The one rule the sweep retires by
 * and the multiple-credentials list shows (`graceEnds`, credentials.ts).
 */
export function supersededEnds(held: HeldSecret[], graceSeconds: number): { secret: HeldSecret; endsAt: number }[] {
  const sorted = oldestFirst(held);
  return sorted.slice(0, -1).flatMap((secret, index) => {
    const supersededAt = sorted[index + 1]!.createdAt;
    return Number.isFinite(supersededAt) ? [{ secret, endsAt: supersededAt + graceSeconds * 1000 }] : [];
  });
}

/** The token endpoint authentication methods that use a client secret (RFC 7591 §2). */
const SECRET_AUTH_METHODS: ReadonlySet<string> = new Set([
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
]);

/** Whether a client that authenticates by `tokenEndpointAuthMethod` has a client secret: the one rule, for every driver and route. */
export const usesClientSecret = (tokenEndpointAuthMethod: string): boolean =>
  SECRET_AUTH_METHODS.has(tokenEndpointAuthMethod);

/** `400 invalid_request` when a client's authentication method has no secret to rotate. */
export function checkHasSecret(tokenEndpointAuthMethod: string): void {
  if (!usesClientSecret(tokenEndpointAuthMethod)) {
    throw new InvalidRequestError('This client authenticates without a client secret, so it has none to rotate.');
  }
}

/** After an add whose outcome is unknown: the secrets that were not there before are ones nobody holds. */
export async function removeUnknown(slots: SecretSlots, previous: HeldSecret[]): Promise<void> {
  const known = new Set(previous.map((secret) => secret.id));
  for (const secret of await slots.list()) if (!known.has(secret.id)) await slots.remove(secret);
}

/** Oldest first; the sort is stable, so secrets with equal (or unknown) times keep the IdP's own order. */
export function oldestFirst(secrets: HeldSecret[]): HeldSecret[] {
  return [...secrets].sort((a, b) =>
    Number.isFinite(a.createdAt) && Number.isFinite(b.createdAt) ? a.createdAt - b.createdAt : 0,
  );
}
