/**
 * Ownership: the bridge marks every client it creates and refuses every client it did not (DESIGN.md, Security
 * rules). One mark model, one format — a small record written as flat string members — stored where each IdP keeps
 * free-form data about a client: Keycloak attributes, Okta's app profile, Auth0 `client_metadata`, Entra's notes
 * (beside the tag Graph can filter on). Here also the one client-id rule every route and driver shares, the gate and
 * idempotent delete built on the mark, and the `RegisteredClient` a driver hands back from what the mark records.
 *
 *   const MARK = flatMark({ prefix: 'dcr-bridge.' });
 *   attributes = { ...attributes, ...MARK.write(MARK.create(context)) };
 *   const client = requireOwned(await find(clientId), (found) => MARK.read(found.attributes) !== undefined);
 */
import { randomUUID } from 'node:crypto';
import { ClientNotFoundError, InvalidRequestError } from '../errors.js';
import { decodeStandardRegistration, encodeStandardRegistration } from '../registration.js';
import type {
  ClientMetadata,
  ListClientsOptions,
  OwnedClientSummary,
  OwnedClientsPage,
  RegisteredClient,
  RegistrationContext,
  StandardRegistration,
} from './contract.js';

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
const markField = {
  text: (key: string): MarkField<string> => ({ key, write: (value) => value, read: (value) => value }),
  epochSeconds: (key: string): MarkField<number> => ({
    key,
    write: (value) => String(value),
    read: (value) => (/^\d{1,12}$/.test(value) ? Number(value) : undefined),
  }),
  flag: (key: string): MarkField<boolean> => ({
    key,
    write: (value) => String(value),
    read: (value) => (value === 'true' ? true : value === 'false' ? false : undefined),
  }),
  standardRegistration: (key: string): MarkField<StandardRegistration> => ({
    key,
    write: encodeStandardRegistration,
    read: decodeStandardRegistration,
  }),
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
} satisfies Record<
  string,
  MarkField<string> | MarkField<number> | MarkField<boolean> | MarkField<StandardRegistration>
>;

type FieldValue<F> = F extends MarkField<infer T> ? T : never;
export type MarkFieldName = keyof typeof markFields;
/** The ownership mark: present means managed by this bridge. */
export type BridgeMark = { [K in MarkFieldName]?: FieldValue<(typeof markFields)[K]> };

const MANAGED = 'managed';

