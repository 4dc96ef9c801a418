/**
 * Reading configuration from the environment. Every variable can also come from a file named by `NAME_FILE`
 * (container secrets). A bad or missing variable is a `ConfigurationError` whose message is the one line the
 * bridge prints before it refuses to start: the variable's name and what it must be.
 */
import { X509Certificate, createHash, createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type Env = Record<string, string | undefined>;

export class ConfigurationError extends Error {
  readonly variable: string;

  constructor(variable: string, requirement: string) {
    super(`${variable} ${requirement}`);
    this.name = 'ConfigurationError';
    this.variable = variable;
  }
}

/** Variables holding a credential on one line: a control character in one is a copy or file mistake, never meant. */
const oneLineCredential = /(_SECRET|_API_TOKEN|_API_KEYS?|_PASSWORD)$/;

/**
 * The value of `name`, or of the file `name_FILE` points at (trailing newline removed); empty counts as unset. A
 * credential (`…_SECRET`, `…_API_TOKEN`, `DCR_API_KEYS`…) with a newline or another control character inside stops
 * the start naming the variable, instead of failing every call to the IdP (or every portal call) later.
 */
export function envValue(env: Env, name: string): string | undefined {
  const value = rawEnvValue(env, name);
  if (value !== undefined && oneLineCredential.test(name) && hasControlCharacter(value)) {
    throw new ConfigurationError(
      name,
      'holds a newline or another control character; a credential is one line (check the file or the copy)',
    );
  }
  return value;
}

/** A C0 control character or DEL (a newline, a carriage return, a NUL, a tab…). */
export function hasControlCharacter(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function rawEnvValue(env: Env, name: string): string | undefined {
  const fileName = env[`${name}_FILE`];
  if (fileName !== undefined && fileName !== '') {
    if (env[name] !== undefined && env[name] !== '')
      throw new ConfigurationError(name, `and ${name}_FILE are both set; set only one`);
    try {
      return readFileSync(fileName, 'utf8').replace(/\r?\n$/, '');
    } catch {
      throw new ConfigurationError(`${name}_FILE`, 'must name a readable file');
    }
  }
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

export function requiredEnv(env: Env, name: string, requirement: string): string {
  const value = envValue(env, name);
  if (value === undefined) throw new ConfigurationError(name, `is required: ${requirement}`);
  return value;
}

/** An absolute http(s) URL without a trailing slash. */
export function urlEnv(env: Env, name: string, fallback?: string): string {
  const value = envValue(env, name) ?? fallback;
  if (value === undefined) throw new ConfigurationError(name, 'is required: an absolute https URL');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError(name, 'must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ConfigurationError(name, 'must be an absolute http(s) URL');
  return value.replace(/\/+$/, '');
}

export function integerEnv(
  env: Env,
  name: string,
  fallback: number,
  { min = 0, max = Number.MAX_SAFE_INTEGER } = {},
): number {
  const value = envValue(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigurationError(name, `must be a whole number from ${min} to ${max}`);
  }
  return parsed;
}

const fileErrorReasons: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  ENOSPC: 'no space left on the device',
  EEXIST: 'a file is in the way',
  ENOENT: 'no such file or directory',
};

/** A short, safe reason for a failed file operation (the errno meaning, never the system's message). */
export function fileErrorReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return (code && fileErrorReasons[code]) ?? (code ? `error ${code}` : 'unknown error');
}

/**
 * Which of two alternative variables is set, and its value (an API token or a service app, a secret or a certificate).
 * Both set, or neither, is a configuration error named after the first, with the message given for the case.
 */
export function eitherEnv<A extends string, B extends string>(
  env: Env,
  names: [A, B],
  messages: { both: string; neither: string },
): { name: A | B; value: string } {
  const [first, second] = names.map((name) => envValue(env, name));
  if (first !== undefined && second !== undefined) throw new ConfigurationError(names[0], messages.both);
  if (first !== undefined) return { name: names[0], value: first };
  if (second !== undefined) return { name: names[1], value: second };
  throw new ConfigurationError(names[0], messages.neither);
}

/** An https URL (no trailing slash) for an IdP endpoint that speaks https only: an http URL would fail later, less clearly. */
export function httpsUrlEnv(env: Env, name: string, fallback: string): string {
  const value = urlEnv(env, name, fallback);
  if (!value.startsWith('https://')) throw new ConfigurationError(name, 'must be an absolute https URL');
  return value;
}

/** A PEM or JWK private key (RSA, or EC P-256), with the JWK's `kid` when it has one. */
export function parsePrivateKey(text: string): { key: KeyObject; keyId?: string } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    const jwk = JSON.parse(trimmed) as { kid?: string } & Record<string, unknown>;
    return { key: createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }), keyId: jwk.kid };
  }
  return { key: createPrivateKey(trimmed.replaceAll('\\n', '\n')) };
}

/** The private key in `name` (PEM or JWK, RSA or EC P-256), required and checked to parse. */
export function privateKeyEnv(env: Env, name: string, requirement: string): string {
  const privateKey = requiredEnv(env, name, requirement);
  try {
    parsePrivateKey(privateKey);
  } catch {
    throw new ConfigurationError(name, 'must be a PEM private key or a private JWK (RSA or EC P-256)');
  }
  return privateKey;
}

/** A PEM holding a private key and its certificate, as a token endpoint's client certificate: the key, the SHA-256 thumbprint, the certificate. */
export function certificateCredential(
  pem: string,
  variable: string,
): { privateKey: string; thumbprintSha256: string; x5c: string } {
  const certificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  const key =
    /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.exec(
      pem,
    )?.[0];
  if (!certificate || !key)
    throw new ConfigurationError(variable, 'must name a PEM file holding both the private key and the certificate');
  const der = new X509Certificate(certificate).raw;
  return {
    privateKey: createPrivateKey(key).export({ format: 'pem', type: 'pkcs8' }).toString(),
    thumbprintSha256: createHash('sha256').update(der).digest('hex'),
    x5c: certificate,
  };
}

/** The PEM file `path` (named by `variable`), read and checked to hold a private key and its certificate. */
export function readCertificatePem(variable: string, path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigurationError(variable, 'must name a readable PEM file holding the private key and the certificate');
  }
  certificateCredential(pem, variable);
  return pem;
}
