/**
 * The flat string members an IdP keeps about a client (Keycloak attributes, Auth0 `client_metadata`): the string
 * members of an untyped record, multi-valued members joined into one string and split again, empty members dropped.
 */

/** The members whose value is a string: an IdP's free-form store may hold other types, which the bridge never wrote. */
export function stringMembers(members: Record<string, unknown> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(members ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/** The members without the empty ones: where an IdP removes a member set to `''` (Keycloak), it no longer has them. */
export function withoutEmpty(members: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(members).filter(([, value]) => value !== ''));
}

/** Values kept in one member, joined by `separator`; `undefined` (the member left out) when there are none. */
export function joinValues(values: readonly string[] | undefined, separator: string): string | undefined {
  return values?.length ? values.join(separator) : undefined;
}

/** The values of a member `joinValues` wrote; `undefined` when it is missing or empty. */
export function splitValues(value: string | undefined, separator: string): string[] | undefined {
  return value ? value.split(separator).filter(Boolean) : undefined;
}
