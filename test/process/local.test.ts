/** `npm start` on a fresh machine: the embedded local IdP (the default driver), its secrets tried at its own token endpoint. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientCredentialsWork, describeCompiledBridge } from './compiled-bridge.js';

describeCompiledBridge('the local IdP', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dcr-process-local-'));
  return {
    // No DCR_DRIVER: the local driver is what a bare npm start runs.
    env: { DCR_LOCAL_DATA_DIR: dataDir, DCR_LOCAL_MAX_SECRETS: '3' },
    maxSecrets: 3,
    issuer: (publicUrl) => `${publicUrl}/local-idp`,
    secretWorks: (publicUrl, clientId, secret) =>
      clientCredentialsWork(`${publicUrl}/local-idp/token`, clientId, secret),
    stop: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
});
