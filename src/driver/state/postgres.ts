/**
 * The PostgreSQL state store (`pg`), for several replicas on one database. A client's lock is a session advisory lock
 * (`pg_advisory_lock`) on a pooled connection held for the whole operation, the IdP call included, so two replicas
 * never spend the same registration access token; each write commits on its own, so a rotated token is durable the
 * moment it is known. A replica that dies releases its locks with its connection. Loaded only by `openStateStore`.
 */
import { createRequire } from 'node:module';
import type * as Pg from 'pg';
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
     data JSONB NOT NULL,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     PRIMARY KEY (namespace, client_id)
   )`,
];

/** The key every replica's migration takes, so two replicas starting together migrate once. */
const migrationLock = 7591_0001;

interface Row {
  client_id: string;
  registration_client_uri: string;
  registration_access_token: string;
  data: Record<string, unknown>;
}

const columns = 'client_id, registration_client_uri, registration_access_token, data';

export async function openPostgresStore(url: string): Promise<StateStore> {
  const parsed = new URL(url);
  const location = `postgres://${parsed.host}${parsed.pathname}`;
  const { Pool } = createRequire(import.meta.url)('pg') as typeof Pg;
  const pool = new Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5_000 });
  // An idle connection that breaks is dropped by the pool; without a listener its error would end the process.
  pool.on('error', () => undefined);
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new StateStoreOpenError(location, reasonOf(error), { cause: error });
  }
  const locks = new KeyedLocks();
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw new StateStoreUnavailableError({ cause: error });
    }
  };
  const upsert = (db: Pg.Pool | Pg.PoolClient, namespace: string, registration: StoredRegistration) =>
    guarded(() =>
      db.query(
        `INSERT INTO ${registrationsTable} (namespace, client_id, registration_client_uri, registration_access_token, data)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (namespace, client_id) DO UPDATE SET registration_client_uri = excluded.registration_client_uri,
           registration_access_token = excluded.registration_access_token, data = excluded.data, updated_at = now()`,
        [
          namespace,
          registration.clientId,
          registration.registrationClientUri,
          registration.registrationAccessToken,
          JSON.stringify(registration.data),
        ],
      ),
    );

  return {
    kind: 'postgres',
    location,
    insert: async (namespace, registration) => void (await upsert(pool, namespace, registration)),
    withRegistration: (namespace, clientId, work) =>
      locks.run(`${namespace}\n${clientId}`, async () => {
        const connection = await guarded(() => pool.connect());
        const key = `${namespace}\n${clientId}`;
        let broken: unknown;
        try {
          await guarded(() => connection.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]));
          try {
            const { rows } = await guarded(() =>
              connection.query<Row>(
                `SELECT ${columns} FROM ${registrationsTable} WHERE namespace = $1 AND client_id = $2`,
                [namespace, clientId],
              ),
            );
            const session: RegistrationSession = {
              current: rows[0] && fromRow(rows[0]),
              replace: async (next) => void (await upsert(connection, namespace, next)),
              remove: async () =>
                void (await guarded(() =>
                  connection.query(`DELETE FROM ${registrationsTable} WHERE namespace = $1 AND client_id = $2`, [
                    namespace,
                    clientId,
                  ]),
                )),
            };
            return await work(session);
          } finally {
            await connection
              .query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key])
              .catch((error: unknown) => {
                broken = error;
              });
          }
        } catch (error) {
          broken ??= error instanceof StateStoreUnavailableError ? error : undefined;
          throw error;
        } finally {
          // A connection whose unlock failed may still hold the lock: destroy it rather than hand it on.
          connection.release(broken instanceof Error ? broken : undefined);
        }
      }),
    list: async (namespace, limit, offset = 0) =>
      (
        await guarded(() =>
          pool.query<Row>(
            `SELECT ${columns} FROM ${registrationsTable} WHERE namespace = $1 ORDER BY created_at, client_id LIMIT $2 OFFSET $3`,
            [namespace, limit, offset],
          ),
        )
      ).rows.map(fromRow),
    check: async () => void (await guarded(() => pool.query('SELECT 1'))),
    close: () => pool.end(),
  };
}

async function migrate(pool: Pg.Pool): Promise<void> {
  const connection = await pool.connect();
  try {
    await connection.query('BEGIN');
    await connection.query('SELECT pg_advisory_xact_lock($1)', [migrationLock]);
    await connection.query(`CREATE TABLE IF NOT EXISTS ${schemaTable} (version INTEGER NOT NULL)`);
    const { rows } = await connection.query<{ version: number }>(`SELECT version FROM ${schemaTable}`);
    const version = rows[0]?.version ?? 0;
    if (version > migrations.length)
      throw new Error(`its schema is version ${version}, newer than this bridge knows (${migrations.length})`);
    for (const sql of migrations.slice(version)) await connection.query(sql);
    if (rows.length === 0)
      await connection.query(`INSERT INTO ${schemaTable} (version) VALUES ($1)`, [migrations.length]);
    else await connection.query(`UPDATE ${schemaTable} SET version = $1`, [migrations.length]);
    await connection.query('COMMIT');
  } catch (error) {
    await connection.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    connection.release();
  }
}

function fromRow(row: Row): StoredRegistration {
  return {
    clientId: row.client_id,
    registrationClientUri: row.registration_client_uri,
    registrationAccessToken: row.registration_access_token,
    data: row.data,
  };
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}
