/** `npm start` with DCR_DRIVER=auth0 against the Auth0 emulator over TLS, as `npm run emulator -- auth0` prints it. */
import { auth0DriverEnv, startAuth0Emulator } from '../emulators/auth0.js';
import { describeCompiledBridge } from './compiled-bridge.js';

describeCompiledBridge('the Auth0 emulator', async () => {
  const auth0 = await startAuth0Emulator();
  return {
    env: auth0DriverEnv(auth0),
    // Auth0's issuer ends with a slash.
    issuer: () => `${auth0.emulator.url}/`,
    secretWorks: (_publicUrl, clientId, secret) => auth0.secretWorks(clientId, secret),
    async stop() {
      await auth0.stop();
      auth0.emulator.assertNoViolations();
    },
  };
});