/** The mark of a client about to be created. */
function newMark(
  context: RegistrationContext,
  now = Date.now(),
): BridgeMark & { registrationId: string; issuedAt: number } {
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
function encodeMark(mark: BridgeMark, omit: readonly MarkFieldName[] = []): Record<string, string> {
  const encoded: Record<string, string> = { [MANAGED]: 'true' };
  for (const [name, field] of Object.entries(markFields) as Array<[MarkFieldName, MarkField<unknown>]>) {
    const value = mark[name];
    if (value !== undefined && value !== '' && !omit.includes(name)) encoded[field.key] = field.write(value);
  }
  return encoded;
}

/** The mark read back from flat members; `undefined` when the client is not the bridge's. */
function decodeMark(members: Record<string, unknown> | undefined): BridgeMark | undefined {
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
  /** The mark of a client about to be created: a new registration id, issued now, the context's portal ids and registration. */
  create(context: RegistrationContext, now?: number): BridgeMark & { registrationId: string; issuedAt: number };
  /**
   * The members to store on the client; with the `changes` of `updateClient`, the mark's standard registration is
   * replaced when they carry one.
   */
  write(mark: BridgeMark, changes?: { registration?: StandardRegistration }): Record<string, string>;
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
export function flatMark(options: {
  prefix: string;
  managed?: [key: string, value: string];
  omit?: readonly MarkFieldName[];
}): MarkStorage {
  const { prefix } = options;
  const [managedKey, managedValue] = options.managed ?? [`${prefix}${MANAGED}`, 'true'];
  return {
    create: newMark,
    write: (mark, changes) => {
      const updated = changes?.registration ? { ...mark, standardRegistration: changes.registration } : mark;
      const { [MANAGED]: _managed, ...fields } = encodeMark(updated, options.omit);
      return {
        [managedKey]: managedValue,
        ...Object.fromEntries(Object.entries(fields).map(([key, value]) => [`${prefix}${key}`, value])),
      };
    },
    read: (members) => {
      if (members?.[managedKey] !== managedValue) return undefined;
      const unprefixed = Object.entries(members)
        .filter(([key]) => key.startsWith(prefix))
        .map(([key, value]) => [key.slice(prefix.length), value]);
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

/** Idempotent delete: a client already gone is done, a foreign one is `404`, the bridge's own is removed. */
export async function deleteOwned<Client>(
  client: Client | undefined,
  isOwned: (client: Client) => boolean,
  remove: (client: Client) => Promise<void>,
): Promise<void> {
  if (client === undefined) return;
  await remove(requireOwned(client, isOwned));
}

/**
 * The `RegisteredClient` a driver hands back from the client it read: its id, the metadata it translated, and what the
 * mark records — when it was issued (unless the IdP says, `issuedAt`; `0` when neither does) and the standard DCR
 * registration. Its secret never expires unless `secretExpiresAt` says when (epoch seconds).
 */
export function registeredClient(
  clientId: string,
  metadata: ClientMetadata,
  mark: BridgeMark | undefined,
  options: { issuedAt?: number; secretExpiresAt?: number } = {},
): RegisteredClient {
  return {
    clientId,
    clientIdIssuedAt: options.issuedAt ?? mark?.issuedAt ?? 0,
    clientSecretExpiresAt: options.secretExpiresAt ?? 0,
    metadata,
    ...(mark?.standardRegistration ? { registration: mark.standardRegistration } : {}),
  };
}

/** `listOpenRegistrations(limit)`: the client ids of the first `limit` open-registered clients among the bridge's own. */
export async function openRegistrations<Client>(
  clients: AsyncIterable<Client> | Iterable<Client>,
  limit: number,
  markOf: (client: Client) => BridgeMark | undefined,
  idOf: (client: Client) => string | undefined,
): Promise<string[]> {
  const open: string[] = [];
  for await (const client of clients) {
    if (open.length >= limit) break;
    const id = idOf(client);
    if (id && markOf(client)?.standardRegistration?.openRegistration) open.push(id);
  }
  return open;
}

const dialects = new Set(['api7', 'konnect', 'standard']);

/**
 * The operator's summary of one owned client from what its mark records (and what the IdP tells: its name, when it
 * was created, whether an old secret waits for the sweep). Never a secret, a token or a hash.
 */
export function ownedClientSummary(
  clientId: string,
  mark: BridgeMark,
  facts: { clientName?: string | undefined; createdAt?: number | undefined; pending?: boolean | undefined } = {},
): OwnedClientSummary {
  const summary: OwnedClientSummary = { clientId };
  if (facts.clientName) summary.clientName = facts.clientName;
  const dialect = mark.portal ?? (mark.standardRegistration ? 'standard' : undefined);
  if (dialect && dialects.has(dialect)) summary.dialect = dialect as NonNullable<OwnedClientSummary['dialect']>;
  if (mark.portalId) summary.portalId = mark.portalId;
  if (mark.organizationId) summary.organizationId = mark.organizationId;
  if (mark.developerId) summary.developerId = mark.developerId;
  const createdAt = facts.createdAt ?? mark.issuedAt;
  if (createdAt !== undefined && createdAt > 0) summary.createdAt = createdAt;
  if (mark.standardRegistration?.openRegistration) summary.openRegistration = true;
  if (facts.pending) summary.pending = true;
  return summary;
}

/** `listClients`' limits: a page of 1 to 500; the cursor is the count of owned clients already listed. */
export const MAX_CLIENTS_PAGE = 500;

function cursorOffset(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  if (!/^\d{1,9}$/.test(cursor)) throw new InvalidRequestError('The cursor is not one a listing of clients gave.');
  return Number(cursor);
}

/**
 * One page of the owned clients among `clients` (the IdP's listing, read lazily): `summarize` answers undefined for a
 * client that is not the bridge's. The cursor counts owned clients, so each page reads the listing from its start up
 * to the page's end: an operator's tool, not a hot path.
 */
export async function pageOfOwnedClients<Client>(
  clients: AsyncIterable<Client> | Iterable<Client>,
  options: ListClientsOptions,
  summarize: (client: Client) => OwnedClientSummary | undefined,
): Promise<OwnedClientsPage> {
  const limit = Math.min(Math.max(Math.trunc(options.limit), 1), MAX_CLIENTS_PAGE);
  const offset = cursorOffset(options.cursor);
  const page: OwnedClientSummary[] = [];
  let seen = 0;
  for await (const client of clients) {
    const summary = summarize(client);
    if (summary === undefined) continue;
    seen++;
    if (seen <= offset) continue;
    if (page.length === limit) return { clients: page, next: String(offset + limit) };
    page.push(summary);
  }
  return { clients: page };
}
