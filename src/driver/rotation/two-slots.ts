/**
 * Rotation at an IdP that holds a client's current secret and at most one "rotated" secret a regeneration keeps
 * (Keycloak under its secret-rotation policy): the rotation with a grace and its sweep, both from one description of
 * how the IdP reads and changes a client. The grace mark is a member of the client set to `'true'`, found by
 * `createMarkSearchSweep` (sweep.ts).
 */
import { IdpError } from '../../errors.js';
import { rotateWithGrace, type HeldSecret, type SecretSlots } from './grace.js';
import { createMarkSearchSweep, type GraceRotation, type MarkSearchOptions } from './sweep.js';

export interface CurrentAndRotatedSecrets<Client> {
  /** The IdP's name, for the error of a removal it cannot do. */
  idp: string;
  /** The secrets as `client` shows them: whether it holds a rotated one, and when its current one was created (epoch ms). */
  held(client: Client): { currentCreatedAt: number; hasRotated: boolean };
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
 * Rotation with `graceSeconds` of grace in this model: `rotate(client)` issues a new current secret (`rotateWithGrace`
 * over the client's two slots), `sweep` retires the rotated secrets whose grace ended, paging through `listing`.
 */
export function currentAndRotatedSecrets<Client extends object>(
  graceSeconds: number,
  secrets: CurrentAndRotatedSecrets<Client>,
  listing: MarkSearchOptions<Client>,
): Omit<GraceRotation, 'rotate'> & { rotate(client: Client): Promise<{ value: string; expiresAt: number }> } {
  return {
    rotate: (client) => rotateWithGrace(currentAndRotatedSlots(secrets, client), graceSeconds),
    sweep: currentAndRotatedSweep(graceSeconds, secrets, listing),
  };
}

/** A client's secrets in this model: `rotated` (its creation unknown) when it holds one, then `current`. */
function heldSecrets<Client>(secrets: CurrentAndRotatedSecrets<Client>, client: Client): HeldSecret[] {
  const { currentCreatedAt, hasRotated } = secrets.held(client);
  const current = { id: 'current', createdAt: currentCreatedAt };
  return hasRotated ? [{ id: 'rotated', createdAt: Number.NaN }, current] : [current];
}

/**
 * The client's slots: a regeneration moves the current secret into the rotated slot, so only a secret listed before
 * it can be removed afterwards (by emptying the rotated slot); the current secret cannot be removed at all (`IdpError`).
 */
function currentAndRotatedSlots<Client>(secrets: CurrentAndRotatedSecrets<Client>, client: Client): SecretSlots {
  let listedBefore: Set<HeldSecret> | undefined;
  return {
    async list() {
      if (listedBefore) return heldSecrets(secrets, await secrets.reread(client));
      const held = heldSecrets(secrets, client);
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
function currentAndRotatedSweep<Client extends object>(
  graceSeconds: number,
  secrets: CurrentAndRotatedSecrets<Client>,
  listing: MarkSearchOptions<Client>,
): GraceRotation['sweep'] {
  return createMarkSearchSweep<Client>(graceSeconds, {
    ...listing,
    graceEndsAt: (client) =>
      secrets.graceMark(client) === 'true' || secrets.held(client).hasRotated ? Number.NaN : undefined,
    secrets: async (client, fresh) => heldSecrets(secrets, fresh ? await secrets.reread(client) : client),
    remove: async (client) => void (await secrets.removeRotated(client)),
    mark: async (client) => void (await secrets.writeGraceMark(client, true)),
    clearMark: async (client) => {
      if (secrets.graceMark(client) !== undefined) await secrets.writeGraceMark(client, false);
    },
    costs: { secrets: 0, freshSecrets: 1, remove: 1, mark: 1, clearMark: 1 },
  });
}
