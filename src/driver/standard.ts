/**
 * The standard DCR façade's part of a driver (RFC 7591/7592, src/http/register.ts): the registration each client's
 * mark carries (`standardRegistration` in ownership.ts), replaced by an update that brings a new one, handed back as
 * `RegisteredClient.registration`, and the open-registered clients listed from the bridge's own. Also the metadata
 * helpers a driver needs where its IdP stores less than RFC 7591 allows, or takes members one by one.
 */
import { InvalidClientMetadataError, InvalidRedirectUriError } from '../errors.js';
import type { ClientMetadata, StandardRegistration } from './contract.js';
import type { BridgeMark } from './ownership.js';

/** The mark after `updateClient(id, metadata, changes)`: the registration replaced when the change carries one. */
export function updatedMark<Mark extends BridgeMark>(mark: Mark, changes?: { registration?: StandardRegistration }): Mark {
  return changes?.registration ? { ...mark, standardRegistration: changes.registration } : mark;
}

/** `RegisteredClient.registration` from a client's mark: spread into the client a driver returns. */
export function registrationOf(mark: BridgeMark | undefined): { registration?: StandardRegistration } {
  return mark?.standardRegistration ? { registration: mark.standardRegistration } : {};
}

/** `listOpenRegistrations(limit)`: the client ids of the first `limit` open-registered clients among the bridge's own. */
export async function openRegistrations<Client>(clients: AsyncIterable<Client> | Iterable<Client>, limit: number, markOf: (client: Client) => BridgeMark | undefined, idOf: (client: Client) => string | undefined): Promise<string[]> {
  const open: string[] = [];
  for await (const client of clients) {
    if (open.length >= limit) break;
    const id = idOf(client);
    if (id && markOf(client)?.standardRegistration?.openRegistration) open.push(id);
  }
  return open;
}

/** What turns `had` into `wanted` where an IdP takes each member (a client's scopes, say) by a call of its own. */
export function membershipChanges<T>(wanted: readonly T[], had: readonly T[]): { added: T[]; removed: T[] } {
  return { added: wanted.filter((member) => !had.includes(member)), removed: had.filter((member) => !wanted.includes(member)) };
}

/** Refuses, before any IdP call, values longer than an IdP stores (a longer one is the IdP's 500, not a 400). */
export function refuseOverlong(metadata: ClientMetadata, max: number, idp: string): void {
  if ((metadata.clientName?.length ?? 0) > max || (metadata.clientUri?.length ?? 0) > max) {
    throw new InvalidClientMetadataError(`${idp} keeps at most ${max} characters of client_name and client_uri.`);
  }
  if (metadata.redirectUris.some((uri) => uri.length > max)) throw new InvalidRedirectUriError(`${idp} keeps at most ${max} characters of each redirect URI.`);
}
