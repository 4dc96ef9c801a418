/**
 * The driver kit: what a driver module imports, name by name. Beside it a driver uses plain src/ helpers only
 * (src/env.ts, src/errors.ts, src/records.ts, src/metadata.ts, src/discovery.ts). Not here: the build's SDK internals
 * (call/sdk.ts), the defaults of the optional methods and the observers (src/core/driver.ts), the composition root
 * (src/drivers.ts).
 */

// The contract (contract.ts): what a driver module writes.
export type {
  AddedClientSecret,
  ClientMetadata,
  ClientSecretInfo,
  DriverFactory,
  DriverImplementation,
  RegisteredClient,
} from './contract.js';

// The IdP call (call/): timeouts, retries, the one failure classifier, the pooled HTTP client, tokens, SDK hooks.
export { createAdminCall, type AdminCallSettings } from './call/admin-call.js';
export { AttemptScope } from './call/attempt-scope.js';
export type { CallSafety } from './call/caller.js';
export { carryFailure, statusFailure, upstreamStatusOf, usableAnswer, type UpstreamFailure } from './call/failure.js';
export type { IdpHttpClient } from './call/http.js';
export { pages } from './call/pages.js';
export { loadSdk } from './call/sdk.js';
export { clientCredentialsGrant } from './call/token.js';

// Recovery (recovery.ts): may the IdP have acted, and what a driver does about it.
export {
  answerUnread,
  chosenClientId,
  cleanUpIfApplied,
  createOrAdopt,
  findByRegistration,
  foundOrUndefined,
  goneIsDone,
  regeneratedSecret,
  rereadIfUnusable,
  undoOnFailure,
} from './recovery.js';

// Ownership (ownership.ts, members.ts): the one client-id rule, the mark, the gate, the clients handed back.
export {
  checkClientId,
  deleteOwned,
  flatMark,
  openRegistrations,
  ownedClientSummary,
  pageOfOwnedClients,
  registeredClient,
  requireOwned,
} from './ownership.js';
export { members } from './members.js';

// Rotation (rotation/): grace, sweep, two slots, and which clients have a secret to rotate.
export { checkHasSecret, usesClientSecret, type SecretSlots } from './rotation/grace.js';
export { graceRotation } from './rotation/sweep.js';
export { currentAndRotatedSecrets } from './rotation/two-slots.js';

// Multiple credentials (credentials.ts): the limit and last-secret refusals, the add that leaves no orphan, secret ids.
export {
  addOneSecret,
  derivedSecretId,
  epochSecondsOf,
  graceEnds,
  lastSecretRefused,
  revokeListedSecret,
  secretLimitReached,
} from './credentials.js';

// The state store (state/): what an IdP cannot hold itself (the rfc7591 driver's registration access tokens).
export { openStateStore } from './state/store.js';
export {
  StateStoreUnavailableError,
  type RegistrationSession,
  type StateStore,
  type StoredRegistration,
} from './state/types.js';
