/**
 * The SQLite state store (`better-sqlite3`), one file, for one bridge process: WAL journal with `synchronous = FULL`, so
 * a commit is on disk before its statement returns; per-client locks in the process. Loaded only by `openStateStore`.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import {
  KeyedLocks,
  registrationsTable,
  schemaTable,
  StateStoreOpenError,
  StateStoreUnavailableError,
  type RegistrationSession,
  type StateStore,
  type StoredRegistration,
} from './types.js';

/** Migration n brings the schema from version n to n + 1; a released migration is never edited, only followed. */
const migrations = [
  `CREATE TABLE ${registrationsTable} (
     namespace TEXT NOT NULL,
     client_id TEXT NOT NULL,
     registration_client_uri TEXT NOT NULL,
     registration_access_token TEXT NOT NULL,
     data TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (namespace, client_id)
   )`,
];

interface Row {
  client_id: string;
  registration_client_uri: string;
  registration_access_token: string;
  data: string;
}

export function openSqliteStore(path: string): StateStore {
  const location = `sqlite:${path}`;
  let db: BetterSqlite3.Database;
  try {
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { timeout: 5_000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    migrate(db);
  } catch (error) {
    throw new StateStoreOpenError(location, reasonOf(error), { cause: error });
  }
  const statements = {
    upsert: db.prepare(
      `INSERT INTO ${registrationsTable} (namespace, client_id, registration_client_uri, registration_access_token, data, created_at, updated_at)
       VALUES (@namespace, @clientId, @uri, @token, @data, @now, @now)
       ON CONFLICT (namespace, client_id) DO UPDATE SET registration_client_uri = excluded.registration_client_uri,
         registration_access_token = excluded.registration_access_token, data = excluded.data, updated_at = excluded.updated_at`,
    ),
    read: db.prepare(
      `SELECT client_id, registration_client_uri, registration_access_token, data FROM ${registrationsTable} WHERE namespace = ? AND client_id = ?`,
    ),
    remove: db.prepare(`DELETE FROM ${registrationsTable} WHERE namespace = ? AND client_id = ?`),
    list: db.prepare(
      `SELECT client_id, registration_client_uri, registration_access_token, data FROM ${registrationsTable} WHERE namespace = ? ORDER BY created_at, client_id LIMIT ? OFFSET ?`,
    ),
  };
  const locks = new KeyedLocks();
  const guarded = <T>(work: () => T): T => {
    try {
      return work();
    } catch (error) {
      throw new StateStoreUnavailableError({ cause: error });
    }
  };
  const write = (namespace: string, registration: StoredRegistration) =>
    guarded(() =>
      statements.upsert.run({
        namespace,
        clientId: registration.clientId,
        uri: registration.registrationClientUri,
        token: registration.registrationAccessToken,
        data: JSON.stringify(registration.data),
        now: Date.now(),
      }),
    );

  return {
    kind: 'sqlite',
    location,
    async insert(namespace, registration) {
      write(namespace, registration);
    },
    withRegistration: (namespace, clientId, work) =>
      locks.run(`${namespace}\n${clientId}`, async () => {
        const row = guarded(() => statements.read.get(namespace, clientId) as Row | undefined);
        const session: RegistrationSession = {
          current: row && fromRow(row),
          replace: async (next) => void write(namespace, next),
          remove: async () => void guarded(() => statements.remove.run(namespace, clientId)),
        };
        return work(session);
      }),
    list: async (namespace, limit, offset = 0) =>
      guarded(() => (statements.list.all(namespace, limit, offset) as Row[]).map(fromRow)),
    check: async () => void guarded(() => db.prepare('SELECT 1').get()),
    close: async () => {
      if (db.open) db.close();
    },
  };
}

function migrate(db: BetterSqlite3.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS ${schemaTable} (version INTEGER NOT NULL)`);
  db.transaction(() => {
    const row = db.prepare(`SELECT version FROM ${schemaTable}`).get() as { version: number } | undefined;
    const version = row?.version ?? 0;
    if (version > migrations.length)
      throw new Error(`its schema is version ${version}, newer than this bridge knows (${migrations.length})`);
    for (const sql of migrations.slice(version)) db.exec(sql);
    if (!row) db.prepare(`INSERT INTO ${schemaTable} (version) VALUES (?)`).run(migrations.length);
    else db.prepare(`UPDATE ${schemaTable} SET version = ?`).run(migrations.length);
  }).immediate();
}

function fromRow(row: Row): StoredRegistration {
  return {
    clientId: row.client_id,
    registrationClientUri: row.registration_client_uri,
    registrationAccessToken: row.registration_access_token,
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}
