/**
 * Where a driver is wrapped, once: the kit's defaults for the members a driver leaves out, then every observer
 * (metrics, tracing, shutdown tracking) around every operation of the contract's one list (`driverOperations`). An
 * optional member the driver has passes through like any other; one it lacks stays absent, so the routes can tell.
 * Changes to one client's secrets run one at a time (`secretChanges`).
 */
import {
  driverOperations,
  type DcrDriver,
  type DriverImplementation,
  type DriverOperation,
} from '../driver/contract.js';
import { IdpUnavailableError, InvalidClientMetadataError } from '../errors.js';

/** What runs around one call of an operation: it runs `proceed` exactly once and returns (or throws) what it gave. */
export type AroundCall = (proceed: () => Promise<unknown>) => Promise<unknown>;

/**
 * Something that watches every driver call (a metric, a span, the shutdown's count of pending calls). `observe` runs
 * once per operation as the driver is wrapped, so what is the same for every call (label children, span names) is
 * resolved there and not on each call; `driver` is the complete driver without observers (shutdown's undo calls it).
 */
export interface DriverObserver {
  observe(driver: DcrDriver, operation: DriverOperation): AroundCall;
}

/**
 * The complete driver: a driver module leaves out what its IdP has no use for, and no driver carries an empty stub.
 * Without `apiAccessGrants` there is nothing to grant at the IdP, so the Konnect registration events only pass the
 * ownership gate (`getClient`): an unknown or foreign client is `404 client_not_found` there too.
 */
export function completeDriver(implementation: DriverImplementation): DcrDriver {
  const ownershipGate = async (clientId: string): Promise<void> => {
    await implementation.getClient(clientId);
  };
  const grants = implementation.capabilities.apiAccessGrants;
  const defaults: Pick<DcrDriver, 'retireExpiredSecrets' | 'grantApiAccess' | 'revokeApiAccess' | 'close'> = {
    retireExpiredSecrets: async () => 0,
    grantApiAccess: ownershipGate,
    revokeApiAccess: ownershipGate,
    close: async () => undefined,
  };
  const complete: Record<string, unknown> = {
    name: implementation.name,
    capabilities: implementation.capabilities,
    ...(implementation.publicRoutes ? { publicRoutes: implementation.publicRoutes } : {}),
  };
  const oneSecretChangeAtATime = perClientQueue();
  for (const operation of driverOperations) {
    const own = implementation[operation] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    const usable = own && !(grants === false && (operation === 'grantApiAccess' || operation === 'revokeApiAccess'));
    if (usable && secretChanges.has(operation)) {
      const call = own.bind(implementation);
      const refused = operation === 'rotateSecret' ? retryableRotationRefusal : rethrow;
      complete[operation] = (clientId: string, ...rest: unknown[]) =>
        oneSecretChangeAtATime(clientId, () => call(clientId, ...rest)).catch(refused);
    } else if (usable) complete[operation] = own.bind(implementation);
    else if (operation in defaults) complete[operation] = defaults[operation as keyof typeof defaults];
  }
  return complete as unknown as DcrDriver;
}

/**
 * The operations that change a client's secrets run one at a time per client within the process: concurrent
 * rotations would otherwise race at the IdP (Okta refused 16 of 20 as "too many secrets"; on one-secret IdPs the
 * caller answered last could hold a secret an overlapping rotation had already replaced). Serialised, the answer
 * given last holds the secret that works.
 */
const secretChanges: ReadonlySet<DriverOperation> = new Set(['rotateSecret', 'addSecret', 'revokeSecret']);

function rethrow(error: unknown): never {
  throw error;
}

/**
 * A rotation carries no metadata, so an IdP's "invalid metadata" refusal of one is not the caller's to fix — it is a
 * secret limit another rotation holds (Okta's "maximum number of client secrets", from another replica): retryable,
 * never a `400 invalid_client_metadata` telling the portal not to retry.
 */
function retryableRotationRefusal(error: unknown): never {
  if (error instanceof InvalidClientMetadataError) {
    throw new IdpUnavailableError(
      'The identity provider refused a new secret while another change to this client was under way; retry.',
      { cause: error, retryAfterSeconds: 1 },
    );
  }
  throw error;
}

function perClientQueue(): <T>(clientId: string, call: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<void>>();
  return (clientId, call) => {
    const result = (tails.get(clientId) ?? Promise.resolve()).then(call);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(clientId, tail);
    void tail.then(() => {
      if (tails.get(clientId) === tail) tails.delete(clientId);
    });
    return result;
  };
}

/**
 * The driver the bridge uses: `completeDriver` of the implementation, with `observers` around every operation, the
 * first observer outermost. The one place a driver is wrapped.
 */
export function wrapDriver(implementation: DriverImplementation, observers: readonly DriverObserver[]): DcrDriver {
  const complete = completeDriver(implementation);
  if (observers.length === 0) return complete;
  const wrapped: Record<string, unknown> = { ...complete };
  for (const operation of driverOperations) {
    const call = complete[operation] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (call === undefined) continue;
    const arounds = observers.map((observer) => observer.observe(complete, operation));
    wrapped[operation] = (...args: unknown[]): Promise<unknown> => {
      const step = (index: number): Promise<unknown> =>
        index === arounds.length ? call(...args) : arounds[index]!(() => step(index + 1));
      return step(0);
    };
  }
  return wrapped as unknown as DcrDriver;
}
