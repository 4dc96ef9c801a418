/** `npm start` with DCR_DRIVER=keycloak against the Keycloak emulator over TLS, with the variables the emulator gives. */
import { startKeycloakEmulator } from '../emulators/keycloak.js';
import { clientCredentialsWork, describeCompiledBridge } from './compiled-bridge.js';

describeCompiledBridge('the Keycloak emulator', async () => {
  const keycloak = await startKeycloakEmulator();
  const realmUrl = `${keycloak.emulator.url}/realms/${keycloak.realm}`;
  return {
    env: { DCR_DRIVER: 'keycloak', ...keycloak.driverEnv },
    issuer: () => realmUrl,
    secretWorks: (_publicUrl, clientId, secret) =>
      clientCredentialsWork(`${realmUrl}/protocol/openid-connect/token`, clientId, secret),
    async stop() {
      await keycloak.stop();
      keycloak.emulator.assertNoViolations();
    },
  };
});
