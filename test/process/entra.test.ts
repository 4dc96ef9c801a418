/** `npm start` with DCR_DRIVER=entra against the Entra emulator over TLS, as `npm run emulator -- entra` prints it. */
import { startEntraEmulator } from '../emulators/entra.js';
import { describeCompiledBridge } from './compiled-bridge.js';

describeCompiledBridge('the Entra emulator', async () => {
  const entra = await startEntraEmulator();
  return {
    env: entra.driverEnv,
    issuer: () => `${entra.emulator.url}/${entra.tenantId}/v2.0`,
    secretWorks: (_publicUrl, clientId, secret) => entra.secretWorks(clientId, secret),
    reachSecretLimit: async (clientId) => entra.fillCollections(clientId),
    leaveSecretLimit: async (clientId) => entra.emptyCollections(clientId),
    async stop() {
      await entra.stop();
      entra.emulator.assertNoViolations();
    },
  };
});
