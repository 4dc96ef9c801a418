/**
 * The build's derived forms of spec/openapi.yaml (src/http/spec.ts, scripts/derive-spec.ts): used only while they
 * carry the YAML's sha256, and their standalone validators answer exactly as Ajv compiling the YAML does.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { deriveApiSpec, derivedFileNames, loadApiSpec, type ApiSpec } from '../../src/http/spec.js';
import { apiSpecPath, packageRoot } from '../../src/paths.js';

const yamlText = readFileSync(apiSpecPath, 'utf8');
// Inside the package, as dist/spec is: the standalone code requires Ajv's runtime from node_modules.
const workspace = mkdtempSync(join(packageRoot, '.test-spec-'));
after(() => rmSync(workspace, { recursive: true, force: true }));

function writeDerived(dir: string, text: string): string {
  const derived = deriveApiSpec(text);
  writeFileSync(join(dir, derivedFileNames.document), derived.document);
  writeFileSync(join(dir, derivedFileNames.validators), derived.validators);
  return dir;
}

const derivedDir = writeDerived(mkdtempSync(join(workspace, 'derived-')), yamlText);
const countingParser = () => {
  const calls: string[] = [];
  return {
    calls,
    parseYaml: (text: string) => {
      calls.push(text);
      return parse(text) as unknown;
    },
  };
};

/** `ok`, or the error message the bridge would answer with. */
function outcome(spec: ApiSpec, schemaName: string, body: unknown): string {
  try {
    spec.validate(schemaName, body);
    return 'ok';
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}

describe('derived forms of spec/openapi.yaml', () => {
  it('are used when they carry the YAML text’s sha256: the YAML is not parsed', () => {
    const parser = countingParser();
    const spec = loadApiSpec({ derivedDir, parseYaml: parser.parseYaml });
    assert.equal(spec.source, 'derived');
    assert.deepEqual(parser.calls, [], 'the YAML parser was not called');
    assert.equal(spec.text, yamlText, 'the YAML text is still what is served');
    assert.deepEqual(spec.document, parse(yamlText), 'the derived document is the YAML’s');
    assert.equal(
      outcome(spec, 'Api7ClientMetadata', { client_name: 'x'.repeat(256) }),
      'InvalidClientMetadataError: client_name must NOT have more than 255 characters.',
    );
    assert.equal(outcome(spec, 'Api7ClientMetadata', { client_name: 'x'.repeat(255) }), 'ok');
    assert.throws(() => spec.validator('NoSuchSchema'), /no schema NoSuchSchema/);
    assert.throws(() => spec.validator('sha256'), /no schema sha256/, 'the stamp is not a validator');
  });

  it('are ignored when the YAML changed: it is parsed and validated against its new content', () => {
    const edited = yamlText.replace(
      "client_name: { type: string, maxLength: 255, allOf: [{ $ref: '#/components/schemas/DisplayText' }] }",
      "client_name: { type: string, maxLength: 8, allOf: [{ $ref: '#/components/schemas/DisplayText' }] }",
    );
    assert.notEqual(edited, yamlText);
    const yamlPath = join(workspace, 'edited.yaml');
    writeFileSync(yamlPath, edited);
    const parser = countingParser();
    const spec = loadApiSpec({ yamlPath, derivedDir, parseYaml: parser.parseYaml });
    assert.equal(spec.source, 'parsed');
    assert.equal(parser.calls.length, 1, 'the edited YAML was parsed');
    assert.equal(
      outcome(spec, 'Api7ClientMetadata', { client_name: 'nine char' }),
      'InvalidClientMetadataError: client_name must NOT have more than 8 characters.',
    );
  });

  it('are ignored when one of the two is stale or missing', () => {
    const mixed = mkdtempSync(join(workspace, 'mixed-'));
    const edited = yamlText.replace(
      "client_name: { type: string, maxLength: 255, allOf: [{ $ref: '#/components/schemas/DisplayText' }] }",
      "client_name: { type: string, maxLength: 8, allOf: [{ $ref: '#/components/schemas/DisplayText' }] }",
    );
    writeFileSync(join(mixed, derivedFileNames.document), deriveApiSpec(yamlText).document);
    writeFileSync(join(mixed, derivedFileNames.validators), deriveApiSpec(edited).validators);
    assert.equal(loadApiSpec({ derivedDir: mixed }).source, 'parsed', 'validators of another YAML are not used');
    assert.equal(loadApiSpec({ derivedDir: join(workspace, 'absent') }).source, 'parsed');
  });

  it('the build wrote current ones into dist/spec when dist is built from this YAML', (t) => {
    const spec = loadApiSpec();
    if (spec.source === 'parsed') t.skip('dist/spec is absent or from another YAML: run npm run build');
    else assert.equal(spec.source, 'derived');
  });
});

describe('standalone validators answer as Ajv does', () => {
  const parsed = loadApiSpec({ derivedDir: join(workspace, 'absent') });
  const derived = loadApiSpec({ derivedDir });
  assert.equal(parsed.source, 'parsed');
  assert.equal(derived.source, 'derived');
  const schemas = parsed.document.components.schemas as Record<
    string,
    { properties?: Record<string, unknown>; allOf?: unknown[] }
  >;
  const names = Object.keys(schemas);

  /** Member names a body of this schema may carry, following `$ref` and `allOf`. */
  function memberNames(schema: unknown, seen = new Set<unknown>()): string[] {
    if (!schema || typeof schema !== 'object' || seen.has(schema)) return [];
    seen.add(schema);
    const object = schema as {
      $ref?: string;
      properties?: Record<string, unknown>;
      allOf?: unknown[];
      items?: unknown;
    };
    const referenced = object.$ref ? memberNames(schemas[object.$ref.split('/').pop()!], seen) : [];
    return [
      ...referenced,
      ...Object.keys(object.properties ?? {}),
      ...(object.allOf ?? []).flatMap((part) => memberNames(part, seen)),
    ];
  }

  const text = (length: number) => 'a'.repeat(length);
  const interesting = fc.oneof(
    fc.constantFrom(
      'https://app.example.com/cb',
      'http://127.0.0.1:8080/cb',
      'http://example.com/cb',
      'com.example.app:/cb',
      'ftp://x',
      'javascript:alert(1)',
      'https://app.example.com/cb#fragment',
      'not a uri',
      '',
      ' ',
      text(255),
      text(256),
      text(2048),
      text(2049),
      'authorization_code',
      'client_credentials',
      'refresh_token',
      'implicit',
      'bearer',
      'code',
      'token',
      'web',
      'native',
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      'none',
      'update_application',
      'add_registration',
      'remove_registration',
      'openid profile',
      'scope\\bad',
      '6a1f7c52-3d0e-4b8a-9c51-0e2f4d7b9a33',
      'applied',
      'ignored',
      'ok',
      0,
      -1,
      1.5,
      2 ** 31,
      true,
      false,
      null,
      {},
      [],
    ),
    fc.array(
      fc.constantFrom('https://app.example.com/cb', 'ftp://x', 'authorization_code', 'code', '', text(2049), 1, null),
      { maxLength: 4 },
    ),
    fc.array(fc.constant('https://app.example.com/cb'), { minLength: 99, maxLength: 102 }),
    fc.jsonValue({ maxDepth: 2 }),
  );

  for (const name of names) {
    const members = [...new Set(memberNames(schemas[name]))];
    it(`${name}: the same answer and message for edge bodies`, () => {
      const edges: unknown[] = [
        {},
        null,
        [],
        'text',
        1,
        true,
        ...members.flatMap((member) => [
          { [member]: null },
          { [member]: 1 },
          { [member]: 'x' },
          { [member]: [] },
          { [member]: {} },
        ]),
      ];
      for (const body of edges)
        assert.equal(outcome(derived, name, body), outcome(parsed, name, body), `${name} ${JSON.stringify(body)}`);
      const body =
        members.length > 0
          ? fc.dictionary(fc.constantFrom(...members), interesting, { maxKeys: members.length })
          : fc.jsonValue({ maxDepth: 2 });
      fc.assert(
        fc.property(body, (candidate) => {
          assert.equal(
            outcome(derived, name, candidate),
            outcome(parsed, name, candidate),
            `${name} ${JSON.stringify(candidate)}`,
          );
        }),
        { numRuns: 300, seed: 13 },
      );
    });
  }

  it('the corpus reaches both answers: bodies accepted and refused with several messages', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...memberNames(schemas.Api7ClientMetadata)), interesting),
        (candidate) => {
          seen.add(outcome(parsed, 'Api7ClientMetadata', candidate));
        },
      ),
      { numRuns: 300, seed: 13 },
    );
    assert.ok(seen.has('ok'), 'some bodies pass');
    assert.ok(seen.size >= 6, `${seen.size} distinct answers`);
  });
});
