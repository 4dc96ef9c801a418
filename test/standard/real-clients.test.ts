/**
 * Standard DCR as real clients nobody here wrote speak it: oauth4webapi, openid-client v6 and the MCP TypeScript SDK
 * discover, register and (at the local IdP) obtain a token — against the local driver and each vendor on its emulator.
 *
 * The `issuer` question: the bridge serves the IdP's document, whose `issuer` is the IdP's. A client that checks it
 * against the URL it discovered from passes when it discovers from the issuer's own URL: at the local IdP that is the
 * bridge itself (`{bridge}/local-idp`); in front of a vendor it is the IdP's host, where a reverse proxy routes the
 * well-known paths to the bridge (simulated here by a fetch that forwards them), or a client told the IdP's issuer
 * and the bridge's discovery URL separately (oauth4webapi's `processDiscoveryResponse(expectedIssuer, …)`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { discoverAuthorizationServerMetadata, registerClient } from '@modelcontextprotocol/sdk/client/auth.js';
import * as openid from 'openid-client';
import * as oauth from 'oauth4webapi';
import { call, localDriver, startStandardBridge, type StandardBridge } from './support.js';
import { vendors, type VendorIdp } from './vendor-idps.js';

const openPolicy = {
  grantTypes: ['authorization_code', 'refresh_token'],
  tokenEndpointAuthMethods: ['none'],
  perAddressPerHour: 1000,
  maxClients: 1000,
};
const insecure = { [oauth.allowInsecureRequests]: true };

/** A reverse proxy on the IdP's host that sends the well-known paths to the bridge and everything else to the IdP. */
function proxyWellKnownTo(bridgeUrl: string): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname.includes('/.well-known/')) return fetch(`${bridgeUrl}${url.pathname}`, init);
    return fetch(input, init);
  };
}

