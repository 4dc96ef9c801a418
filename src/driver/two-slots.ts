/**
 * Rotation at an IdP that holds a client's current secret and at most one "rotated" secret a regeneration keeps
 * (Keycloak under its secret-rotation policy): the secret slots `rotateWithGrace` works on, and the grace sweep, both
 * from one description of how the IdP reads and changes a client. The grace mark is a member of the client set to
 * `'true'`, found by `createMarkSearchSweep` (sweep-listing.ts).
 */
import { IdpError } from '../errors.js';
import type { HeldSecret, SecretSlots, SweepOptions } from './rotation.js';
import { createMarkSearchSweep, type MarkSearchOptions } from './sweep-listing.js';

export interface CurrentAndRotatedSecrets<Client> {
  /** The IdP's name, for the error of a removal it cannot do. */
  idp: string;
  /** The secrets as `client` shows them: `rotated` (when it holds one), then `current`. */
  held(client: Client): HeldSecret[];
  /** The client read again from the IdP. */
  reread(client: Client): Promise<Client>;
  /** Unsafe: makes a new current secret and resolves with it (its lost-answer recovery included, e.g. `regeneratedSecret`). */
  regenerate(client: Client): Promise<string>;
  /** Empties the rotated slot. */
  removeRotated(client: Client): Promise<unknown>;
  /** The grace mark as `client` carries it (`'true'`: marked); `undefined` without one. */
  graceMark(client: Client): string | undefined;
  /** Sets the grace mark, or removes it. */
  writeGraceMark(client: Client, marked: boolean): Promise<unknown>;
}

/**
 * The client's slots: a regeneration moves the current secret into the rotated slot, so only a secret listed before
 * it can be removed afterwards (by emptying the rotated slot); the current secret cannot be removed at all (`IdpError`).
 */
export function currentAndRotatedSlots<Client>(secrets: CurrentAndRotatedSecrets<Client>, client: Client): SecretSlots {
  let listedBefore: Set<HeldSecret> | undefined;
  return {
    async list() {
      if (listedBefore) return secrets.held(await secrets.reread(client));
      const held = secrets.held(client);
      listedBefore = new Set(held);
      return held;
    },
    add: async () => ({ id: 'current', value: await secrets.regenerate(client) }),
    async remove(secret) {
      if (!listedBefore?.has(secret)) throw new IdpError(`${secrets.idp} cannot remove a client's current secret.`);
      await secrets.removeRotated(client);
    },
    markGrace: async () => void (await secrets.writeGraceMark(client, true)),
  };
}

/**
 * The grace sweep: a client is in grace while it carries the mark or holds a rotated secret (so a grace from before
 * the mark existed ends all the same); the rotated secret's successor is the current one, so its grace runs from the
 * current secret's creation. The listing carries the secrets; every change is one IdP call.
 */
export function createCurrentAndRotatedSweep<Client extends object>(graceSeconds: number, secrets: CurrentAndRotatedSecrets<Client>, listing: MarkSearchOptions<Client>): (now: number, options?: SweepOptions) => Promise<number> {
  return createMarkSearchSweep<Client>(graceSeconds, {
    ...listing,
    graceEndsAt: (client) => (secrets.graceMark(client) === 'true' || secrets.held(client).some((secret) => secret.id === 'rotated') ? Number.NaN : undefined),
    secrets: async (client, fresh) => secrets.held(fresh ? await secrets.reread(client) : client),
    remove: async (client) => void (await secrets.removeRotated(client)),
    mark: async (client) => void (await secrets.writeGraceMark(client, true)),
    clearMark: async (client) => {
      if (secrets.graceMark(client) !== undefined) await secrets.writeGraceMark(client, false);
    },
    costs: { secrets: 0, freshSecrets: 1, remove: 1, mark: 1, clearMark: 1 },
  });
}

/** A client's secrets in this model: `rotated` (its creation unknown) when it holds one, then `current`, created at `currentCreatedAt` (epoch ms). */
export function currentAndRotated(currentCreatedAt: number, hasRotated: boolean): HeldSecret[] {
  const current = { id: 'current', createdAt: currentCreatedAt };
  return hasRotated ? [{ id: 'rotated', createdAt: Number.NaN }, current] : [current];
}
