/**
 * spec/openapi.yaml is the source of truth: it is read once at start-up, served as it is, and its component schemas
 * are compiled with Ajv to validate request bodies — there is no hand-kept copy of them in code. A schema is compiled
 * when a route first asks for it (at start-up), so the start does not wait for schemas no route validates against.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { InvalidClientMetadataError } from '../errors.js';
import { apiSpecPath } from '../paths.js';


export interface ApiSpec {
  /** The YAML text, served at /openapi.yaml. */
  text: string;
  document: OpenApiDocument;
  /** Throws `InvalidClientMetadataError` naming the first failing member; returns the body typed as the schema. */
  validate<T>(schemaName: string, body: unknown): T;
  /** The same check with the schema compiled now, for a route to hold; throws at once for an unknown schema. */
  validator(schemaName: string): (body: unknown) => void;
}

export interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, unknown> };
  [member: string]: unknown;
}

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

export function loadApiSpec(): ApiSpec {
  const text = readFileSync(apiSpecPath, 'utf8');
  const document = parse(text) as OpenApiDocument;
  const ajv = new Ajv({ strict: false, allErrors: false });
  addFormats(ajv);
  ajv.addSchema(document as object, 'openapi');
  const validators = new Map<string, ValidateFunction>();
  const validatorFor = (schemaName: string): ValidateFunction => {
    let validator = validators.get(schemaName);
    if (!validator) {
      validator = ajv.getSchema(`openapi#/components/schemas/${schemaName}`);
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
  return `${subject} ${error.message ?? 'is invalid'}.`;
}

function safeMemberName(member: string): string {
  return /^[A-Za-z0-9_.[\]]{1,120}$/.test(member) ? member : 'A member of the request body';
}
