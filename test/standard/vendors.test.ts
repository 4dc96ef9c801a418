/**
 * A client that speaks only RFC 7591/7592 registers, reads, updates and deletes clients at each vendor through the
 * bridge: the real vendor driver over TLS against its emulator, the standard dialect in front. The IdP's own
 * discovery document is served with the bridge's registration endpoint, and the secrets really authenticate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, startStandardBridge, type StandardBridge } from './support.js';
import { vendors, type VendorIdp } from './vendor-idps.js';

const service = {
  client_name: 'standard service',
  redirect_uris: ['https://app.example.com/cb'],
  grant_types: ['authorization_code', 'client_credentials'],
};

for (const [name, start] of Object.entries(vendors)) {
  describe(`standard DCR in front of ${name}`, () => {
    let idp: VendorIdp;
    let bridge: StandardBridge;
    before(async () => {
      idp = await start();
      bridge = await startStandardBridge(async () => idp.driver, {
        openRegistration: {
          grantTypes: ['authorization_code', 'refresh_token'],
          tokenEndpointAuthMethods: ['none'],
          perAddressPerHour: 1000,
          maxClients: 1000,
        },
      });
    });
    after(async () => {
      await bridge?.stop();
      await idp?.stop();
    });

    it('registers, reads, updates (rotating the registration token) and deletes a client that really authenticates', async () => {
      const created = await call(bridge.url, 'POST', '/register', bridge.apiKey, service);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const clientId = created.body.client_id as string;
      const secret = created.body.client_secret as string;
      const token = created.body.registration_access_token as string;
      const path = new URL(created.body.registration_client_uri as string).pathname;
      assert.equal(path, `/register/${encodeURIComponent(clientId)}`);
      assert.equal(await idp.secretWorks(clientId, secret), true, 'the issued secret authenticates at the IdP');

      const read = await call(bridge.url, 'GET', path, token);
      assert.equal(read.status, 200);
      assert.equal(read.body.client_secret, undefined);
      assert.equal(read.body.client_name, 'standard service');
      assert.deepEqual(read.body.redirect_uris, service.redirect_uris);

      const refusedSecret = await call(bridge.url, 'PUT', path, token, {
        ...service,
        client_id: clientId,
        client_secret: 'chosen-by-the-client',
      });
      assert.equal(refusedSecret.status, 400);
      assert.equal(refusedSecret.body.error, 'invalid_client_metadata');

      const updated = await call(bridge.url, 'PUT', path, token, {
        ...service,
        client_id: clientId,
        client_secret: secret,
        client_name: 'renamed',
        redirect_uris: ['https://new.example.com/cb'],
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      assert.equal(updated.body.client_name, 'renamed');
      assert.deepEqual(updated.body.redirect_uris, ['https://new.example.com/cb']);
      const rotatedToken = updated.body.registration_access_token as string;
      assert.notEqual(rotatedToken, token);
      assert.equal((await call(bridge.url, 'GET', path, token)).status, 401, 'the old registration token is dead');
      const reread = await call(bridge.url, 'GET', path, rotatedToken);
      assert.equal(reread.status, 200);
      assert.equal(reread.body.client_name, 'renamed');
      assert.equal(await idp.secretWorks(clientId, secret), true, 'an update keeps the secret');

      const other = await call(bridge.url, 'POST', '/register', bridge.apiKey, service);
      assert.equal(
        (await call(bridge.url, 'GET', path, other.body.registration_access_token as string)).status,
        401,
        "another client's token opens nothing",
      );

      assert.equal((await call(bridge.url, 'DELETE', path, rotatedToken)).status, 204);
      const afterDelete = await call(bridge.url, 'GET', path, rotatedToken);
      assert.equal(afterDelete.status, 401);
      assert.equal(afterDelete.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      assert.equal(await idp.secretWorks(clientId, secret), false, 'the client is gone at the IdP');
    });

    it('open registration: a public loopback client without a token, marked at the IdP, listed and purged by the operator', async () => {
      const open = await call(bridge.url, 'POST', '/register', undefined, {
        client_name: 'mcp',
        redirect_uris: ['http://localhost:53682/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
      });
      assert.equal(open.status, 201, JSON.stringify(open.body));
      assert.equal(open.body.client_secret, undefined);
      const portal = await call(bridge.url, 'POST', '/register', bridge.apiKey, service);
      const headers = { 'x-api-key': bridge.apiKey };
      const listed = (await (await fetch(`${bridge.url}/admin/open-registrations`, { headers })).json()) as {
        client_ids: string[];
      };
      assert.deepEqual(listed.client_ids, [open.body.client_id]);
      const purged = (await (
        await fetch(`${bridge.url}/admin/open-registrations`, { method: 'DELETE', headers })
      ).json()) as { deleted: number };
      assert.equal(purged.deleted, 1);
      assert.equal(
        (
          await call(
            bridge.url,
            'GET',
            new URL(open.body.registration_client_uri as string).pathname,
            open.body.registration_access_token as string,
          )
        ).status,
        401,
      );
      assert.equal(
        (
          await call(
            bridge.url,
            'GET',
            new URL(portal.body.registration_client_uri as string).pathname,
            portal.body.registration_access_token as string,
          )
        ).status,
        200,
      );
    });

    it("serves the IdP's own discovery document with the bridge's registration endpoint", async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const discovery = await call(bridge.url, 'GET', path);
        assert.equal(discovery.status, 200);
        assert.equal(discovery.body.issuer, idp.issuer);
        assert.equal(discovery.body.registration_endpoint, `${bridge.url}/register`);
        assert.ok(
          String(discovery.body.token_endpoint).startsWith(new URL(idp.issuer).origin),
          "the token endpoint stays the IdP's",
        );
      }
    });
  });
}
