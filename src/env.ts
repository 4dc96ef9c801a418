/**
 * Reading configuration from the environment. Every variable can also come from a file named by `NAME_FILE`
 * (container secrets). A bad or missing variable is a `ConfigurationError` whose message is the one line the
 * bridge prints before it refuses to start: the variable's name and what it must be.
 */
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

/** The value of `name`, or of the file `name_FILE` points at (trailing newline removed); empty counts as unset. */
export function envValue(env: Env, name: string): string | undefined {
  const fileName = env[`${name}_FILE`];
  if (fileName !== undefined && fileName !== '') {
    if (env[name] !== undefined && env[name] !== '') throw new ConfigurationError(name, `and ${name}_FILE are both set; set only one`);
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
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigurationError(name, 'must be an absolute http(s) URL');
  return value.replace(/\/+$/, '');
}

export function integerEnv(env: Env, name: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
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
