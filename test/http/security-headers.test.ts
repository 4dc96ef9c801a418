/**
 * Helmet's headers are worked out once at start and set on each answer: the same headers, values and order as helmet
 * itself sets them, on the bridge's own answers too; a middleware whose headers depend on the request is left as it is.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import request from 'supertest';
import { precomputedHeaders } from '../../src/http/security-headers.js';
import { createObservedApp, type ObservedApp } from './helpers.js';

/** The bridge's helmet options (src/app.ts). */
const bridgeHelmet = () => helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } });

/** The answer's headers in the order they were sent, without the date. */
async function headersOf(step: RequestHandler): Promise<string[][]> {
  const app = express();
  app.use(step);
  app.get('/', (_req, res) => res.json({}));
  const { res } = (await request(app).get('/').expect(200)) as unknown as { res: { rawHeaders: string[] } };
  const pairs: string[][] = [];
  for (let index = 0; index < res.rawHeaders.length; index += 2)
    if (res.rawHeaders[index]!.toLowerCase() !== 'date')
      pairs.push([res.rawHeaders[index]!, res.rawHeaders[index + 1]!]);
  return pairs;
}

describe('security headers worked out once', () => {
  it("replays helmet's headers: the same names, values and order", async () => {
    const middleware = bridgeHelmet();
    const precomputed = precomputedHeaders(middleware);
    assert.notEqual(precomputed, middleware, "helmet's middleware is replayed, not run per request");
    assert.deepEqual(await headersOf(precomputed), await headersOf(bridgeHelmet()));
  });

  it('leaves a middleware that reads the request, or does anything but set headers, as it is', () => {
    const readsRequest: RequestHandler = (req, res, next) => {
      res.setHeader('X-Echo', String(req.headers['x-echo']));
      next();
    };
    assert.equal(precomputedHeaders(readsRequest), readsRequest);
    const sendsStatus: RequestHandler = (_req, res, next) => {
      res.status(200);
      next();
    };
    assert.equal(precomputedHeaders(sendsStatus), sendsStatus);
    const defers: RequestHandler = (_req, res, next) => {
      res.setHeader('X-Later', '1');
      setImmediate(next);
    };
    assert.equal(precomputedHeaders(defers), defers);
  });

  describe("on the bridge's answers", () => {
    let bridge: ObservedApp;
    before(async () => {
      bridge = await createObservedApp();
    });
    after(() => bridge.close());

    it("a client answer and an unauthenticated one carry helmet's headers", async () => {
      const expected = Object.fromEntries(
        (await headersOf(bridgeHelmet())).filter(([name]) => !/^(content-|etag|connection|keep-alive)/i.test(name!)),
      );
      for (const answer of [
        await request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey).send({ client_name: 'h' }),
        await request(bridge.app).get('/clients/nobody'),
      ])
        for (const [name, value] of Object.entries(expected))
          assert.equal(answer.headers[name!.toLowerCase()], value, `${answer.status}: ${name}`);
    });
  });
});
