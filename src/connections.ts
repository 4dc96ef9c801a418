/**
 * `DCR_CONFIG_FILE`: several connections behind one bridge, each one driver with its own settings, portal keys and
 * base path (DESIGN.md "Connections"). The file is YAML (JSON is YAML too); `${VAR}` in any value is read from the
 * environment through src/env.ts, so `VAR_FILE` works and no secret needs to sit in the file. Every problem stops the
 * start with one line naming the connection and the setting.
 *
 * Each connection's bridge settings are the process's (the environment) with the connection's keys, driver and
 * per-connection `DCR_*` settings laid over; its driver reads the connection's `settings` alone, never the process
 * environment, so two connections of one driver kind cannot leak into each other.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, type BridgeConfig } from './config.js';
import { driverAliases, driverNames, type DriverName } from './drivers.js';
import { ConfigurationError, envValue, fileErrorReason, type Env } from './env.js';
import { bridgePathSegments } from './http/paths.js';

export interface Connection {
  /** `[a-z0-9-]{1,32}`: in URLs, metric labels, log lines, audit events and traces. */
  name: string;
  driverName: DriverName;
  /** `/` or `/segment[/segment…]`, without a trailing slash. */
  path: string;
  /** `required` (default): `/readyz` fails when this connection's IdP cannot be reached; `reported`: it only says so. */
  readiness: 'required' | 'reported';
  /** The bridge settings of this connection: its keys, its driver, its public URL (`DCR_PUBLIC_URL` + path). */
  config: BridgeConfig;
  /** What the driver's factory reads instead of the process environment: the connection's `settings`, expanded. */
  driverEnv: Env;
}

export const configFileVariable = 'DCR_CONFIG_FILE';

const connectionName = /^[a-z0-9-]{1,32}$/;
const connectionPath = /^(\/[a-z0-9-]{1,64})+$/;
const connectionFields = new Set(['name', 'driver', 'path', 'api_keys', 'settings', 'readiness']);

/** Bridge settings a connection may set for itself; the rest of the bridge's own variables are the process's. */
const perConnectionSettings = new Set([
  'DCR_ROTATION_GRACE_SECONDS',
  'DCR_IDP_TIMEOUT_MS',
  'DCR_IDP_RETRY_BUDGET_MS',
  'DCR_IDP_MAX_CONNECTIONS',
  'DCR_BODY_LIMIT',
  'DCR_RATE_LIMIT_PER_MINUTE',
  'DCR_AUTH_FAILURE_LIMIT_PER_MINUTE',
  'DCR_SWEEP_INTERVAL_SECONDS',
  'DCR_SWEEP_MAX_IDP_CALLS',
  'DCR_REGISTRATION_TOKEN_ROTATION',
  'DCR_DISCOVERY_TTL_SECONDS',
  'DCR_OPEN_REGISTRATION',
  'DCR_OPEN_REGISTRATION_GRANT_TYPES',
  'DCR_OPEN_REGISTRATION_AUTH_METHODS',
  'DCR_OPEN_REGISTRATION_PER_ADDRESS_PER_HOUR',
  'DCR_OPEN_REGISTRATION_MAX_CLIENTS',
]);
/** Driver variables that start like the bridge's own. */
const driverDcrSettings = new Set(['DCR_LOCAL_DATA_DIR', 'DCR_LOCAL_TOKEN_RATE_LIMIT_PER_MINUTE']);
/** Settings of the whole process (the listener, the logs, the fleet): the environment's only. */
const processWide = /^(PORT|HOST|LOG_LEVEL|TLS_.+|OTEL_.+|DCR_.+)$/;

/** One line naming the connection (when known) and the setting. */
function problem(where: string, requirement: string): ConfigurationError {
  return new ConfigurationError(where, requirement);
}

function readFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw problem(configFileVariable, `must name a readable file: ${file} (${fileErrorReason(error)})`);
  }
  try {
    return parse(text, { prettyErrors: false, uniqueKeys: true });
  } catch (error) {
    const line = (error as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw problem(
      configFileVariable,
      `must be valid YAML or JSON: ${file} does not parse${line !== undefined ? ` (line ${line})` : ''}`,
    );
  }
}

const reference = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** `${VAR}` replaced by the environment's `VAR` (or the file `VAR_FILE` names); unset is an error naming both. */
function expand(env: Env, value: string, where: string): string {
  return value.replace(reference, (_match, name: string) => {
    let resolved: string | undefined;
    try {
      resolved = envValue(env, name);
    } catch (error) {
      throw problem(where, `reads \${${name}}, and ${(error as Error).message}`);
    }
    if (resolved === undefined) throw problem(where, `reads \${${name}}, which is not set in the environment`);
    return resolved;
  });
}

