/**
 * The secret slots (`SecretSlots`, rotation.ts) of an IdP that holds a client's current secret and at most one
 * "rotated" secret a regeneration keeps (Keycloak under its secret-rotation policy), for `rotateWithGrace`.
 */
import { IdpError } from '../errors.js';
import type { HeldSecret, SecretSlots } from './rotation.js';

export interface CurrentAndRotatedSecrets {
  /** The IdP's name, for the error of a removal it cannot do. */
  idp: string;
  /** The client's secrets as read before the rotation (ids `current`, and `rotated` when there is one). */
  held: HeldSecret[];
  /** The client's secrets read again from the IdP. */
  reread(): Promise<HeldSecret[]>;
  /** Unsafe: makes a new current secret and resolves with it (its lost-answer recovery included, e.g. `regeneratedSecret`). */
  regenerate(): Promise<string>;
  /** Empties the rotated slot. */
  removeRotated(): Promise<unknown>;
  markGrace?(graceEndsAt: number): Promise<void>;
}

/**
 * A regeneration moves the current secret into the rotated slot, so only a secret listed before it can be removed
 * afterwards (by emptying the rotated slot); the current secret cannot be removed at all (`IdpError`).
 */
export function currentAndRotatedSlots(secrets: CurrentAndRotatedSecrets): SecretSlots {
  let listedBefore: Set<HeldSecret> | undefined;
  return {
    async list() {
      if (listedBefore) return secrets.reread();
      listedBefore = new Set(secrets.held);
      return secrets.held;
    },
    add: async () => ({ id: 'current', value: await secrets.regenerate() }),
    async remove(secret) {
      if (!listedBefore?.has(secret)) throw new IdpError(`${secrets.idp} cannot remove a client's current secret.`);
      await secrets.removeRotated();
    },
    ...(secrets.markGrace ? { markGrace: (graceEndsAt: number) => secrets.markGrace!(graceEndsAt) } : {}),
  };
}
