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
 * 5. The sweep (`retireSupersededSecrets`) counts each old secret's grace from the creation of its successor — the
 *    next newer secret — not from the newest one, so a secret never loses grace it was promised.
 */
import { IdpError } from '../errors.js';
import { cleanUpIfApplied } from './admin-call.js';

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
}

/** A client's secrets at its IdP. `remove` either removes the secret or leaves it working, and "already gone" is done. */
export interface SecretSlots {
  list(): Promise<HeldSecret[]>;
  /** Unsafe: adds a secret (the kit never repeats it). */
  add(): Promise<AddedSecret>;
  /** Resolves `false` when the secret was already gone (another replica's sweep removed it): not counted as retired. */
  remove(secret: HeldSecret): Promise<boolean | void>;
}

/** Issues a new secret by the semantics above; resolves with it (and its expiry, epoch seconds, `0` = never). */
export async function rotateWithGrace(slots: SecretSlots, graceSeconds: number): Promise<{ value: string; expiresAt: number }> {
  const held = oldestFirst(await slots.list());
  for (const secret of held.slice(0, -1)) await slots.remove(secret);
  const previous = held.slice(-1);
  const added = await cleanUpIfApplied(() => slots.add(), () => removeUnknown(slots, previous));
  if (!added.value) {
    await (added.id ? slots.remove({ id: added.id, createdAt: Number.NaN }) : removeUnknown(slots, previous)).catch(() => undefined);
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
export async function retireSupersededSecrets(held: HeldSecret[], graceSeconds: number, now: number, remove: (secret: HeldSecret) => Promise<boolean | void>): Promise<number> {
  const sorted = oldestFirst(held);
  let retired = 0;
  for (let index = 0; index < sorted.length - 1; index++) {
    const supersededAt = sorted[index + 1]!.createdAt;
    if (!Number.isFinite(supersededAt) || supersededAt + graceSeconds * 1000 >= now) continue;
    if ((await remove(sorted[index]!)) !== false) retired++;
  }
  return retired;
}

/**
 * The periodic sweep over the bridge's clients (`retireExpiredSecrets`): for each client, its secrets as the IdP lists
 * them, retired by `retireSupersededSecrets`. Without a grace there is nothing to retire and nothing is listed.
 */
export async function sweepSupersededSecrets<Client>(
  clients: () => AsyncIterable<Client>,
  sweep: { graceSeconds: number; now: number; secretsOf(client: Client): HeldSecret[] | Promise<HeldSecret[]>; remove(client: Client, secret: HeldSecret): Promise<boolean | void> },
): Promise<number> {
  if (sweep.graceSeconds <= 0) return 0;
  let retired = 0;
  for await (const client of clients()) {
    retired += await retireSupersededSecrets(await sweep.secretsOf(client), sweep.graceSeconds, sweep.now, (secret) => sweep.remove(client, secret));
  }
  return retired;
}

/** Every item of a listing read page by page by offset, up to `maxPages` pages: what a sweep walks through. */
export async function* offsetPages<Item>(pageSize: number, maxPages: number, fetchPage: (offset: number, limit: number) => Promise<Item[]>): AsyncIterable<Item> {
  for (let page = 0; page < maxPages; page++) {
    const items = await fetchPage(page * pageSize, pageSize);
    yield* items;
    if (items.length < pageSize) return;
  }
}

/** After an add whose outcome is unknown: the secrets that were not there before are ones nobody holds. */
async function removeUnknown(slots: SecretSlots, previous: HeldSecret[]): Promise<void> {
  const known = new Set(previous.map((secret) => secret.id));
  for (const secret of await slots.list()) if (!known.has(secret.id)) await slots.remove(secret);
}

/** Oldest first; the sort is stable, so secrets with equal (or unknown) times keep the IdP's own order. */
function oldestFirst(secrets: HeldSecret[]): HeldSecret[] {
  return [...secrets].sort((a, b) => (Number.isFinite(a.createdAt) && Number.isFinite(b.createdAt) ? a.createdAt - b.createdAt : 0));
}
