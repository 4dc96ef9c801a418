/**
 * A real Keycloak on 127.0.0.1 for `npm run test:keycloak`: the pinned server distribution is fetched through Maven
 * into `.cache/keycloak/` (git-ignored; a second run downloads nothing), unpacked there, and started with
 * `kc.sh start-dev` on free loopback ports with a bootstrap admin passed in its environment. Readiness is the
 * management port's `/health/ready`. Realms are then set up through the admin REST API (`provisionRealm`), as an
 * operator would set one up for the bridge: a confidential service-account client holding only
 * `realm-management/manage-clients`, optionally the `secret-rotation` client policy, and clients the bridge did not
 * create. The server is stopped by its PID (its own process group) when the run ends, also on failure or a signal.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from '../support/free-port.js';

/** The server version the suite runs against; keep it at the 26.x of `@keycloak/keycloak-admin-client`. */
export const KEYCLOAK_VERSION = '26.7.3';
const ARTIFACT = `org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:tar.gz`;
const root = fileURLToPath(new URL('../..', import.meta.url));
/** Where the distribution is kept between runs (a CI cache can keep this folder); `KEYCLOAK_TEST_CACHE_DIR` moves it. */
export const cacheDir = process.env.KEYCLOAK_TEST_CACHE_DIR
  ? resolve(process.env.KEYCLOAK_TEST_CACHE_DIR)
  : join(root, '.cache', 'keycloak');
const archive = join(cacheDir, `keycloak-quarkus-dist-${KEYCLOAK_VERSION}.tar.gz`);
const home = join(cacheDir, `keycloak-${KEYCLOAK_VERSION}`);
const unpackedMarker = join(home, '.unpacked');
/**
 * The dev database right after Keycloak created it (schema and master realm, nothing else), kept from the first run:
 * creating the schema is most of a first start. With it, the bootstrap admin it was made with (owner-only file).
 */
const databaseTemplate = join(cacheDir, `database-${KEYCLOAK_VERSION}`);
const templateAdmin = join(databaseTemplate, 'bootstrap-admin.json');

/** Something the run needs is missing: the one line that says which. */
export class PrerequisiteError extends Error {}

export interface Distribution {
  home: string;
  /** Seconds the Maven download took, when this run downloaded; undefined when the cache already had it. */
  downloadSeconds?: number;
  archiveBytes: number;
}

function commandWorks(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore', env });
  return result.status === 0;
}

/** The java the server will run on: `JAVA_HOME/bin/java` if set, else `java` on PATH (kc.sh makes the same choice). */
export function checkJava(): string {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const version = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (version.status !== 0) {
    throw new PrerequisiteError(
      `Java not found: ${java} -version failed (Keycloak ${KEYCLOAK_VERSION} needs a JDK 17, 21 or 25 on PATH or in JAVA_HOME)`,
    );
  }
  return /version "([^"]+)"/.exec(version.stderr)?.[1] ?? 'unknown';
}

