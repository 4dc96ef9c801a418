/**
 * spec/openapi.yaml is the source of truth: it is read at start-up, served as it is, and its component schemas
 * validate request bodies — there is no hand-kept copy of them in code.
 *
 * Parsing the YAML and compiling the schemas with Ajv were most of the start's CPU, so `npm run build` derives both
 * from the YAML (scripts/derive-spec.ts → dist/spec/): the document as JSON and Ajv's standalone validation code for
 * every component schema, each stamped with the sha256 of the YAML text it came from. The start hashes the YAML it
 * read and uses the derived forms only when both carry that hash; otherwise (from the sources, an edited YAML, a stale
 * or missing dist) it parses the YAML and compiles with Ajv as before, a schema when a route first asks for it. Either
 * way the validators are Ajv's code for the same schemas, so the answers and their messages are the same.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as AjvModule from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type * as YamlModule from 'yaml';
import { InvalidClientMetadataError } from '../errors.js';
import { apiSpecPath, derivedApiSpecDir } from '../paths.js';

export interface ApiSpec {
  /** The YAML text, served at /openapi.yaml. */
  text: string;
  document: OpenApiDocument;
  /** Throws `InvalidClientMetadataError` naming the first failing member; returns the body typed as the schema. */
  validate<T>(schemaName: string, body: unknown): T;
  /** The same check with the schema compiled now, for a route to hold; throws at once for an unknown schema. */
  validator(schemaName: string): (body: unknown) => void;
  /** `derived` when the build's JSON and standalone validators matched the YAML, `parsed` when it was parsed now. */
  source: 'derived' | 'parsed';
}

export interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, unknown> };
  [member: string]: unknown;
}

export interface LoadApiSpecOptions {
  /** The YAML; spec/openapi.yaml by default. */
  yamlPath?: string;
  /** Where `npm run build` wrote the derived forms; dist/spec by default. */
  derivedDir?: string;
  /** The YAML parser, for tests to observe; yaml's `parse` by default. */
  parseYaml?: (text: string) => unknown;
}

/** The files `npm run build` writes into the derived folder. */
export const derivedFileNames = { document: 'openapi.json', validators: 'validators.cjs' } as const;

// Ajv, ajv-formats and yaml are CommonJS and needed only when the derived forms do not match: loaded on demand.
const require = createRequire(import.meta.url);

/** The sha256 (hex) of the YAML text, which ties a derived file to the YAML it came from. */
export function apiSpecHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function loadApiSpec(options: LoadApiSpecOptions = {}): ApiSpec {
  const text = readFileSync(options.yamlPath ?? apiSpecPath, 'utf8');
  const sha256 = apiSpecHash(text);
  const derived = readDerived(options.derivedDir ?? derivedApiSpecDir, sha256);
  const document = derived?.document ?? (parseYaml(options, text) as OpenApiDocument);
  const compile = derived ? undefined : ajvCompiler(document);
  const validators = new Map<string, ValidateFunction>();
  const validatorFor = (schemaName: string): ValidateFunction => {
    let validator = validators.get(schemaName);
    if (!validator) {
      validator = derived ? derivedValidator(derived.validators, schemaName) : compile!(schemaName);
      if (!validator) throw new Error(`spec/openapi.yaml has no schema ${schemaName}`);
      validators.set(schemaName, validator);
    }
    return validator;
  };
  const validator = (schemaName: string) => {
    const compiled = validatorFor(schemaName);
    return (body: unknown): void => {
      if (!compiled(body)) throw new InvalidClientMetadataError(describeSchemaError(compiled.errors?.[0]));
    };
  };
  return {
    text,
    document,
    validate<T>(schemaName: string, body: unknown): T {
      validator(schemaName)(body);
      return body as T;
    },
    validator,
    source: derived ? 'derived' : 'parsed',
  };
}

function parseYaml(options: LoadApiSpecOptions, text: string): unknown {
  return (options.parseYaml ?? (require('yaml') as typeof YamlModule).parse)(text);
}

/**
 * The derived document and validators when both were derived from YAML with this hash; undefined when either is
 * missing or stale. A derived file that is there but unreadable is an error of the build, not a reason to fall back.
 */
