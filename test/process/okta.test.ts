/** `npm start` with DCR_DRIVER=okta against the Okta emulator over TLS, as `npm run emulator -- okta` prints it. */
import { startOktaEmulator } from '../emulators/okta.js';
import { describeCompiledBridge } from './compiled-bridge.js';

describeCompiledBridge('the Okta emulator', async () => {
  const okta = await startOktaEmulator();
  return {
    env: { DCR_DRIVER: 'okta', OKTA_ORG_URL: okta.emulator.url, OKTA_API_TOKEN: okta.apiToken },
    issuer: () => okta.emulator.url,
    secretWorks: (_publicUrl, clientId, secret) => okta.secretWorks(clientId, secret),
    async stop() {
      await okta.stop();
      okta.emulator.assertNoViolations();
    },
  };
});
