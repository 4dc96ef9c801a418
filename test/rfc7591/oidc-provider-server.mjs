// node-oidc-provider run as a server of its own, for the rfc7591 driver's tests: nothing of the bridge is loaded here.
// RFC 7591 registration behind a static initial access token, RFC 7592 management that rotates the registration access
// token on every update, and the client-credentials grant (so a registered secret can be proven at /token).
// Started by test/rfc7591/oidc-provider.ts: `node oidc-provider-server.mjs` with PORT and INITIAL_ACCESS_TOKEN set; it
// prints `listening <issuer>` once it accepts connections.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    registration: {
      enabled: true,
      initialAccessToken: process.env.INITIAL_ACCESS_TOKEN,
      issueRegistrationAccessToken: true,
    },
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'api:read', 'api:write'],
  clientDefaults: {
    grant_types: ['client_credentials'],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  },
});
provider.on('server_error', (_ctx, error) => process.stderr.write(`server_error ${error?.message}\n`));
const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${issuer}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
