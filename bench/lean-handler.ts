/**
 * The "what a lean handler costs here" floor of `npm run bench -- konnect`: a Konnect register (`POST /`) doing as
 * little as a handler can on a lean stack — Fastify with its own JSON parsing, an API key compared, one undici pool
 * to Okta, one `POST /api/v1/apps` — and nothing else the bridge does (no schema validation, ownership mark, audit,
 * metrics, logging, retries or recovery). Written for this benchmark and never shipped. bench/konnect.ts runs it with
 * `npm start`'s V8 flags and OKTA_ORG_URL, OKTA_API_TOKEN and LEAN_API_KEY set; it prints its port once it listens.
 */
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { Pool } from 'undici';

interface KonnectRegister {
  client_name?: string;
  redirect_uris?: string[];
  grant_types?: string[];
  token_endpoint_auth_method?: string;
}

interface CreatedApp {
  id: string;
  created: string;
  credentials: { oauthClient: { client_id: string; client_secret?: string } };
}

const authorization = `SSWS ${process.env.OKTA_API_TOKEN}`;
const apiKey = process.env.LEAN_API_KEY;
const okta = new Pool(process.env.OKTA_ORG_URL!, { connections: 32 });
const app = Fastify({ logger: false });

app.post<{ Body: KonnectRegister }>('/', async (request, reply) => {
  if (request.headers['x-api-key'] !== apiKey) return reply.code(401).send({ error: 'unauthorized' });
  const { client_name: label = 'client', redirect_uris: redirects = [], grant_types: grants = [] } = request.body;
  const interactive = grants.includes('authorization_code');
  const answer = await okta.request({
    method: 'POST',
    path: '/api/v1/apps?activate=true',
    headers: { authorization, accept: 'application/json', 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'oidc_client',
      signOnMode: 'OPENID_CONNECT',
      label,
      credentials: {
        oauthClient: { token_endpoint_auth_method: request.body.token_endpoint_auth_method ?? 'client_secret_basic' },
      },
      settings: {
        oauthClient: {
          application_type: interactive ? 'web' : 'service',
          grant_types: interactive ? grants : ['client_credentials'],
          response_types: interactive ? ['code'] : ['token'],
          redirect_uris: redirects,
        },
      },
    }),
  });
  if (answer.statusCode !== 200) {
    await answer.body.dump();
    return reply.code(502).send({ error: 'idp_error' });
  }
  const created = (await answer.body.json()) as CreatedApp;
  return reply.code(201).send({
    client_id: created.credentials.oauthClient.client_id,
    client_secret: created.credentials.oauthClient.client_secret ?? '',
    client_id_issued_at: Math.floor(Date.parse(created.created) / 1000),
    client_secret_expires_at: 0,
  });
});

await app.listen({ host: '127.0.0.1', port: 0 });
console.log((app.server.address() as AddressInfo).port);
