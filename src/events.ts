/**
 * What the bridge did, as events: the routes emit them, logs and metrics listen. Payloads hold ids and names only,
 * never a secret.
 */
import { EventEmitter } from 'node:events';
import type { IdpFailureReport } from './driver/admin-call.js';

export type Portal = 'api7' | 'konnect';

export interface BridgeEventMap {
  'client.registered': { clientId: string; portal: Portal };
  'client.read': { clientId: string; portal: Portal };
  'client.updated': { clientId: string; portal: Portal };
  'client.deleted': { clientId: string; portal: Portal };
  'client.rotated': { clientId: string; portal: Portal };
  'client.api_access_granted': { clientId: string; apiProductVersionId?: string };
  'client.api_access_revoked': { clientId: string; apiProductVersionId?: string };
  'event_hook.ignored': { clientId: string; eventType: string };
  'auth.failed': { reason: 'missing' | 'wrong' };
  'secrets.retired': { count: number };
  /** One failed IdP attempt: its cause class (connection refused, TLS, DNS, timeout, status) and the IdP host. */
  'idp.attempt_failed': IdpFailureReport;
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
  'client.api_access_granted',
  'client.api_access_revoked',
  'event_hook.ignored',
  'auth.failed',
  'secrets.retired',
  'idp.attempt_failed',
];
