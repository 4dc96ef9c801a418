/**
 * The flat string members an IdP keeps about a client (Keycloak attributes, Auth0 `client_metadata`): the string
 * members of an untyped record, multi-valued members joined into one string and split again, empty members dropped,
 * the members an update sends to an IdP that merges them, and the refusal of a member longer than the IdP keeps.
 *
 *   const stored = members.strings(client.client_metadata);
 *   const contacts = members.split(stored.contacts, ' ');
 */
import { InvalidClientMetadataError } from '../errors.js';

export const members = {
  /** The members whose value is a string: an IdP's free-form store may hold other types, which the bridge never wrote. */
  strings(record: Record<string, unknown> | undefined): Record<string, string> {
    return Object.fromEntries(
      Object.entries(record ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    );
  },

  /** The members without the empty ones: where an IdP removes a member set to `''` (Keycloak), it no longer has them. */
  withoutEmpty(record: Record<string, string> = {}): Record<string, string> {
    return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== ''));
  },

  /**
   * The members to send to an IdP that merges them into what it has (Keycloak attributes, Auth0 `client_metadata`) so
   * that it ends up with `next`: each member it `had` that `next` no longer has (of those `replaceable`) is sent as
   * `removed`, the value by which that IdP removes a member (`''`, `null`).
   */
  replacing<Removed>(
    had: Record<string, unknown> | undefined,
    next: Record<string, string>,
    removed: Removed,
    replaceable: (key: string) => boolean = () => true,
  ): Record<string, string | Removed> {
    const gone = Object.keys(had ?? {}).filter((key) => replaceable(key) && !(key in next));
    return { ...Object.fromEntries(gone.map((key) => [key, removed])), ...next };
  },

  /** Values kept in one member, joined by `separator`; `undefined` (the member left out) when there are none. */
  join(values: readonly string[] | undefined, separator: string): string | undefined {
    return values?.length ? values.join(separator) : undefined;
  },

  /** The values of a member `join` wrote; `undefined` when it is missing or empty. */
  split(value: string | undefined, separator: string): string[] | undefined {
    return value ? value.split(separator).filter(Boolean) : undefined;
  },

  /** Refuses, before any IdP call, a member longer than the IdP keeps (`400 invalid_client_metadata` naming the member). */
  refuseOverlong(record: Record<string, string>, max: number, idp: string): void {
    const tooLong = Object.entries(record).find(([, value]) => value.length > max);
    if (tooLong) throw new InvalidClientMetadataError(`${idp} keeps at most ${max} characters of ${tooLong[0]}.`);
  },
};
