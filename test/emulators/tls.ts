/**
 * A test certificate authority and a server certificate for 127.0.0.1/localhost, made once and kept in
 * `.test-ca/` (git-ignored). Node reads `NODE_EXTRA_CA_CERTS` only at start, so test/run.ts makes the CA before it
 * starts the test processes, and the standalone emulator CLI prints the file to trust. The emulators keep their other
 * costly material there too (`keptTestFile`): their own RSA keys, and the vendor specs parsed from YAML.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';

export interface TestTls {
  caFile: string;
  ca: string;
  cert: string;
  key: string;
}

export const defaultTestCaDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../.test-ca');

/** Where the test material is kept: `DCR_TEST_CA_DIR`, else `.test-ca/`. */
const testCaDir = () => process.env.DCR_TEST_CA_DIR ?? defaultTestCaDir;

export function ensureTestTls(dir = testCaDir()): TestTls {
  const files = {
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server-key.pem'),
  };
  if (!existsSync(files.caFile) || !existsSync(files.certFile) || !existsSync(files.keyFile)) {
    mkdirSync(dir, { recursive: true });
    const made = makeCertificates();
    // Written beside and renamed, so a concurrent reader never sees half a file.
    for (const [file, content] of [
      [files.keyFile, made.key],
      [files.certFile, made.cert],
      [files.caFile, made.ca],
    ] as const) {
      writeBeside(file, content);
    }
  }
  return {
    caFile: files.caFile,
    ca: readFileSync(files.caFile, 'utf8'),
    cert: readFileSync(files.certFile, 'utf8'),
    key: readFileSync(files.keyFile, 'utf8'),
  };
}

/** Written beside and renamed, so a concurrent reader never sees half a file. */
function writeBeside(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, content, { mode: 0o600 });
  renameSync(temporary, file);
}

/**
 * The content of `.test-ca/<name>`, made by `make` the first time (or again when `stillGood` refuses what is kept).
 * For what costs an emulator's start most and need not differ between runs: an RSA key takes 0.1–1.5 s to generate
 * here, a vendor spec's YAML 0.6 s to parse. Two processes that make it at once each write a whole file; one wins.
 */
export function keptTestFile(
  name: string,
  make: () => string,
  stillGood: (content: string) => boolean = () => true,
): string {
  const file = join(testCaDir(), name);
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8');
    if (stillGood(kept)) return kept;
  }
  const made = make();
  mkdirSync(dirname(file), { recursive: true });
  writeBeside(file, made);
  return made;
}

/** A 2048-bit RSA private key (PKCS#8 PEM) for an emulator's own use, kept under `name`. */
export function keptTestKey(name: string): string {
  return keptTestFile(name, () =>
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  );
}

/** The key of a content-addressed kept file: the first 32 hex digits of its source's SHA-256. */
export function contentKey(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 32);
}

function makeCertificates(): { ca: string; cert: string; key: string } {
  const caKeys = keyPair();
  const caCert = forge.pki.createCertificate();
  caCert.publicKey = caKeys.publicKey;
  caCert.serialNumber = serial();
  setValidity(caCert);
  const caSubject = [{ name: 'commonName', value: 'dcr-bridge test CA' }];
  caCert.setSubject(caSubject);
  caCert.setIssuer(caSubject);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(caKeys.privateKey, forge.md.sha256.create());

  const serverKeys = keyPair();
  const serverCert = forge.pki.createCertificate();
  serverCert.publicKey = serverKeys.publicKey;
  serverCert.serialNumber = serial();
  setValidity(serverCert);
  serverCert.setSubject([{ name: 'commonName', value: 'localhost' }]);
  serverCert.setIssuer(caSubject);
  serverCert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
      ],
    },
  ]);
  serverCert.sign(caKeys.privateKey, forge.md.sha256.create());

  return {
    ca: forge.pki.certificateToPem(caCert),
    cert: forge.pki.certificateToPem(serverCert),
    key: forge.pki.privateKeyToPem(serverKeys.privateKey),
  };
}

function keyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey } {
  // Node's key generation is native and fast; forge only assembles the certificates.
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKey: forge.pki.publicKeyFromPem(publicKey), privateKey: forge.pki.privateKeyFromPem(privateKey) };
}

function serial(): string {
  // Positive: the top bit clear.
  return (randomBytes(16)[0]! & 0x7f).toString(16).padStart(2, '0') + randomBytes(15).toString('hex');
}

function setValidity(certificate: forge.pki.Certificate): void {
  certificate.validity.notBefore = new Date(Date.now() - 24 * 3600 * 1000);
  certificate.validity.notAfter = new Date(Date.now() + 5 * 365 * 24 * 3600 * 1000);
}
