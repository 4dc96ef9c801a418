/**
 * Checks requests (and the emulators' own answers) against a vendor's published OpenAPI description from
 * `test/vendor-specs/` (each vendor's SOURCE.md beside its files says where it came from and under which licence).
 * OpenAPI 3.0 documents are validated with Ajv (draft-07 + `nullable`), 3.1 with Ajv 2020.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type AnySchema, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { contentKey, keptTestFile } from './tls.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

type Json = Record<string, unknown>;

const vendorSpecsDir = fileURLToPath(new URL('../vendor-specs/', import.meta.url));

/** The path of one vendor spec file in `test/vendor-specs/`; a missing one is an error, never a skip. */
export function vendorSpecFile(relativePath: string): string {
  const file = join(vendorSpecsDir, relativePath);
  if (!existsSync(file)) throw new Error(`vendor spec ${relativePath} is missing from test/vendor-specs/`);
  return file;
}

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  paramNames: string[];
  literalLength: number;
  parameters: Array<{ name: string; in: string; required?: boolean; schema?: Json }>;
  operation: Json;
}

export interface OperationMatch {
  operationId: string | undefined;
  template: string;
  params: Record<string, string>;
}

export class SpecValidator {
  readonly file: string;
  private readonly document: Json;
  private readonly ajv: Ajv;
  private readonly operations: Operation[] = [];
  /** The path of the first server URL (`/api/v2` for Auth0's management API): requests may carry it before the templates. */
  private readonly basePath: string;
  private readonly compiled = new Map<string, ValidateFunction>();

  /**
   * The validator of `file`, one per process: it holds nothing but the document and the validators Ajv compiled from
   * it, so every emulator of a test file shares them (compiling the same schemas again was ~15% of a fault suite's CPU).
   */
  static load(file: string): SpecValidator {
    let loaded = SpecValidator.loaded.get(file);
    if (!loaded) {
      loaded = SpecValidator.parse(file);
      SpecValidator.loaded.set(file, loaded);
    }
    return loaded;
  }

  private static readonly loaded = new Map<string, SpecValidator>();

  private static parse(file: string): SpecValidator {
    const text = readFileSync(file, 'utf8');
    // YAML parses ~150 times slower than JSON (Okta’s: 470 ms against 3 ms): each spec's parse is kept as JSON under the hash of its text.
    const json = file.endsWith('.json')
      ? text
      : keptTestFile(`vendor-spec-${contentKey(text)}.json`, () => JSON.stringify(parseYaml(text)));
    const document = JSON.parse(json) as Json;
    return new SpecValidator(file, document);
  }