/** The unpacked distribution, downloaded through Maven first when the cache does not have it. */
export function ensureDistribution(): Distribution {
  mkdirSync(cacheDir, { recursive: true });
  let downloadSeconds: number | undefined;
  if (!existsSync(archive)) {
    if (!commandWorks('mvn', ['-v'])) {
      throw new PrerequisiteError(
        `Maven not found: mvn -v failed (needed once to download ${ARTIFACT} into ${cacheDir})`,
      );
    }
    const started = Date.now();
    const args = ['-q', '-B', 'dependency:copy', `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${cacheDir}`];
    const result = spawnSync('mvn', args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    if (result.status !== 0 || !existsSync(archive)) {
      const lastLine =
        `${result.stdout}\n${result.stderr}`
          .split('\n')
          .map((line) => line.trim())
          .filter(Boolean)
          .at(-1) ?? 'no output';
      throw new PrerequisiteError(
        `Keycloak distribution not obtained: mvn ${args.join(' ')} exited ${result.status}: ${lastLine}`,
      );
    }
    downloadSeconds = (Date.now() - started) / 1000;
  }
  if (!existsSync(unpackedMarker)) {
    rmSync(home, { recursive: true, force: true });
    const result = spawnSync('tar', ['-xzf', archive, '-C', cacheDir], { encoding: 'utf8' });
    if (result.status !== 0 || !existsSync(join(home, 'bin', 'kc.sh'))) {
      throw new PrerequisiteError(
        `Keycloak distribution not usable: tar -xzf ${archive} failed: ${result.stderr.trim() || 'no bin/kc.sh'}`,
      );
    }
    writeFileSync(unpackedMarker, `${KEYCLOAK_VERSION}\n`);
  }
  return { home, downloadSeconds, archiveBytes: statSync(archive).size };
}

export interface KeycloakServer {
  /** e.g. `http://127.0.0.1:PORT` (no `/admin`): what `KEYCLOAK_URL` is set to. */
  url: string;
  managementUrl: string;
  pid: number;
  admin: { username: string; password: string };
  /** Seconds from spawning kc.sh to `/health/ready` answering 200. */
  startToReadySeconds: number;
  /** Whether this start created the database (the first run) rather than starting from the kept one. */
  createdDatabase: boolean;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** How long to wait for readiness; generous, since the machine may be shared. Default 240 s, 480 s on a first run. */
  readinessTimeoutMs?: number;
}

/** Starts `kc.sh start-dev` on free loopback ports and waits until the management port says it is ready. */
export async function startKeycloakServer(
  distribution: Distribution,
  options: StartOptions = {},
): Promise<KeycloakServer> {
  const [httpPort, managementPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  // Every run starts from a database with nothing but the master realm: the kept one, or a new one the first time.
  const dataDir = join(distribution.home, 'data');
  rmSync(dataDir, { recursive: true, force: true });
  const createdDatabase = !existsSync(templateAdmin);
  const admin: { username: string; password: string } = createdDatabase
    ? { username: 'bootstrap-admin', password: randomBytes(18).toString('base64url') }
    : JSON.parse(readFileSync(templateAdmin, 'utf8'));
  if (!createdDatabase) cpSync(join(databaseTemplate, 'h2'), join(dataDir, 'h2'), { recursive: true });
  const logFile = join(cacheDir, 'server.log');
  const log = createWriteStream(logFile);
  const started = Date.now();
  const child = spawn(
    join(distribution.home, 'bin', 'kc.sh'),
    [
      'start-dev',
      '--http-host=127.0.0.1',
      `--http-port=${httpPort}`,
      `--http-management-port=${managementPort}`,
      '--health-enabled=true',
      '--cache=local',
      // The secret-rotation client-policy executor is a preview feature, off unless the server enables it.
      '--features=client-secret-rotation',
    ],
    {
      cwd: distribution.home,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KC_BOOTSTRAP_ADMIN_USERNAME: admin.username, KC_BOOTSTRAP_ADMIN_PASSWORD: admin.password },
    },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const pid = child.pid!;
  const stopServer = stopper(child, pid);
  // After the first run's server stopped cleanly, its database (realms of the tests removed) becomes the template.
  const stop = async () => {
    const exited = await stopServer();
    if (!createdDatabase || (exited !== 0 && exited !== 143) || !ready) return;
    rmSync(databaseTemplate, { recursive: true, force: true });
    cpSync(join(dataDir, 'h2'), join(databaseTemplate, 'h2'), { recursive: true });
    writeFileSync(templateAdmin, JSON.stringify(admin), { mode: 0o600 });
  };
  let ready = false;
  const url = `http://127.0.0.1:${httpPort}`;
  const managementUrl = `http://127.0.0.1:${managementPort}`;
  try {
    // The first start also builds the server and creates the database: twice the time on a busy machine.
    const defaultSeconds = createdDatabase ? 480 : 240;
    const timeoutMs =
      options.readinessTimeoutMs ?? Number(process.env.KEYCLOAK_TEST_READY_TIMEOUT_SECONDS ?? defaultSeconds) * 1000;
    await waitUntilReady(child, `${managementUrl}/health/ready`, timeoutMs, logFile);
  } catch (error) {
    await stop();
    throw error;
  }
  const startToReadySeconds = (Date.now() - started) / 1000;
  // Realms an earlier, interrupted run left behind go, so the template stays the master realm alone.
  const session = new AdminSession(url, admin);
  for (const { realm } of await session.get<Array<{ realm: string }>>('/realms')) {
    if (realm !== 'master') await session.call('DELETE', `/realms/${encodeURIComponent(realm)}`);
  }
  ready = true;
  return { url, managementUrl, pid, admin, startToReadySeconds, createdDatabase, logFile, stop };
}

/**
 * Stops the server's process group (kc.sh forwards TERM to java); KILL after 30 s. Also on this process's exit.
 * Resolves with kc.sh's exit code (143 after a TERM it handled; `null` when killed).
 */
function stopper(child: ChildProcess, pid: number): () => Promise<number | null> {
  let exited = child.exitCode !== null || child.signalCode !== null;
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exited = true;
      resolve(code);
    }),
  );
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  const onExit = () => {
    if (!exited) killGroup('SIGKILL');
  };
  process.once('exit', onExit);
  return async () => {
    process.removeListener('exit', onExit);
    if (exited) return child.exitCode;
    killGroup('SIGTERM');
    const timer = setTimeout(() => killGroup('SIGKILL'), 30_000);
    const code = await exit;
    clearTimeout(timer);
    return code;
  };
}

