/**
 * The IdP's discovery document (OpenID Connect Discovery, RFC 8414) as the bridge serves it: the driver's own
 * document, cached (src/discovery.ts), with `registration_endpoint` set to the bridge's — at the root, and at the
 * issuer's paths for clients that derive the URL from the issuer.
 */
import { Router, type RequestHandler } from 'express';
import type { DcrDriver } from '../driver/contract.js';
import { DiscoveryCache } from '../discovery.js';
import { BridgeError } from '../errors.js';
import type { Logger } from '../logging.js';
import { sendError } from './errors.js';
import { labelRoute } from './request-context.js';

export interface DiscoveryDocumentsDependencies {
  driver: DcrDriver;
  logger: Logger;
  /** The bridge's RFC 7591 endpoint, written into every document served. */
  registrationEndpoint: string;
  /** `DCR_DISCOVERY_TTL_SECONDS`. */
  ttlSeconds: number;
}

export function discoveryDocumentsRouter({
  driver,
  logger,
  registrationEndpoint,
  ttlSeconds,
}: DiscoveryDocumentsDependencies): Router {
  const router = Router();
  if (!driver.fetchDiscoveryDocument) {
    // A fork's driver that publishes no discovery URL: say so rather than fall through to the portal dialects.
    router.get(
      ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'],
      labelRoute,
      (_req, res) => {
        sendError(
          res,
          new BridgeError(
            404,
            'invalid_request',
            `The ${driver.name} driver publishes no discovery document; configure clients with the IdP's endpoints.`,
          ),
        );
      },
    );
    return router;
  }
  const discovery = new DiscoveryCache({
    fetchDocument: () => driver.fetchDiscoveryDocument!(),
    ttlMs: ttlSeconds * 1000,
    onRefreshFailed: (error) =>
      logger.warn('discovery document refresh failed; serving the cached one', {
        error: error instanceof BridgeError ? error.code : 'server_error',
      }),
  });

  const serveDiscovery: RequestHandler = async (_req, res) => {
    const document = await discovery.get();
    res
      .set('Cache-Control', `public, max-age=${Math.min(ttlSeconds, 300)}`)
      .json({ ...document, registration_endpoint: registrationEndpoint });
  };

  // Behind a path (a connection's, or a proxy's that strips it), requests arrive without the public URL's path.
  const publicPath = new URL(registrationEndpoint).pathname.replace(/\/register$/, '');

  /** `{issuer path}/.well-known/openid-configuration` and RFC 8414 `/.well-known/oauth-authorization-server{issuer path}`. */
  const serveDiscoveryAtIssuerPath: RequestHandler = async (req, res, next) => {
    const issuerPath = new URL(String((await discovery.get()).issuer)).pathname.replace(/\/+$/, '');
    const arrivingPath =
      publicPath !== '' && issuerPath.startsWith(`${publicPath}/`) ? issuerPath.slice(publicPath.length) : issuerPath;
    const atIssuer =
      issuerPath !== '' &&
      (req.path === `${arrivingPath}/.well-known/openid-configuration` ||
        req.path === `/.well-known/oauth-authorization-server${issuerPath}`);
    if (!atIssuer) return next();
    res.locals.route = req.path.startsWith('/.well-known/')
      ? '/.well-known/oauth-authorization-server/{issuer_path}'
      : '/{issuer_path}/.well-known/openid-configuration';
    return serveDiscovery(req, res, next);
  };

  router.get('/.well-known/openid-configuration', labelRoute, serveDiscovery);
  router.get('/.well-known/oauth-authorization-server', labelRoute, serveDiscovery);
  router.get(/\/\.well-known\/(openid-configuration|oauth-authorization-server\/.+)$/, serveDiscoveryAtIssuerPath);
  return router;
}
