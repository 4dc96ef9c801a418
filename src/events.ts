/**
 * What the bridge did, as events: the routes emit them, logs and metrics listen. Payloads hold ids and names only,
 * never a secret.
 */
import { EventEmitter } from 'node:events';
import type { IdpFailureReport } from './driver/contract.js';

/** `standard`: the RFC 7591/7592 façade at /register. */
export type Portal = 'api7' | 'konnect' | 'standard';

export interface BridgeEventMap {
  'client.registered': { clientId: string; portal: Portal };
  'client.read': { clientId: string; portal: Portal };
  'client.updated': { clientId: string; portal: Portal };
  'client.deleted': { clientId: string; portal: Portal };
  'client.rotated': { clientId: string; portal: Portal };
  /** Multiple credentials: one more secret (its id only, never its value), or one revoked. */
  'secret.added': { clientId: string; secretId: string; portal: Portal };
  'secret.revoked': { clientId: string; secretId: string; portal: Portal };
  /** An added secret whose answer's connection closed before it was written, revoked again. */
  'secret.undone': { clientId: string; secretId: string; portal: Portal };
  'client.api_access_granted': { clientId: string; apiProductVersionId?: string };
  'client.api_access_revoked': { clientId: string; apiProductVersionId?: string };
  'event_hook.ignored': { clientId: string; eventType: string };
  /** `address`: the caller's address as the rate limits see it (DCR_TRUST_PROXY decides). */
  'auth.failed': { reason: 'missing' | 'wrong'; address?: string };
  'secrets.retired': { count: number };
  /** A client no portal learned of, deleted again: its answer's connection closed, or it stayed pending too long. */
  'registration.undone': {
    clientId: string;
    reason: 'connection_closed' | 'pending_timeout' | 'journal_failed';
    portal?: Portal;
  };
  /** One failed IdP attempt: its cause class (connection refused, TLS, DNS, timeout, status) and the IdP host. */
  'idp.attempt_failed': IdpFailureReport;
  'secrets.sweep_failed': { error: string; idpStatus?: AuditRecord['idpStatus'] };
  /** One audit event (src/audit.ts), for the audit stream; not a log line. */
  'audit.recorded': AuditRecord;
  'registration_token.rotated': { clientId: string };
  'registration_token.refused': { reason: 'missing' | 'wrong'; address?: string };
}

/** What the audit trail writes per change or refusal: who (which portal key), what, on which client, how it ended. */
export interface AuditRecord {
  type: 'audit';
  /** ISO 8601. */
  time: string;
  requestId?: string;
  /** The connection (DCR_CONFIG_FILE) the request or sweep belongs to; absent with one connection from the environment. */
  connection?: string;
  /** The key's name (`name:key` in DCR_API_KEYS) or its fingerprint; never the key. */
  apiKey?: string;
  dialect?: 'api7' | 'konnect' | 'dcr';
  operation: string;
  clientId?: string;
  /** Multiple credentials: the secret added or revoked (its id, never its value). */
  secretId?: string;
  portalId?: string;
  organizationId?: string;
  developerId?: string;
  outcome: 'success' | 'ignored' | 'refused' | 'failed' | 'aborted';
  /** The status the bridge answered. */
  status?: number;
  /** The bridge's error code, when it answered one. */
  error?: string;
  /** What the IdP answered when its answer decided a failure: its HTTP status, or `timeout` / `unreachable`. */
  idpStatus?: number | 'timeout' | 'unreachable';
  /** Sweeps: how many old secrets were retired. */
  retired?: number;
  /** A refused authentication: the caller's address as the rate limits see it (DCR_TRUST_PROXY decides). */
  address?: string;
}

export type BridgeEventName = keyof BridgeEventMap;

export class BridgeEvents {
  readonly #emitter = new EventEmitter();

  emit<Name extends BridgeEventName>(name: Name, payload: BridgeEventMap[Name]): void {
    this.#emitter.emit(name, payload);
  }

  on<Name extends BridgeEventName>(name: Name, listener: (payload: BridgeEventMap[Name]) => void): this {
    this.#emitter.on(name, listener);
    return this;
  }

  /** Every event, with its name: how logs and metrics subscribe once. */
  onAny(listener: <Name extends BridgeEventName>(name: Name, payload: BridgeEventMap[Name]) => void): this {
    for (const name of bridgeEventNames) this.#emitter.on(name, (payload) => listener(name, payload));
    return this;
  }
}

export const bridgeEventNames: readonly BridgeEventName[] = [
  'client.registered',
  'client.read',
  'client.updated',
  'client.deleted',
  'client.rotated',
  'secret.added',
  'secret.revoked',
  'client.api_access_granted',
  'client.api_access_revoked',
  'event_hook.ignored',
  'auth.failed',
  'secrets.retired',
  'registration.undone',
  'secret.undone',
  'secrets.sweep_failed',
  'audit.recorded',
  'registration_token.rotated',
  'registration_token.refused',
  'idp.attempt_failed',
];
