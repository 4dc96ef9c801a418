import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Emulator } from './framework.js';
import { SpecValidator, vendorSpecFile } from './spec-validator.js';
import { VirtualClock } from '../support/virtual-clock.js';

const CLIENTS = 'GET /admin/realms/:realm/clients';

describe('emulator framework', () => {
  const emulator = new Emulator({
    name: 'test',
    spec: SpecValidator.load(vendorSpecFile('keycloak/keycloak-26.0.0-admin-clients-subset.yaml')),
  });
  let calls = 0;
  before(async () => {
    emulator.route('GET', '/admin/realms/:realm/clients', () => {
      calls++;
      return { status: 200, body: [] };
    });
    emulator.route('POST', '/admin/realms/:realm/clients', () => ({ status: 201, headers: { Location: 'x' } }));
    emulator.route('GET', '/health', () => ({ status: 200, body: 'up' }), { spec: false });
    await emulator.start();
  });
  after(async () => {
    await emulator.stop();
  });

  it('serves HTTPS that Node trusts through NODE_EXTRA_CA_CERTS', async () => {
    const response = await fetch(`${emulator.url}/health`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'up');
  });

  it('records a spec violation and answers it with 400, so the test using it fails', async () => {
    const response = await fetch(`${emulator.url}/admin/realms/r/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 42 }),
    });
    assert.equal(response.status, 400);
    assert.equal(emulator.violations.length, 1);
    assert.match(emulator.violations[0]!, /clientId must be string/);
    assert.throws(() => emulator.assertNoViolations(), /1 spec violation/);
    emulator.violations.length = 0;
  });

  it('plays scripted faults on the nth call of a route, for as many calls as asked', async () => {
    emulator.injectFault({ route: CLIENTS, nth: 2, times: 2, status: 503, headers: { 'Retry-After': '1' } });
    const statuses: number[] = [];
    for (let index = 0; index < 4; index++)
      statuses.push((await fetch(`${emulator.url}/admin/realms/r/clients`)).status);
    assert.deepEqual(statuses, [200, 503, 503, 200]);
    assert.equal(emulator.requestsTo(CLIENTS).at(-2)?.outcome, 503);
    emulator.clearFaults();
  });

  it('adds latency and drops connections on demand', async () => {
    emulator.injectFault({ route: CLIENTS, latencyMs: 150 });
    const started = Date.now();
    assert.equal((await fetch(`${emulator.url}/admin/realms/r/clients`)).status, 200);
    assert.ok(Date.now() - started >= 140);
    emulator.injectFault({ route: CLIENTS, drop: true });
    const before = calls;
    await assert.rejects(fetch(`${emulator.url}/admin/realms/r/clients`), /fetch failed/);
    assert.equal(calls, before, 'a dropped call never reaches the handler');
    assert.equal(emulator.requestsTo(CLIENTS).at(-1)?.outcome, 'dropped');
  });

  it('refuses a fault for a route it does not have', () => {
    assert.throws(() => emulator.injectFault({ route: 'GET /nope' }), /has no route GET \/nope/);
  });

  it('counts a request to no route as a violation', async () => {
    assert.equal((await fetch(`${emulator.url}/admin/realms/r/users`)).status, 404);
    assert.match(emulator.violations.pop()!, /no route for GET \/admin\/realms\/r\/users/);
  });
});

describe('spec validator', () => {
  it('resolves Okta app polymorphism through the discriminator mapping', () => {
    const okta = SpecValidator.load(vendorSpecFile('okta/okta-management-apps-subset.yaml'));
    const app = {
      name: 'oidc_client',
      label: 'x',
      signOnMode: 'OPENID_CONNECT',
      credentials: { oauthClient: { token_endpoint_auth_method: 'client_secret_basic' } },
      settings: {
        oauthClient: { grant_types: ['client_credentials'], application_type: 'service', redirect_uris: [] },
      },
    };
    const request = {
      method: 'POST',
      path: '/api/v1/apps',
      query: new URLSearchParams(),
      contentType: 'application/json',
      hasBody: true,
    };
    assert.deepEqual(okta.validateRequest({ ...request, body: app }), []);
    const wrongGrant = structuredClone(app);
    wrongGrant.settings.oauthClient.grant_types = ['no_such_grant'];
    assert.ok(
      okta.validateRequest({ ...request, body: wrongGrant }).some((problem) => problem.includes('grant_types/0')),
    );
  });

  it('validates OpenAPI 3.1 documents (Auth0) with additionalProperties: false', () => {
    const auth0 = SpecValidator.load(vendorSpecFile('auth0/auth0-management-clients-subset.json'));
    const request = {
      method: 'POST',
      path: '/clients',
      query: new URLSearchParams(),
      contentType: 'application/json',
      hasBody: true,
    };
    assert.deepEqual(auth0.validateRequest({ ...request, body: { name: 'x', app_type: 'non_interactive' } }), []);
    assert.ok(
      auth0.validateRequest({ ...request, body: { name: 'x', client_secret: 'not allowed on create' } }).length > 0,
    );
  });

  it('matches OData key paths (Graph) and undeclared query parameters', () => {
    const graph = SpecValidator.load(vendorSpecFile('entra/graph-v1.0-applications-subset.openapi.json'));
    assert.equal(graph.match('GET', "/applications(appId='0000')")?.operationId, 'applications.getByAppId');
    const problems = graph.validateRequest({
      method: 'GET',
      path: '/applications',
      query: new URLSearchParams('$bogus=1'),
      hasBody: false,
      body: undefined,
    });
    assert.deepEqual(problems, ['GET /applications: query parameter $bogus is not in the spec']);
  });
});

describe('emulator framework, lost answers', () => {
  const emulator = new Emulator({ name: 'lost' });
  let handled = 0;
  before(async () => {
    emulator.route('POST', '/things', () => {
      handled++;
      return { status: 201, body: { id: handled } };
    });
    await emulator.start();
  });
  after(async () => {
    await emulator.stop();
  });

  afterEach(() => {
    emulator.clearFaults();
    emulator.useClock(undefined);
  });

  it('a caller that gives up during added latency never reaches the handler', async () => {
    // The latency and the caller's timeout run on one virtual clock: the 300 ms pass at once, the 50 ms timeout first.
    const clock = new VirtualClock();
    emulator.useClock(clock);
    const controller = new AbortController();
    clock.setTimer(() => controller.abort(), 50);
    emulator.injectFault({ route: 'POST /things', latencyMs: 300 });
    await assert.rejects(fetch(`${emulator.url}/things`, { method: 'POST', signal: controller.signal }));
    const request = emulator.requestsTo('POST /things').at(-1)!;
    // The hang-up reaches the emulator as a closed socket a few event-loop turns later.
    for (let turn = 0; turn < 500 && request.outcome !== 'dropped'; turn++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(request.outcome, 'dropped');
    assert.equal(handled, 0);
  });

  it('on a virtual clock, a caller more patient than the latency gets the answer, with no real wait', async () => {
    const clock = new VirtualClock();
    emulator.useClock(clock);
    const before = clock.now();
    emulator.injectFault({ route: 'POST /things', latencyMs: 60_000 });
    const response = await fetch(`${emulator.url}/things`, { method: 'POST' });
    assert.equal(response.status, 201);
    assert.equal(clock.now() - before, 60_000, 'the latency passed on the virtual clock');
    handled = 0;
  });

  it("'after-processing' acts on the request and then loses the answer", async () => {
    emulator.injectFault({ route: 'POST /things', drop: 'after-processing' });
    await assert.rejects(fetch(`${emulator.url}/things`, { method: 'POST' }), /fetch failed/);
    assert.equal(handled, 1);
  });
});
