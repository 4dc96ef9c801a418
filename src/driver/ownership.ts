/**
 * Ownership: the bridge marks every client it creates and refuses every client it did not (DESIGN.md, Security
 * rules). One mark model, one format — a small record written as flat string members — stored where each IdP keeps
 * free-form data about a client: Keycloak attributes, Okta's app profile, Auth0 `client_metadata`, Entra's notes
 * (beside the tag Graph can filter on). Here also the client-id check every route and driver shares, and the gate
 * and idempotent delete built on the mark.
 *
 *   const storage = flatMark({ prefix: 'dcr-bridge.' });
 *   attributes = { ...attributes, ...storage.write(newMark(context)) };
 *   const client = requireOwned(await find(clientId), (found) => storage.read(found.attributes) !== undefined);
 */
import { randomUUID } from 'node:crypto';
import { ClientNotFoundError, InvalidRequestError } from '../errors.js';
import { decodeStandardRegistration, encodeStandardRegistration } from '../registration.js';
import type { RegistrationContext, StandardRegistration } from './contract.js';
import { answerUnread } from './admin-call.js';

/** `client_id` path segments and driver arguments: a safe alphabet (DESIGN.md), never a dot segment. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._~-]{1,255}$/;

export function isClientId(clientId: string): boolean {
  return CLIENT_ID_PATTERN.test(clientId) && clientId !== '.' && clientId !== '..';
}

/** `400 invalid_request` for an id no route would have let through: a driver never puts one into an IdP path. */
export function checkClientId(clientId: string): void {
  if (!isClientId(clientId)) throw new InvalidRequestError('The client_id is not a valid client identifier.');
}

interface MarkField<T> {
  /** The member's name in storage (after the IdP's prefix). */
  key: string;
  write(value: T): string;
  read(text: string): T | undefined;
}

/** The value types a mark field can have, each written as a string (every IdP's free-form store holds strings). */
export const markField = {
  text: (key: string): MarkField<string> => ({ key, write: (value) => value, read: (value) => value }),
  epochSeconds: (key: string): MarkField<number> => ({ key, write: (value) => String(value), read: (value) => (/^\d{1,12}$/.test(value) ? Number(value) : undefined) }),
  flag: (key: string): MarkField<boolean> => ({ key, write: (value) => String(value), read: (value) => (value === 'true' ? true : value === 'false' ? false : undefined) }),
  standardRegistration: (key: string): MarkField<StandardRegistration> => ({ key, write: encodeStandardRegistration, read: decodeStandardRegistration }),
};

/** What the mark records besides "managed by this bridge". Adding a field is one line here. */
const markFields = {
  /** Random, set before the create, so a client whose create answer was lost can be found and removed. */
  registrationId: markField.text('registration'),
  /** Epoch seconds. */
  issuedAt: markField.epochSeconds('issued_at'),
  portal: markField.text('portal'),
  portalId: markField.text('portal_id'),
  organizationId: markField.text('organization_id'),
  developerId: markField.text('developer_id'),
  /** The standard DCR façade's registration (src/registration.ts): the registration access token's hash, "open". */
  standardRegistration: markField.standardRegistration('standard'),
} satisfies Record<string, MarkField<string> | MarkField<number> | MarkField<boolean> | MarkField<StandardRegistration>>;

type FieldValue<F> = F extends MarkField<infer T> ? T : never;
export type MarkFieldName = keyof typeof markFields;
/** The ownership mark: present means managed by this bridge. */
export type BridgeMark = { [K in MarkFieldName]?: FieldValue<(typeof markFields)[K]> };

const MANAGED = 'managed';

/** The mark of a client about to be created. */
export function newMark(context: RegistrationContext, now = Date.now()): BridgeMark & { registrationId: string; issuedAt: number } {
  return {
    registrationId: randomUUID(),
    issuedAt: Math.floor(now / 1000),
    portal: context.portal,
    portalId: context.portalId,
    organizationId: context.organizationId,
    developerId: context.developerId,
    standardRegistration: context.registration,
  };
}