  constructor(file: string, document: Json) {
    this.file = file;
    this.document = resolveDiscriminators(structuredClone(document)) as Json;
    const is31 = String(this.document.openapi).startsWith('3.1');
    const options = { strict: false, allErrors: true, logger: false, validateFormats: true } as const;
    this.ajv = is31 ? (new Ajv2020(options) as unknown as Ajv) : new Ajv(options);
    addFormats(this.ajv);
    for (const format of ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'password', 'base64url']) {
      this.ajv.addFormat(format, true);
    }
    this.ajv.addSchema((is31 ? this.document : nullableToTypes(structuredClone(this.document))) as AnySchema, 'spec');
    for (const [template, pathItem] of Object.entries((this.document.paths ?? {}) as Record<string, Json>)) {
      const shared = (pathItem.parameters ?? []) as Operation['parameters'];
      for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
        const operation = pathItem[method] as Json | undefined;
        if (!operation) continue;
        const { pattern, paramNames, literalLength } = compileTemplate(template);
        const own = ((operation.parameters ?? []) as Array<Json>).map((p) => this.deref(p)) as Operation['parameters'];
        const parameters = [
          ...shared.map((p) => this.deref(p as unknown as Json) as unknown as Operation['parameters'][number]),
          ...own,
        ];
        this.operations.push({
          method: method.toUpperCase(),
          template,
          pattern,
          paramNames,
          literalLength,
          parameters,
          operation,
        });
      }
    }
    // The most literal template wins: `/clients/{id}/client-secret` before `/clients/{id}`.
    this.operations.sort((a, b) => b.literalLength - a.literalLength);
    const server = ((this.document.servers ?? []) as Array<{ url?: string }>)[0]?.url ?? '';
    this.basePath = (/^[a-z]+:\/\/[^/]*(\/.*)?$/i.exec(server)?.[1] ?? '').replace(/\/+$/, '');
  }

  match(method: string, path: string): OperationMatch | undefined {
    const found = this.find(method, path);
    if (!found) return undefined;
    return {
      operationId: found.op.operation.operationId as string | undefined,
      template: found.op.template,
      params: found.params,
    };
  }

  /** Every way the request breaks the spec; empty when it is valid. */
  validateRequest(request: {
    method: string;
    path: string;
    query: URLSearchParams;
    contentType?: string;
    body: unknown;
    hasBody: boolean;
  }): string[] {
    const found = this.find(request.method, request.path);
    if (!found) return [`${request.method} ${request.path} is not an operation of ${this.file}`];
    const { op, params } = found;
    const problems: string[] = [];
    const where = `${op.method} ${op.template}`;
    for (const parameter of op.parameters) {
      if (parameter.in === 'path') {
        problems.push(
          ...this.check(
            parameter.schema,
            coerce(params[parameter.name], parameter.schema),
            `${where} path parameter ${parameter.name}`,
          ),
        );
      } else if (parameter.in === 'query') {
        const value = request.query.get(parameter.name);
        if (value === null) {
          if (parameter.required) problems.push(`${where}: required query parameter ${parameter.name} is missing`);
          continue;
        }
        problems.push(
          ...this.check(
            parameter.schema,
            coerce(value, parameter.schema),
            `${where} query parameter ${parameter.name}`,
          ),
        );
      }
    }
    const declaredQuery = new Set(op.parameters.filter((p) => p.in === 'query').map((p) => p.name));
    for (const name of request.query.keys()) {
      if (!declaredQuery.has(name)) problems.push(`${where}: query parameter ${name} is not in the spec`);
    }
    const requestBody = op.operation.requestBody ? this.deref(op.operation.requestBody as Json) : undefined;
    if (!requestBody) return problems;
    if (!request.hasBody) {
      if (requestBody.required) problems.push(`${where}: the request body is required`);
      return problems;
    }
    const content = (requestBody.content ?? {}) as Record<string, Json>;
    const mediaType = (request.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    const entry = content[mediaType] ?? (mediaType.endsWith('+json') ? content['application/json'] : undefined);
    if (!entry) {
      problems.push(`${where}: content type ${mediaType || '(none)'} is not one of ${Object.keys(content).join(', ')}`);
      return problems;
    }
    const pointer = `#/paths/${escapePointer(op.template)}/${op.method.toLowerCase()}/requestBody/content/${escapePointer(
      Object.keys(content).find((key) => content[key] === entry)!,
    )}/schema`;
    problems.push(
      ...this.checkRef(pointer, request.body, `${where} request body`, requestBody === op.operation.requestBody),
    );
    return problems;
  }

  /** Checks an emulator's own answer, so an emulator that drifts from the vendor is caught too. */
  validateResponse(method: string, path: string, status: number, body: unknown): string[] {
    const found = this.find(method, path);
    if (!found) return [];
    const responses = (found.op.operation.responses ?? {}) as Record<string, Json>;
    const key =
      String(status) in responses
        ? String(status)
        : `${String(status)[0]}XX` in responses
          ? `${String(status)[0]}XX`
          : undefined;
    if (!key) {
      if (status < 400 && responses.default === undefined)
        return [`${found.op.method} ${found.op.template}: status ${status} is not documented`];
      return [];
    }
    const response = this.deref(responses[key]!);
    const content = (response.content ?? {}) as Record<string, Json>;
    const mediaType = Object.keys(content).find((type) => type.includes('json'));
    if (!mediaType || body === undefined || !content[mediaType]!.schema) return [];
    const direct = responses[key] === response;
    const pointer = direct
      ? `#/paths/${escapePointer(found.op.template)}/${found.op.method.toLowerCase()}/responses/${key}/content/${escapePointer(mediaType)}/schema`
      : `${(responses[key] as Json).$ref as string}/content/${escapePointer(mediaType)}/schema`;
    return this.checkRef(pointer, body, `${found.op.method} ${found.op.template} response ${status}`, true);
  }

  private find(method: string, requestPath: string): { op: Operation; params: Record<string, string> } | undefined {
    const path =
      this.basePath && requestPath.startsWith(`${this.basePath}/`)
        ? requestPath.slice(this.basePath.length)
        : requestPath;
    for (const op of this.operations) {
      if (op.method !== method.toUpperCase()) continue;
      const match = op.pattern.exec(path);
      if (!match) continue;
      const params: Record<string, string> = {};
      op.paramNames.forEach((name, index) => {
        params[name] = decodeURIComponent(match[index + 1]!);
      });
      return { op, params };
    }
    return undefined;
  }

  private check(schema: Json | undefined, value: unknown, where: string): string[] {
    if (!schema) return [];
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(
        schema.$ref
          ? { $ref: `spec${schema.$ref as string}` }
          : (nullableToTypes(structuredClone(schema)) as AnySchema),
      );
      this.compiled.set(key, validate);
    }
    return validate(value) ? [] : describe(validate, where);
  }

  private checkRef(pointer: string, value: unknown, where: string, inDocument: boolean): string[] {
    const ref = inDocument ? `spec${pointer}` : `spec${pointer}`;
    let validate = this.compiled.get(ref);
    if (!validate) {
      validate = this.ajv.compile({ $ref: ref });
      this.compiled.set(ref, validate);
    }
    return validate(value) ? [] : describe(validate, where);
  }

  private deref(value: Json): Json {
    let current = value;
    for (let depth = 0; typeof current.$ref === 'string' && depth < 10; depth++) {
      current = (current.$ref as string)
        .slice(2)
        .split('/')
        .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
        .reduce<Json>((node, part) => node[part] as Json, this.document);
    }
    return current;
  }
}

