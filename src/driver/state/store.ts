/**
 * The state store: what an IdP cannot hold itself, today the `rfc7591` driver's registration access tokens and
 * `registration_client_uri`s (RFC 7592). One small interface, two stores behind it: SQLite (`better-sqlite3`), a file in
 * the data directory by default, and PostgreSQL (`pg`) for several replicas. `DCR_STATE_URL` picks one (`sqlite:/path`,
 * `postgres://…`). Both load lazily, so a bridge that runs another driver never loads either.
 *
 * The rules it keeps: a write is durable when its promise resolves (the bridge answers after it); a client's record is
 * changed under that client's lock (`withRegistration`), held across the IdP call that rotates its token, so two
 * requests (or two replicas on one PostgreSQL) never both spend the same token; a store that cannot be opened or read is
 * an error at the start, never an empty store. Ownership is presence: a client the store does not hold is not the
 * bridge's. The tokens are secrets: no message of this module carries one.
 *
 *   const store = await openStateStore({ url: env.DCR_STATE_URL, dataDir: './data' });
 *   await store.insert(namespace, { clientId, registrationClientUri, registrationAccessToken, data });
 *   await store.withRegistration(namespace, clientId, async (session) => { ...; await session.replace(next); });
 */
import { StateStoreOpenError, type StateStore } from './types.js';

export interface StateStoreOptions {
  /** `DCR_STATE_URL`: `sqlite:/path/to/file`, `sqlite::memory:` (tests), `postgres://…`; default SQLite in `dataDir`. */
  url?: string;
  /** The data directory (`DCR_DATA_DIR`, formerly `DCR_LOCAL_DATA_DIR`), for the default SQLite file. */
  dataDir: string;
}

/** The file the SQLite store uses in the data directory when `DCR_STATE_URL` is not set. */
export const defaultStateFile = 'state.sqlite';

/** Opens (and migrates) the store `options.url` names; a store it cannot open is `StateStoreOpenError`. */
export async function openStateStore(options: StateStoreOptions): Promise<StateStore> {
  const url = options.url ?? `sqlite:${options.dataDir.replace(/\/+$/, '')}/${defaultStateFile}`;
  if (url.startsWith('sqlite:')) {
    const { openSqliteStore } = await import('./sqlite.js');
    return openSqliteStore(url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, ''));
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { openPostgresStore } = await import('./postgres.js');
    return openPostgresStore(url);
  }
  throw new StateStoreOpenError('(DCR_STATE_URL)', 'it must start with sqlite: or postgres://');
}