function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function apiKeysOf(env: Env, value: unknown, where: string): string {
  const entries =
    typeof value === 'string'
      ? [expand(env, value, where)]
      : Array.isArray(value) && value.every((entry) => typeof entry === 'string')
        ? value.map((entry) => expand(env, entry, where))
        : undefined;
  const keys = entries
    ?.flatMap((entry) => entry.split(','))
    .map((key) => key.trim())
    .filter((key) => key !== '');
  if (!keys || keys.length === 0)
    throw problem(
      where,
      'is required: the portal keys of this connection, comma-separated or a list (name:key names one)',
    );
  return keys.join(',');
}

function settingsOf(env: Env, value: unknown, connection: string): Env {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw problem(`${connection}: settings`, "must be a map of the driver's variables to their values");
  const settings: Env = {};
  for (const [name, raw] of Object.entries(value as Record<string, unknown>)) {
    const where = `${connection}: settings.${name}`;
    if (processWide.test(name) && !perConnectionSettings.has(name) && !driverDcrSettings.has(name)) {
      throw problem(where, 'is a setting of the whole bridge: set it in the environment, not per connection');
    }
    const text = scalarText(raw);
    if (text === undefined) throw problem(where, 'must be a string, a number or true/false');
    settings[name] = expand(env, text, where);
  }
  return settings;
}

function driverOf(value: unknown, connection: string): DriverName {
  const requested = typeof value === 'string' ? value.trim().toLowerCase() : '';
  const name = driverAliases[requested] ?? requested;
  if (!(driverNames as readonly string[]).includes(name))
    throw problem(
      `${connection}: driver`,
      `must be one of ${[...driverNames, ...Object.keys(driverAliases)].join(', ')}`,
    );
  return name as DriverName;
}

function pathOf(value: unknown, name: string, connection: string): string {
  if (value === undefined) return `/${name}`;
  const path = typeof value === 'string' ? value.trim().replace(/(.)\/+$/, '$1') : '';
  if (path === '/') return path;
  if (!connectionPath.test(path))
    throw problem(`${connection}: path`, 'must be / or /segment (lower-case letters, digits and -), such as /partners');
  const first = path.split('/')[1]!;
  if (bridgePathSegments.has(first) || first === 'admin')
    throw problem(`${connection}: path`, `must not start with /${first}: the bridge serves that path itself`);
  return path;
}

/** Lays the connection's own keys, driver and bridge settings over the environment, and reads the bridge settings. */
function bridgeConfigOf(
  env: Env,
  connection: string,
  driverName: DriverName,
  apiKeys: string,
  settings: Env,
): BridgeConfig {
  const overlay: Env = { DCR_DRIVER: driverName, DCR_API_KEYS: apiKeys };
  for (const [name, value] of Object.entries(settings)) if (perConnectionSettings.has(name)) overlay[name] = value;
  const layered: Env = { ...env };
  for (const [name, value] of Object.entries(overlay)) {
    layered[name] = value;
    delete layered[`${name}_FILE`];
  }
  try {
    return loadConfig(layered);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    if (error.variable === 'DCR_API_KEYS')
      throw problem(`${connection}: api_keys`, error.message.slice('DCR_API_KEYS '.length));
    if (error.variable in overlay && error.variable in settings)
      throw problem(`${connection}: settings.${error.variable}`, error.message.slice(error.variable.length + 1));
    throw error;
  }
}

/** The connection, and the bridge settings it was read with before its path was added to the public URL. */
function connectionOf(
  env: Env,
  entry: unknown,
  index: number,
): { connection: Connection; processConfig: BridgeConfig } {
  const at = `connections[${index}]`;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw problem(`${configFileVariable} ${at}`, 'must be a map with name, driver, path, api_keys and settings');
  const fields = entry as Record<string, unknown>;
  const name = typeof fields.name === 'string' ? fields.name : '';
  if (!connectionName.test(name))
    throw problem(`${configFileVariable} ${at}: name`, 'is required: 1 to 32 lower-case letters, digits or -');
  const connection = `connection ${name}`;
  for (const field of Object.keys(fields))
    if (!connectionFields.has(field))
      throw problem(`${connection}: ${field}`, `is not a connection setting (${[...connectionFields].join(', ')})`);
  const driverName = driverOf(fields.driver, connection);
  const path = pathOf(fields.path, name, connection);
  const readiness = fields.readiness ?? 'required';
  if (readiness !== 'required' && readiness !== 'reported')
    throw problem(`${connection}: readiness`, 'must be required or reported');
  const apiKeys = apiKeysOf(env, fields.api_keys, `${connection}: api_keys`);
  const settings = settingsOf(env, fields.settings, connection);
  if (
    driverName === 'local' &&
    settings.DCR_LOCAL_DATA_DIR === undefined &&
    settings.DCR_LOCAL_DATA_DIR_FILE === undefined
  )
    settings.DCR_LOCAL_DATA_DIR = join(envValue(env, 'DCR_LOCAL_DATA_DIR') ?? './data', name);
  // The state store is the process's (DCR_STATE_URL, else a file in the data directory): an rfc7591 connection gets
  // its variables from the environment; its records are apart from another connection's by registration endpoint.
  if (driverName === 'rfc7591')
    for (const variable of ['DCR_STATE_URL', 'DCR_DATA_DIR', 'DCR_LOCAL_DATA_DIR']) {
      const value = envValue(env, variable);
      if (value !== undefined) settings[variable] = value;
    }
  const loaded = bridgeConfigOf(env, connection, driverName, apiKeys, settings);
  // Each connection its own pending-registrations journal, next to the process's.
  const journalFile = loaded.pendingRegistrations?.journalFile;
  const config: BridgeConfig =
    journalFile === undefined
      ? loaded
      : {
          ...loaded,
          pendingRegistrations: {
            timeoutSeconds: loaded.pendingRegistrations!.timeoutSeconds,
            journalFile: join(dirname(journalFile), `pending-registrations.${name}.jsonl`),
          },
        };
  // DCR_PUBLIC_URL is the process's: every connection's URLs are under it, at the connection's path.
  const publicUrl = `${config.publicUrl}${path === '/' ? '' : path}`;
  return {
    connection: { name, driverName, path, readiness, config: { ...config, publicUrl }, driverEnv: settings },
    processConfig: config,
  };
}