function describe(validate: ValidateFunction, where: string): string[] {
  return (validate.errors ?? [])
    .slice(0, 5)
    .map((error) => `${where}${error.instancePath || ''} ${error.message ?? 'is invalid'}`);
}

function compileTemplate(template: string): { pattern: RegExp; paramNames: string[]; literalLength: number } {
  const paramNames: string[] = [];
  let literalLength = 0;
  const source = template.replace(/\{([^}]+)\}|[^{]+/g, (part, name: string | undefined) => {
    if (name) {
      paramNames.push(name);
      return '([^/]+?)';
    }
    literalLength += part.length;
    return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return { pattern: new RegExp(`^${source}/?$`), paramNames, literalLength };
}

function escapePointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

function coerce(value: string | undefined, schema: Json | undefined): unknown {
  if (value === undefined || !schema) return value;
  if (schema.type === 'integer' || schema.type === 'number')
    return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (schema.type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
  return value;
}

/** OpenAPI 3.0 `nullable: true` next to `type: T` becomes `type: [T, "null"]` (and `null` joins an `enum`). */
function nullableToTypes(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullableToTypes);
  if (typeof node !== 'object' || node === null) return node;
  const object = node as Json;
  for (const key of Object.keys(object)) object[key] = nullableToTypes(object[key]);
  if (!('nullable' in object)) return object;
  const nullable = object.nullable === true;
  delete object.nullable;
  if (!nullable) return object;
  if (typeof object.type === 'string') object.type = [object.type, 'null'];
  if (Array.isArray(object.enum) && !object.enum.includes(null)) object.enum = [...object.enum, null];
  if (object.$ref || object.allOf || object.oneOf || object.anyOf) return { anyOf: [{ type: 'null' }, object] };
  return object;
}

/**
 * Polymorphic schemas (`oneOf` + `discriminator.mapping`, as in Okta's apps) become an if/then chain on the
 * discriminator value: plain `oneOf` fails when the variants inherit from one base that allows extra properties.
 * A bare `discriminator` on a base schema is only an annotation and is dropped.
 */
function resolveDiscriminators(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(resolveDiscriminators);
  if (typeof node !== 'object' || node === null) return node;
  const object = node as Json;
  for (const key of Object.keys(object)) object[key] = resolveDiscriminators(object[key]);
  const discriminator = object.discriminator as { propertyName?: string; mapping?: Record<string, string> } | undefined;
  if (!discriminator) return object;
  delete object.discriminator;
  const variants = (object.oneOf ?? object.anyOf) as unknown[] | undefined;
  if (!variants || !discriminator.propertyName || !discriminator.mapping) return object;
  const property = discriminator.propertyName;
  delete object.oneOf;
  delete object.anyOf;
  object.required = [...new Set([...((object.required as string[] | undefined) ?? []), property])];
  object.properties = {
    ...((object.properties as Json | undefined) ?? {}),
    [property]: { enum: Object.keys(discriminator.mapping) },
  };
  object.allOf = [
    ...((object.allOf as unknown[] | undefined) ?? []),
    ...Object.entries(discriminator.mapping).map(([value, ref]) => ({
      if: { properties: { [property]: { const: value } }, required: [property] },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's `then` keyword.
      then: { $ref: ref },
    })),
  ];
  return object;
}
