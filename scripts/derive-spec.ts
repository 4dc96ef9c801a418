/**
 * The build's last step (`npm run build`): derives from spec/openapi.yaml the JSON document and the Ajv standalone
 * validators the start uses while they match the YAML's sha256 (src/http/spec.ts), written to dist/spec/.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deriveApiSpec, derivedFileNames } from '../src/http/spec.js';
import { apiSpecPath, derivedApiSpecDir } from '../src/paths.js';

const derived = deriveApiSpec(readFileSync(apiSpecPath, 'utf8'));
mkdirSync(derivedApiSpecDir, { recursive: true });
writeFileSync(join(derivedApiSpecDir, derivedFileNames.document), derived.document);
writeFileSync(join(derivedApiSpecDir, derivedFileNames.validators), derived.validators);
console.log(
  `derive-spec: ${join('dist', 'spec')}/{${derivedFileNames.document},${derivedFileNames.validators}} from spec/openapi.yaml`,
);