function readDerived(
  dir: string,
  sha256: string,
): { document: OpenApiDocument; validators: Record<string, unknown> } | undefined {
  const documentPath = join(dir, derivedFileNames.document);
  const validatorsPath = join(dir, derivedFileNames.validators);
  if (!existsSync(documentPath) || !existsSync(validatorsPath)) return undefined;
  const derived = JSON.parse(readFileSync(documentPath, 'utf8')) as { sha256?: string; document?: OpenApiDocument };
  if (derived.sha256 !== sha256 || !derived.document) return undefined;
  const validators = require(validatorsPath) as Record<string, unknown>;
  if (validators.sha256 !== sha256) return undefined;
  return { document: derived.document, validators };
}

function derivedValidator(validators: Record<string, unknown>, schemaName: string): ValidateFunction | undefined {
  const validator = Object.hasOwn(validators, schemaName) ? validators[schemaName] : undefined;
  return typeof validator === 'function' ? (validator as ValidateFunction) : undefined;
}

function newAjv(source: boolean): AjvModule.Ajv {
  const { Ajv } = require('ajv') as typeof AjvModule;
  const addFormatsModule = require('ajv-formats') as { default?: unknown };
  const addFormats = (addFormatsModule.default ?? addFormatsModule) as (ajv: AjvModule.Ajv) => AjvModule.Ajv;
  const ajv = new Ajv({ strict: false, allErrors: false, ...(source ? { code: { source: true } } : {}) });
  addFormats(ajv);
  return ajv;
}

const schemaRef = (schemaName: string) => `openapi#/components/schemas/${schemaName}`;

/** A schema compiled when first asked for, so the start does not wait for schemas no route validates against. */
function ajvCompiler(document: OpenApiDocument): (schemaName: string) => ValidateFunction | undefined {
  const ajv = newAjv(false);
  ajv.addSchema(document as object, 'openapi');
  return (schemaName) => ajv.getSchema(schemaRef(schemaName));
}

/**
 * What `npm run build` writes for this YAML text: the document as JSON and one CommonJS module of Ajv standalone
 * validators, one export per component schema, both stamped with the YAML's sha256.
 */
export function deriveApiSpec(text: string): { document: string; validators: string } {
  const sha256 = apiSpecHash(text);
  const document = (require('yaml') as typeof YamlModule).parse(text) as OpenApiDocument;
  const ajv = newAjv(true);
  ajv.addSchema(document as object, 'openapi');
  const names = Object.keys(document.components.schemas);
  const standaloneModule = require('ajv/dist/standalone') as {
    default: (ajv: AjvModule.Ajv, refs: Record<string, string>) => string;
  };
  const code = standaloneModule.default(ajv, Object.fromEntries(names.map((name) => [name, schemaRef(name)])));
  return {
    document: `${JSON.stringify({ sha256, document })}\n`,
    validators: `// Derived by npm run build from spec/openapi.yaml; do not edit.\n${code}\nexports.sha256 = ${JSON.stringify(sha256)};\n`,
  };
}

/** One sentence naming the member and the rule it broke; never the value the caller sent. */
function describeSchemaError(error: ErrorObject | undefined): string {
  if (!error) return 'The request body does not match the API description.';
  const member = error.instancePath
    .split('/')
    .slice(1)
    .map((segment) => (/^\d+$/.test(segment) ? `[${segment}]` : `.${segment.replace(/~1/g, '/').replace(/~0/g, '~')}`))
    .join('')
    .replace(/^\./, '');
  const subject = member === '' ? 'The request body' : safeMemberName(member);
  // The one `not` of the spec: Api7ClientMetadata's `scope` or `scopes`, not both.
  if (error.keyword === 'not') return `${subject} must not carry both scope and scopes.`;
  if (error.keyword === 'pattern' && error.schemaPath.includes('/DisplayText/'))
    return `${subject} must not contain control characters or bidirectional overrides.`;
  return `${subject} ${error.message ?? 'is invalid'}.`;
}

function safeMemberName(member: string): string {
  return /^[A-Za-z0-9_.[\]]{1,120}$/.test(member) ? member : 'A member of the request body';
}
