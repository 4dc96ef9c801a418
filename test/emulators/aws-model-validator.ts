/**
 * Checks AWS JSON 1.1 requests and answers against an AWS service model (botocore's `service-2.json`, kept in
 * test/vendor-specs/): the content type, and the body against the operation's input shape on the way in and its output
 * shape on the way out — structures (required members, no member the model does not name), lists and maps (with their
 * bounds), strings (length, enum, and the model's pattern, matched whole), numbers (integer, bounds), booleans and
 * timestamps (epoch seconds in this protocol). An error answer must carry AWS's `__type`.
 */
import { readFileSync } from 'node:fs';
import type { RequestValidator } from './framework.js';

type Shape = {
  type: string;
  members?: Record<string, { shape: string }>;
  required?: string[];
  member?: { shape: string };
  key?: { shape: string };
  value?: { shape: string };
  min?: number;
  max?: number;
  pattern?: string;
  enum?: string[];
};

interface ServiceModel {
  metadata: { jsonVersion: string; targetPrefix: string };
  operations: Record<string, { input?: { shape: string }; output?: { shape: string } }>;
  shapes: Record<string, Shape>;
}

const models = new Map<string, ServiceModel>();

function loadModel(file: string): ServiceModel {
  let model = models.get(file);
  if (!model) {
    model = JSON.parse(readFileSync(file, 'utf8')) as ServiceModel;
    models.set(file, model);
  }
  return model;
}

const patterns = new Map<string, RegExp | null>();

/** The model's pattern as a whole-value JavaScript regex (`\p{…}` needs the `u` flag); `null` when JavaScript cannot read it. */
function patternOf(source: string): RegExp | null {
  if (!patterns.has(source)) {
    try {
      patterns.set(source, new RegExp(`^(?:${source})$`, 'su'));
    } catch {
      patterns.set(source, null);
    }
  }
  return patterns.get(source)!;
}

/** The problems of `value` against the model's shape `name`, each naming where in the body it is. */
export function shapeProblems(model: ServiceModel, name: string, value: unknown, where: string): string[] {
  const shape = model.shapes[name];
  if (!shape) return [`${where}: the model has no shape ${name}`];
  const count = (length: number, what: string): string[] => [
    ...(shape.min !== undefined && length < shape.min
      ? [`${where}: ${what} ${length} is below the minimum ${shape.min}`]
      : []),
    ...(shape.max !== undefined && length > shape.max
      ? [`${where}: ${what} ${length} is above the maximum ${shape.max}`]
      : []),
  ];
  switch (shape.type) {
    case 'structure': {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        return [`${where}: not an object (${name})`];
      const record = value as Record<string, unknown>;
      const members = shape.members ?? {};
      return [
        ...(shape.required ?? [])
          .filter((member) => record[member] === undefined)
          .map((member) => `${where}.${member}: required by ${name}`),
        ...Object.entries(record).flatMap(([member, memberValue]) =>
          members[member]
            ? memberValue === null
              ? [`${where}.${member}: null`]
              : shapeProblems(model, members[member]!.shape, memberValue, `${where}.${member}`)
            : [`${where}.${member}: not a member of ${name}`],
        ),
      ];
    }
    case 'list':
      if (!Array.isArray(value)) return [`${where}: not a list (${name})`];
      return [
        ...count(value.length, 'length'),
        ...value.flatMap((item, index) => shapeProblems(model, shape.member!.shape, item, `${where}[${index}]`)),
      ];
    case 'map':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${where}: not a map (${name})`];
      return Object.entries(value as Record<string, unknown>).flatMap(([key, item]) => [
        ...shapeProblems(model, shape.key!.shape, key, `${where} key ${key}`),
        ...shapeProblems(model, shape.value!.shape, item, `${where}.${key}`),
      ]);
    case 'string': {
      if (typeof value !== 'string') return [`${where}: not a string (${name})`];
      const pattern = shape.pattern === undefined ? null : patternOf(shape.pattern);
      return [
        ...count([...value].length, 'length'),
        ...(shape.enum && !shape.enum.includes(value)
          ? [`${where}: ${JSON.stringify(value)} is not one of ${name}`]
          : []),
        ...(pattern && !pattern.test(value) ? [`${where}: does not match ${name}'s pattern ${shape.pattern}`] : []),
      ];
    }
    case 'integer':
    case 'long':
      if (!Number.isInteger(value)) return [`${where}: not an integer (${name})`];
      return [
        ...(shape.min !== undefined && (value as number) < shape.min
          ? [`${where}: below the minimum ${shape.min}`]
          : []),
        ...(shape.max !== undefined && (value as number) > shape.max
          ? [`${where}: above the maximum ${shape.max}`]
          : []),
      ];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${where}: not a boolean (${name})`];
    case 'timestamp':
      return typeof value === 'number' && Number.isFinite(value) ? [] : [`${where}: not epoch seconds (${name})`];
    case 'blob':
      return typeof value === 'string' ? [] : [`${where}: not base64 text (${name})`];
    default:
      return typeof value === 'number' ? [] : [`${where}: not a ${shape.type} (${name})`];
  }
}

/** The validator of one operation of the model at `file`, for an emulator route (`POST /` with its `X-Amz-Target`). */
export function awsOperationValidator(file: string, operation: string): RequestValidator {
  const model = loadModel(file);
  const spec = model.operations[operation];
  if (!spec) throw new Error(`${file} has no operation ${operation}`);
  const contentType = `application/x-amz-json-${model.metadata.jsonVersion}`;
  return {
    validateRequest({ method, path, contentType: sent, body, hasBody }) {
      const problems: string[] = [];
      if (method !== 'POST' || path !== '/') problems.push(`${operation}: AWS JSON is POST /, not ${method} ${path}`);
      if ((sent ?? '').split(';')[0]!.trim() !== contentType)
        problems.push(`${operation}: content type ${sent ?? '(none)'} is not ${contentType}`);
      if (!hasBody) problems.push(`${operation}: no body`);
      else if (spec.input) problems.push(...shapeProblems(model, spec.input.shape, body, operation));
      return problems;
    },
    validateResponse(_method, _path, status, body) {
      if (status >= 300) {
        const type = (body as { __type?: unknown } | undefined)?.__type;
        return typeof type === 'string' ? [] : [`${operation}: error answer ${status} without __type`];
      }
      return spec.output ? shapeProblems(model, spec.output.shape, body ?? {}, `${operation} answer`) : [];
    },
  };
}