/** The mark as flat string members (the one format): `managed`, then each field that has a value. */
export function encodeMark(mark: BridgeMark, omit: readonly MarkFieldName[] = []): Record<string, string> {
  const encoded: Record<string, string> = { [MANAGED]: 'true' };
  for (const [name, field] of Object.entries(markFields) as Array<[MarkFieldName, MarkField<unknown>]>) {
    const value = mark[name];
    if (value !== undefined && value !== '' && !omit.includes(name)) encoded[field.key] = field.write(value);
  }
  return encoded;
}

/** The mark read back from flat members; `undefined` when the client is not the bridge's. */
export function decodeMark(members: Record<string, unknown> | undefined): BridgeMark | undefined {
  if (members?.[MANAGED] !== 'true') return undefined;
  const mark: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(markFields) as Array<[MarkFieldName, MarkField<unknown>]>) {
    const stored = members[field.key];
    const value = typeof stored === 'string' ? field.read(stored) : undefined;
    if (value !== undefined) mark[name] = value;
  }
  return mark as BridgeMark;
}

export interface MarkStorage {
  /** The members to store on the client. */
  write(mark: BridgeMark): Record<string, string>;
  /** The client's mark, or `undefined` when the client is not the bridge's. */
  read(members: Record<string, unknown> | undefined): BridgeMark | undefined;
  /** Whether a member name belongs to the mark (kept across an update, never taken for metadata). */
  owns(key: string): boolean;
}

/**
 * The mark stored as flat members, each name prefixed (`dcr-bridge.registration` in Keycloak, `dcr_bridge_registration`
 * in Auth0). `managed` names the member that says "managed" where an IdP's existing clients already carry another
 * (Okta: `owner: "dcr-bridge"`); `omit` drops fields an IdP has no room for (Auth0 keeps at most 10 metadata keys).
 */
export function flatMark(options: { prefix: string; managed?: [key: string, value: string]; omit?: readonly MarkFieldName[] }): MarkStorage {
  const { prefix } = options;
  const [managedKey, managedValue] = options.managed ?? [`${prefix}${MANAGED}`, 'true'];
  return {
    write: (mark) => {
      const { [MANAGED]: _managed, ...fields } = encodeMark(mark, options.omit);
      return { [managedKey]: managedValue, ...Object.fromEntries(Object.entries(fields).map(([key, value]) => [`${prefix}${key}`, value])) };
    },
    read: (members) => {
      if (members?.[managedKey] !== managedValue) return undefined;
      const unprefixed = Object.entries(members).filter(([key]) => key.startsWith(prefix)).map(([key, value]) => [key.slice(prefix.length), value]);
      return decodeMark({ ...Object.fromEntries(unprefixed), [MANAGED]: 'true' });
    },
    owns: (key) => key === managedKey || key.startsWith(prefix),
  };
}

/** The one ownership rule: a client that is missing or not the bridge's is `404 client_not_found`. */
export function requireOwned<Client>(client: Client | undefined, isOwned: (client: Client) => boolean): Client {
  if (client === undefined || !isOwned(client)) throw new ClientNotFoundError();
  return client;
}

/** The bridge's own clients out of an IdP listing (a sweep, the open-registration listing). */
export async function* ownedOnly<Client>(clients: AsyncIterable<Client>, isOwned: (client: Client) => boolean): AsyncIterable<Client> {
  for await (const client of clients) if (isOwned(client)) yield client;
}

/** Idempotent delete: a client already gone is done, a foreign one is `404`, the bridge's own is removed. */
export async function deleteOwned<Client>(client: Client | undefined, isOwned: (client: Client) => boolean, remove: (client: Client) => Promise<void>): Promise<void> {
  if (client === undefined) return;
  await remove(requireOwned(client, isOwned));
}

/**
 * Runs an IdP call whose "not found" means the wanted state already holds; resolves `true` when it was gone. Its
 * answer is never read, so a 2xx the SDK could not parse (`UnusableAnswerError`) is done too.
 */
export async function goneIsDone(call: Promise<unknown>): Promise<boolean> {
  try {
    await answerUnread(call);
    return false;
  } catch (error) {
    if (error instanceof ClientNotFoundError) return true;
    throw error;
  }
}

/** An IdP lookup whose "not found" (`ClientNotFoundError`) means there is no such client. */
export async function foundOrUndefined<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (error) {
    if (error instanceof ClientNotFoundError) return undefined;
    throw error;
  }
}

/** An object without its `undefined` members (IdP payloads, RFC 7591 metadata). */
export function withoutUndefined<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