const mcpMetadata = {
  client_name: 'an MCP client',
  redirect_uris: ['http://localhost:53682/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};

describe('real clients against the local IdP', () => {
  let bridge: StandardBridge;
  let issuer: URL;
  before(async () => {
    bridge = await startStandardBridge(localDriver, { openRegistration: openPolicy });
    issuer = new URL(`${bridge.url}/local-idp`);
  });
  after(() => bridge.stop());

  it('oauth4webapi: OIDC and RFC 8414 discovery pass its issuer check; it registers and the client gets a token', async () => {
    for (const algorithm of ['oidc', 'oauth2'] as const) {
      const as = await oauth.processDiscoveryResponse(
        issuer,
        await oauth.discoveryRequest(issuer, { algorithm, ...insecure }),
      );
      assert.equal(as.registration_endpoint, `${bridge.url}/register`);
      const response = await oauth.dynamicClientRegistrationRequest(
        as,
        { client_name: `oauth4webapi ${algorithm}`, grant_types: ['client_credentials'] },
        { initialAccessToken: bridge.apiKey, ...insecure },
      );
      const registered = await oauth.processDynamicClientRegistrationResponse(response);
      assert.equal(typeof registered.client_secret, 'string');
      assert.equal(typeof registered.registration_access_token, 'string');
      const client: oauth.Client = { client_id: registered.client_id };
      const tokenResponse = await oauth.clientCredentialsGrantRequest(
        as,
        client,
        oauth.ClientSecretBasic(registered.client_secret as string),
        new URLSearchParams(),
        insecure,
      );
      const tokens = await oauth.processClientCredentialsResponse(as, client, tokenResponse);
      assert.equal(tokens.token_type, 'bearer');
      assert.ok(tokens.access_token.length > 20);
    }
  });

  it('oauth4webapi: a registration refused by the bridge surfaces as the RFC 7591 error', async () => {
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    const response = await oauth.dynamicClientRegistrationRequest(
      as,
      { redirect_uris: ['http://app.example.com/cb'] },
      { initialAccessToken: bridge.apiKey, ...insecure },
    );
    await assert.rejects(oauth.processDynamicClientRegistrationResponse(response), (error: unknown) => {
      assert.ok(error instanceof oauth.ResponseBodyError);
      assert.equal(error.error, 'invalid_redirect_uri');
      return true;
    });
  });

  it('openid-client: dynamicClientRegistration, then a client_credentials token from the local IdP with the new client', async () => {
    const config = await openid.dynamicClientRegistration(
      issuer,
      {
        client_name: 'openid-client',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_post',
      },
      undefined,
      {
        initialAccessToken: bridge.apiKey,
        execute: [openid.allowInsecureRequests],
      },
    );
    const metadata = config.clientMetadata();
    assert.equal(typeof metadata.client_secret, 'string');
    const tokens = await openid.clientCredentialsGrant(config);
    assert.ok(tokens.access_token.length > 20);
    // The registration it kept works for RFC 7592: the client reads itself with the registration access token.
    const read = await call(
      bridge.url,
      'GET',
      new URL(metadata.registration_client_uri as string).pathname,
      metadata.registration_access_token as string,
    );
    assert.equal(read.status, 200);
    assert.equal(read.body.client_id, metadata.client_id);
  });

  it('MCP SDK: discovers the authorization server from the bridge or the issuer and registers itself openly', async () => {
    for (const url of [bridge.url, issuer.href]) {
      const metadata = await discoverAuthorizationServerMetadata(url);
      assert.ok(metadata, url);
      assert.equal(metadata.registration_endpoint, `${bridge.url}/register`);
      const registered = await registerClient(url, { metadata, clientMetadata: mcpMetadata });
      assert.equal(typeof registered.client_id, 'string');
      assert.equal(registered.client_secret, undefined);
      assert.deepEqual(registered.redirect_uris, mcpMetadata.redirect_uris);
    }
    const listed = (await (
      await fetch(`${bridge.url}/admin/open-registrations`, { headers: { 'x-api-key': bridge.apiKey } })
    ).json()) as { client_ids: string[] };
    assert.equal(listed.client_ids.length, 2, 'both self-registrations are marked as open');
  });
});

for (const [name, start] of Object.entries(vendors)) {
  describe(`real clients through the bridge in front of ${name}`, () => {
    let idp: VendorIdp;
    let bridge: StandardBridge;
    before(async () => {
      idp = await start();
      bridge = await startStandardBridge(async () => idp.driver, { openRegistration: openPolicy });
    });
    after(async () => {
      await bridge?.stop();
      await idp?.stop();
    });

    it("oauth4webapi: discovery at the bridge checked against the IdP's issuer, registration, a secret the IdP accepts", async () => {
      const as = await oauth.processDiscoveryResponse(
        new URL(idp.issuer),
        await oauth.discoveryRequest(new URL(bridge.url), { algorithm: 'oauth2', ...insecure }),
      );
      assert.equal(as.registration_endpoint, `${bridge.url}/register`);
      const response = await oauth.dynamicClientRegistrationRequest(
        as,
        {
          client_name: 'oauth4webapi',
          grant_types: ['client_credentials', 'authorization_code'],
          redirect_uris: ['https://app.example.com/cb'],
        },
        { initialAccessToken: bridge.apiKey, ...insecure },
      );
      const registered = await oauth.processDynamicClientRegistrationResponse(response);
      assert.equal(await idp.secretWorks(registered.client_id, registered.client_secret as string), true);
    });

    it("openid-client: dynamicClientRegistration at the IdP's issuer, its well-known paths proxied to the bridge", async () => {
      const config = await openid.dynamicClientRegistration(
        new URL(idp.issuer),
        {
          client_name: 'openid-client',
          grant_types: ['client_credentials', 'authorization_code'],
          redirect_uris: ['https://app.example.com/cb'],
        },
        undefined,
        {
          initialAccessToken: bridge.apiKey,
          execute: [openid.allowInsecureRequests],
          [openid.customFetch]: proxyWellKnownTo(bridge.url),
        },
      );
      assert.equal(
        config.serverMetadata().issuer,
        idp.issuer,
        "openid-client accepted the document for the IdP's issuer",
      );
      const metadata = config.clientMetadata();
      assert.equal(await idp.secretWorks(metadata.client_id, metadata.client_secret as string), true);
    });

    it('MCP SDK: discovery and open self-registration', async () => {
      const metadata = await discoverAuthorizationServerMetadata(bridge.url);
      assert.ok(metadata);
      assert.equal(metadata.issuer, idp.issuer);
      const registered = await registerClient(bridge.url, { metadata, clientMetadata: mcpMetadata });
      assert.equal(typeof registered.client_id, 'string');
      assert.equal(registered.client_secret, undefined);
      const listed = (await (
        await fetch(`${bridge.url}/admin/open-registrations`, { headers: { 'x-api-key': bridge.apiKey } })
      ).json()) as { client_ids: string[] };
      assert.deepEqual(listed.client_ids, [registered.client_id], 'the IdP holds it, marked as open-registered');
    });
  });
}
