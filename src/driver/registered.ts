/**
 * The `RegisteredClient` a driver hands back from the client it read: its id, the metadata it translated, and what
 * the ownership mark records (when it was issued, the standard DCR registration).
 */
import type { ClientMetadata, RegisteredClient } from './contract.js';
import type { BridgeMark } from './ownership.js';
import { registrationOf } from './standard.js';

/** A client whose secret never expires, issued when its mark says (`0` when it does not). */
export function registeredClient(clientId: string, metadata: ClientMetadata, mark: BridgeMark | undefined): RegisteredClient {
  return { clientId, clientIdIssuedAt: mark?.issuedAt ?? 0, clientSecretExpiresAt: 0, metadata, ...registrationOf(mark) };
}

/** RFC 7591 `application_type` from what an IdP stored for it: `web` or `native`, else none. */
export function applicationTypeOf(stored: unknown): ClientMetadata['applicationType'] {
  return stored === 'web' || stored === 'native' ? stored : undefined;
}
