/**
 * One vendor emulator in a process of its own, forked by bench/support.ts: the bridge, the emulator and the load
 * generator then each have their own CPU account. Sends what the bridge and the direct path need once it listens,
 * then answers how many admin token requests it has served; stops when the parent disconnects.
 */
import { auth0DriverEnv, startAuth0Emulator } from '../test/emulators/auth0.js';
import { cognitoEmulator } from '../test/emulators/cognito.js';
import { startEntraEmulator } from '../test/emulators/entra.js';
import { startKeycloakEmulator } from '../test/emulators/keycloak.js';
import { startOktaEmulator } from '../test/emulators/okta.js';
import { startOidcProvider } from '../test/rfc7591/oidc-provider.js';

export interface StartedEmulator {
  url: string;
  /** The variables `npm start` needs for this vendor's driver. */
  bridgeEnv: Record<string, string>;
  /** What the direct path needs to call the IdP itself (its own credentials). */
  direct: Record<string, string>;
  /** The IdP's own process, when it is not this one (node-oidc-provider runs as a server of its own): "emu" reads it. */
  pid?: number;
}

interface Running extends StartedEmulator {
  tokenRequests(): number;
  stop(): Promise<void>;
}

const unlimited = 1_000_000;

const starters: Record<string, () => Promise<Running>> = {
  async okta() {
    const okta = await startOktaEmulator({ tokenLifetimeSeconds: 3600, rateLimitPerMinute: unlimited });
    const { clientId, privateKeyPem, keyId } = okta.serviceApp;
    return {
      url: okta.emulator.url,
      // The OAuth service app, the mode Okta recommends.
      bridgeEnv: {
        DCR_DRIVER: 'okta',
        OKTA_ORG_URL: okta.emulator.url,
        OKTA_CLIENT_ID: clientId,
        OKTA_KEY_ID: keyId,
        OKTA_PRIVATE_KEY: privateKeyPem,
      },
      direct: { apiToken: okta.apiToken },
      tokenRequests: () => okta.tokenRequests(),
      stop: () => okta.stop(),
    };
  },
  async auth0() {
    const auth0 = await startAuth0Emulator({ tokenLifetimeSeconds: 86_400, rateLimitPerMinute: unlimited });
    return {
      url: auth0.emulator.url,
      bridgeEnv: auth0DriverEnv(auth0),
      direct: {
        managementAudience: auth0.managementAudience,
        clientId: auth0.adminClient.clientId,
        clientSecret: auth0.adminClient.clientSecret,
        apiAudience: auth0.apiAudience,
      },
      tokenRequests: () => auth0.tokenRequests(),
      stop: () => auth0.stop(),
    };
  },
  async keycloak() {
    const keycloak = await startKeycloakEmulator({ tokenLifetimeSeconds: 3600 });
    return {
      url: keycloak.emulator.url,
      bridgeEnv: { DCR_DRIVER: 'keycloak', ...keycloak.driverEnv },
      direct: { realm: keycloak.realm, ...keycloak.serviceAccount },
      tokenRequests: () => keycloak.emulator.requestsTo('POST /realms/:realm/protocol/openid-connect/token').length,
      stop: () => keycloak.emulator.stop(),
    };
  },
  async entra() {
    const entra = await startEntraEmulator({});
    const env = entra.driverEnv;
    return {
      url: entra.emulator.url,
      bridgeEnv: env,
      direct: {
        tenantId: env.ENTRA_TENANT_ID!,
        clientId: env.ENTRA_CLIENT_ID!,
        clientSecret: env.ENTRA_CLIENT_SECRET!,
      },
      tokenRequests: () => entra.emulator.requestsTo('POST /:tenant/oauth2/v2.0/token').length,
      stop: () => entra.emulator.stop(),
    };
  },
  async cognito() {
    const { emulator, driverEnv } = await cognitoEmulator.start({});
    return {
      url: emulator.url,
      bridgeEnv: driverEnv,
      // The SDK's own variables: the direct path is the AWS SDK too (AWS JSON calls are SigV4-signed).
      direct: driverEnv,
      // The driver signs its calls (SigV4); there is no admin token.
      tokenRequests: () => 0,
      stop: () => emulator.stop(),
    };
  },
  // node-oidc-provider as the tests run it (test/rfc7591/oidc-provider.ts): a server in a process of its own, plain
  // HTTP on 127.0.0.1, registrations with a static initial access token.
  async rfc7591() {
    const idp = await startOidcProvider();
    return {
      url: idp.issuer,
      bridgeEnv: {
        DCR_DRIVER: 'rfc7591',
        RFC7591_ISSUER: idp.issuer,
        RFC7591_INITIAL_ACCESS_TOKEN: idp.initialAccessToken,
      },
      direct: { registrationEndpoint: idp.registrationEndpoint, initialAccessToken: idp.initialAccessToken },
      pid: idp.pid,
      tokenRequests: () => 0,
      stop: () => idp.stop(),
    };
  },
};

export const emulatorNames = Object.keys(starters);

if (process.send && process.argv[2] && process.argv[2] in starters) {
  const running = await starters[process.argv[2]]!();
  const { url, bridgeEnv, direct, pid } = running;
  process.send({
    type: 'started',
    value: { url, bridgeEnv, direct, ...(pid === undefined ? {} : { pid }) } satisfies StartedEmulator,
  });
  process.on('message', (message: { id: number; type: 'tokenRequests' }) => {
    if (message.type === 'tokenRequests')
      process.send!({ type: 'answer', id: message.id, value: running.tokenRequests() });
  });
  process.once('disconnect', () => void running.stop().finally(() => process.exit(0)));
}
