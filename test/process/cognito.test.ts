/**
 * `npm start` with DCR_DRIVER=cognito against the Cognito emulator over TLS, as `npm run emulator -- cognito` prints it:
 * the SDK's own `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` and its default credential chain (the environment's keys).
 */
import { startCognitoEmulator } from '../emulators/cognito.js';
import { describeCompiledBridge } from './compiled-bridge.js';

describeCompiledBridge(
  'the Cognito emulator',
  async () => {
    const cognito = await startCognitoEmulator();
    return {
      env: {
        DCR_DRIVER: 'cognito',
        COGNITO_USER_POOL_ID: cognito.userPoolId,
        AWS_REGION: cognito.region,
        AWS_ACCESS_KEY_ID: cognito.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: cognito.credentials.secretAccessKey,
        AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: cognito.emulator.url,
        COGNITO_DEFAULT_SCOPES: 'dcr-api/read',
      },
      issuer: () => `${cognito.emulator.url}/${cognito.userPoolId}`,
      secretWorks: (_publicUrl, clientId, secret) => cognito.secretWorks(clientId, secret),
      async stop() {
        await cognito.stop();
        cognito.emulator.assertNoViolations();
      },
    };
  },
  { operatorListing: true },
);