async function waitUntilReady(
  child: ChildProcess,
  readyUrl: string,
  timeoutMs: number,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `Keycloak exited (${child.exitCode ?? child.signalCode}) before it was ready; its log: ${logFile}\n${tail(logFile)}`,
      );
    }
    try {
      const response = await fetch(readyUrl, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(
    `Keycloak was not ready within ${timeoutMs / 1000} s (${readyUrl}); its log: ${logFile}\n${tail(logFile)}`,
  );
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The admin REST API, as an operator sets a realm up for the bridge.

type Json = Record<string, unknown>;

export class AdminSession {
  private token: { value: string; expiresAt: number } | undefined;
  constructor(
    readonly url: string,
    private readonly admin: { username: string; password: string },
  ) {}

  /** The bootstrap admin's token from the master realm (password grant at `admin-cli`), refreshed before it expires. */
  async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now() + 10_000) return this.token.value;
    const response = await fetch(`${this.url}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'admin-cli',
        username: this.admin.username,
        password: this.admin.password,
      }),
    });
    if (response.status !== 200) throw new Error(`the bootstrap admin's token was refused: ${response.status}`);
    const body = (await response.json()) as { access_token: string; expires_in: number };
    this.token = { value: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
    return body.access_token;
  }

  /** One admin call; a status other than `expect` throws with Keycloak's answer (no secrets are in these bodies). */
  async call(
    method: string,
    path: string,
    body?: unknown,
    expect: number[] = [200, 201, 204],
  ): Promise<{ status: number; headers: Headers; body: unknown }> {
    const response = await fetch(`${this.url}/admin${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.accessToken()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed = text === '' ? undefined : safeJson(text);
    if (!expect.includes(response.status))
      throw new Error(`${method} /admin${path} answered ${response.status}: ${text.slice(0, 300)}`);
    return { status: response.status, headers: response.headers, body: parsed };
  }

  async get<T = Json>(path: string): Promise<T> {
    return (await this.call('GET', path)).body as T;
  }

  /** Creates a client and returns its uuid (from the `Location` header). */
  async createClient(realm: string, representation: Json): Promise<string> {
    const created = await this.call('POST', `/realms/${realm}/clients`, representation, [201]);
    return created.headers.get('location')!.split('/').at(-1)!;
  }

  async clientByClientId(
    realm: string,
    clientId: string,
  ): Promise<(Json & { id: string; attributes?: Record<string, string> }) | undefined> {
    const found = await this.get<Array<Json & { id: string; clientId: string }>>(
      `/realms/${realm}/clients?clientId=${encodeURIComponent(clientId)}`,
    );
    return found.find((client) => client.clientId === clientId);
  }

  async clientSecret(realm: string, uuid: string): Promise<string> {
    return (await this.get<{ value: string }>(`/realms/${realm}/clients/${uuid}/client-secret`)).value;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export interface RealmOptions {
  realm: string;
  /** Adds a client policy (any client) whose profile has the `secret-rotation` executor. */
  secretRotation?: {
    /** `expiration-period`: how long a secret lives, in seconds. */
    expirationSeconds: number;
    /** `rotated-expiration-period`: how long the previous secret stays valid after a rotation. */
    rotatedExpirationSeconds: number;
    /** `remaining-rotation-period`: an update inside this window before expiry rotates the secret. */
    remainingRotationSeconds: number;
  };
  /** clientIds of confidential service-account clients an admin made, not the bridge. */
  foreignClients?: string[];
}

export interface ProvisionedRealm {
  realm: string;
  /** The bridge's service account: `KEYCLOAK_CLIENT_ID`, `KEYCLOAK_CLIENT_SECRET`. */
  serviceAccount: { clientId: string; clientSecret: string; uuid: string };
  foreignClients: Array<{ clientId: string; clientSecret: string; uuid: string }>;
  /** The variables the bridge runs with against this realm. */
  driverEnv: Record<string, string>;
}

export const SERVICE_ACCOUNT_CLIENT_ID = 'dcr-bridge';

/**
 * A realm set up for the bridge the way the README's "What the realm needs" says: the service-account client with
 * only the `manage-clients` role of `realm-management`, and optionally the `secret-rotation` policy.
 */
export async function provisionRealm(session: AdminSession, options: RealmOptions): Promise<ProvisionedRealm> {
  const { realm } = options;
  await session.call('POST', '/realms', { realm, enabled: true }, [201]);
  const base = `/realms/${realm}`;
  // 1. The bridge's confidential client: client authentication and service-account roles on, every other flow off.
  const uuid = await session.createClient(realm, {
    clientId: SERVICE_ACCOUNT_CLIENT_ID,
    name: 'dcr-bridge service account',
    protocol: 'openid-connect',
    publicClient: false,
    clientAuthenticatorType: 'client-secret',
    serviceAccountsEnabled: true,
    standardFlowEnabled: false,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
  });
  // 2. Its service-account user gets realm-management's manage-clients, and nothing else: the realm's default
  // roles, which every new user has, are taken away again.
  const user = await session.get<{ id: string }>(`${base}/clients/${uuid}/service-account-user`);
  const realmManagement = (await session.clientByClientId(realm, 'realm-management'))!;
  const manageClients = await session.get<Json>(`${base}/clients/${realmManagement.id}/roles/manage-clients`);
  await session.call('POST', `${base}/users/${user.id}/role-mappings/clients/${realmManagement.id}`, [manageClients]);
  const realmRoles = await session.get<Json[]>(`${base}/users/${user.id}/role-mappings/realm`);
  if (realmRoles.length > 0) await session.call('DELETE', `${base}/users/${user.id}/role-mappings/realm`, realmRoles);
  const granted = await session.get<{
    realmMappings?: unknown[];
    clientMappings?: Record<string, { mappings: Array<{ name: string }> }>;
  }>(`${base}/users/${user.id}/role-mappings`);
  const grantedNames = Object.entries(granted.clientMappings ?? {}).flatMap(([client, { mappings }]) =>
    mappings.map((role) => `${client}/${role.name}`),
  );
  if ((granted.realmMappings?.length ?? 0) > 0 || grantedNames.join() !== 'realm-management/manage-clients') {
    throw new Error(`the service account holds more than manage-clients: ${JSON.stringify(granted)}`);
  }
  // 3. The secret-rotation policy: a profile with the executor, and a policy applying it to every client.
  if (options.secretRotation) {
    const { expirationSeconds, rotatedExpirationSeconds, remainingRotationSeconds } = options.secretRotation;
    await session.call('PUT', `${base}/client-policies/profiles`, {
      profiles: [
        {
          name: 'dcr-secret-rotation',
          description: 'keeps the previous client secret valid after a rotation',
          executors: [
            {
              executor: 'secret-rotation',
              configuration: {
                'expiration-period': String(expirationSeconds),
                'rotated-expiration-period': String(rotatedExpirationSeconds),
                'remaining-rotation-period': String(remainingRotationSeconds),
              },
            },
          ],
        },
      ],
    });
    await session.call('PUT', `${base}/client-policies/policies`, {
      policies: [
        {
          name: 'dcr-secret-rotation',
          description: 'every confidential client',
          enabled: true,
          conditions: [{ condition: 'client-access-type', configuration: { type: ['confidential'] } }],
          profiles: ['dcr-secret-rotation'],
        },
      ],
    });
  }
  // The service account was created before the policy, so its own secret is not subject to the policy's expiry.
  const serviceAccount = {
    clientId: SERVICE_ACCOUNT_CLIENT_ID,
    clientSecret: await session.clientSecret(realm, uuid),
    uuid,
  };
  // 4. Clients an admin made, which the bridge must never touch.
  const foreignClients = [];
  for (const clientId of options.foreignClients ?? []) {
    const foreignUuid = await session.createClient(realm, {
      clientId,
      name: `${clientId} (made by an admin)`,
      publicClient: false,
      serviceAccountsEnabled: true,
      standardFlowEnabled: false,
    });
    foreignClients.push({ clientId, clientSecret: await session.clientSecret(realm, foreignUuid), uuid: foreignUuid });
  }
  return {
    realm,
    serviceAccount,
    foreignClients,
    driverEnv: {
      KEYCLOAK_URL: session.url,
      KEYCLOAK_REALM: realm,
      KEYCLOAK_CLIENT_ID: serviceAccount.clientId,
      KEYCLOAK_CLIENT_SECRET: serviceAccount.clientSecret,
    },
  };
}

/** Environment variables the runner hands to each test file: where the server is and its bootstrap admin. */
export const SERVER_ENV = {
  url: 'KEYCLOAK_TEST_URL',
  username: 'KEYCLOAK_TEST_ADMIN_USERNAME',
  password: 'KEYCLOAK_TEST_ADMIN_PASSWORD',
} as const;

/** In a test file: the admin session of the server the runner started. */
export function adminSessionFromEnv(): AdminSession {
  const url = process.env[SERVER_ENV.url];
  const username = process.env[SERVER_ENV.username];
  const password = process.env[SERVER_ENV.password];
  if (!url || !username || !password)
    throw new Error(`${SERVER_ENV.url} is not set: run this file through npm run test:keycloak`);
  return new AdminSession(url, { username, password });
}

/** A realm name no other test file uses. */
export function uniqueRealm(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