function refuseDuplicates(connections: readonly Connection[]): void {
  const seen = { name: new Map<string, string>(), path: new Map<string, string>(), key: new Map<string, string>() };
  const dataDirs = new Map<string, string>();
  for (const { name, path, config, driverName, driverEnv } of connections) {
    const connection = `connection ${name}`;
    if (seen.name.has(name)) throw problem(`${connection}: name`, 'is used by another connection; names must differ');
    seen.name.set(name, name);
    const other = seen.path.get(path);
    if (other !== undefined) throw problem(`${connection}: path`, `${path} is already connection ${other}'s`);
    for (const [taken, owner] of seen.path)
      if (taken !== '/' && path !== '/' && (path.startsWith(`${taken}/`) || taken.startsWith(`${path}/`)))
        throw problem(
          `${connection}: path`,
          `${path} and connection ${owner}'s ${taken} must not lie one inside the other`,
        );
    seen.path.set(path, name);
    for (const key of config.apiKeys) {
      const owner = seen.key.get(key);
      // Never the key itself: the line names where it is.
      if (owner !== undefined)
        throw problem(
          `${connection}: api_keys`,
          `holds a key of connection ${owner}${owner === name ? ' twice' : ''}: a key belongs to one connection`,
        );
      seen.key.set(key, name);
    }
    if (driverName === 'local' && driverEnv.DCR_LOCAL_DATA_DIR !== undefined) {
      const dir = resolve(driverEnv.DCR_LOCAL_DATA_DIR);
      const owner = dataDirs.get(dir);
      if (owner !== undefined)
        throw problem(
          `${connection}: settings.DCR_LOCAL_DATA_DIR`,
          `is connection ${owner}'s too; each local IdP needs its own`,
        );
      dataDirs.set(dir, name);
    }
  }
}

export interface ConnectionsConfig {
  /** The process-wide settings (listener, logs, fleet): the environment's, `DCR_PUBLIC_URL` without a path added. */
  config: BridgeConfig;
  connections: Connection[];
}

/**
 * The connections of `DCR_CONFIG_FILE`, or `undefined` without it (then the bridge is one connection at `/` from
 * the environment, as `loadConfig` reads it). Throws a `ConfigurationError` with the one line to print.
 */
export function loadConnections(env: Env): ConnectionsConfig | undefined {
  const file = envValue(env, configFileVariable);
  if (file === undefined) return undefined;
  const document = readFile(file);
  const list = (document as { connections?: unknown } | null)?.connections;
  if (typeof document !== 'object' || document === null || Array.isArray(document))
    throw problem(configFileVariable, `must hold a map with a connections list: ${file}`);
  for (const field of Object.keys(document))
    if (field !== 'connections')
      throw problem(`${configFileVariable} ${field}`, 'is not a setting of the file (connections)');
  if (!Array.isArray(list) || list.length === 0)
    throw problem(`${configFileVariable} connections`, 'is required: a list of at least one connection');
  const read = list.map((entry, index) => connectionOf(env, entry, index));
  const connections = read.map(({ connection }) => connection);
  refuseDuplicates(connections);
  // The process-wide settings are the environment's, the same whichever connection they were read with.
  return { config: read[0]!.processConfig, connections };
}

/**
 * A refusal raised while a connection's driver or app is built, as the one line naming the connection and the
 * setting: the driver reads only the connection's settings, so its variables are always `settings.…`; the app's are
 * the connection's own settings when it set them, else the environment's.
 */
export function inConnection(connection: Connection, error: unknown, source: 'driver' | 'app'): unknown {
  if (!(error instanceof ConfigurationError)) return error;
  const { variable } = error;
  const setHere = source === 'driver' || variable in connection.driverEnv;
  return new ConfigurationError(
    `connection ${connection.name}: ${setHere ? 'settings.' : ''}${variable}`,
    error.message.slice(variable.length + 1),
  );
}
