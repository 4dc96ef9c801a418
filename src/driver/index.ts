/**
 * The driver kit: what a driver module imports. The contract, the admin-call wrapper and the "may the IdP have acted?"
 * decision, the pooled IdP HTTP client, the ownership mark and gate, the client-credentials token fetcher, rotation
 * with a grace and the bundled vendor SDKs. Not here: the defaults of the optional methods (src/core/driver.ts) and the
 * composition root (src/drivers.ts).
 */
export * from './contract.js';
export * from './admin-call.js';
export * from './http.js';
export * from './ownership.js';
export * from './rotation.js';
export * from './token.js';
export * from './standard.js';
export * from './recovery.js';
export * from './members.js';
export * from './sweep-listing.js';
export * from './two-slots.js';
export * from './registered.js';
export * from './attempt-scope.js';
export * from './answers.js';
export * from './listing.js';
export * from './settle.js';
export * from './credentials.js';
export * from './sdk.js';
