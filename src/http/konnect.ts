/**
 * The Kong Konnect dialect (custom HTTP DCR provider, Kong's "DCR Handler" contract) at the root. Konnect halts its
 * flow on any non-2xx, so unknown fields, Konnect auth-method names and unknown event types are tolerated.
 */
import { randomBytes } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import { BridgeError, IdpUnavailableError } from '../errors.js';
import {
  checkRedirectUri,
  konnectClientToWire,
  konnectContextFromWire,
  konnectMetadataFromWire,
  type KonnectClientBody,
} from '../metadata.js';
import type { DialectDependencies } from './api7.js';
import { clientIdParam, jsonBodySteps, validateClientId } from './body.js';
import { refuseBridgePathAsClientId } from './paths.js';
import { labelRoute } from './request-context.js';
import { secretRoutes, validateSecretId } from './secrets.js';

interface KonnectEventBody {
  event_type: string;
  redirect_uris?: string[];
  application_name?: string;
  api_product_version_id?: string;
  audience?: string;
}

/**
 * Konnect's provider check registers with placeholder ids. It must learn whether the IdP works with the bridge's
 * credentials, but every check would otherwise leave a real client behind.
 */
export const verificationProbePortalId = 'test portal_id';
export const verificationProbeClientId = 'dcr-bridge-verification-probe';

/** Event types are caller input; only a plain token reaches a log line. */
function loggableEventType(eventType: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(eventType) ? eventType : '(unprintable)';
}

export function konnectRouter({ driver, events, spec, bodyLimitBytes, pending }: DialectDependencies): Router {
  const router = Router();
  const jsonBody = jsonBodySteps(spec, bodyLimitBytes);

  /** The probe's body is validated like any other; then the IdP is checked and a client is answered, not created. */
  const answerVerificationProbe: RequestHandler = async (req, res, next) => {
    const body = req.body as KonnectClientBody;
    if (body.portal_id !== verificationProbePortalId) return next();
    konnectMetadataFromWire(body);
    try {
      await driver.checkReadiness();
    } catch (error) {
      throw error instanceof BridgeError && error.status >= 500
        ? error
        : new IdpUnavailableError(undefined, { cause: error });
    }
    res.status(201).json({
      client_id: verificationProbeClientId,
      client_secret: randomBytes(32).toString('base64url'),
      client_id_issued_at: Math.floor(Date.now() / 1000),
      client_secret_expires_at: 0,
    });
  };

  const registerClient: RequestHandler = async (req, res) => {
    const body = req.body as KonnectClientBody;
    const client = await driver.registerClient(konnectMetadataFromWire(body), konnectContextFromWire(body));
    await pending.hold(res, client.clientId, 'konnect');
    res.status(201).json(konnectClientToWire(client));
  };

  const deleteClient: RequestHandler = async (req, res) => {
    // The probe's client never existed; deleting it is done without asking an IdP that may not know the id's shape.
    if (clientIdParam(req) === verificationProbeClientId) return void res.status(204).end();
    await driver.deleteClient(clientIdParam(req));
    events.emit('client.deleted', { clientId: clientIdParam(req), portal: 'konnect' });
    res.status(204).end();
  };

  const issueNewSecret: RequestHandler = async (req, res) => {
    const rotated = await driver.rotateSecret(clientIdParam(req));
    events.emit('client.rotated', { clientId: rotated.clientId, portal: 'konnect' });
    res.json({ client_id: rotated.clientId, client_secret: rotated.clientSecret });
  };

  /** Older portals send update_application without redirect_uris (name only); whatever is absent stays as it is. */
  const updateApplication = async (clientId: string, event: KonnectEventBody): Promise<boolean> => {
    if (event.redirect_uris === undefined && event.application_name === undefined) return false;
    const client = await driver.getClient(clientId);
    const redirectUris =
      event.redirect_uris === undefined ? client.metadata.redirectUris : [...new Set(event.redirect_uris)];
    for (const uri of redirectUris) checkRedirectUri(uri, client.metadata.applicationType);
    const clientName = event.application_name ?? client.metadata.clientName;
    await driver.updateClient(clientId, {
      ...client.metadata,
      redirectUris,
      ...(clientName !== undefined ? { clientName } : {}),
    });
    events.emit('client.updated', { clientId, portal: 'konnect' });
    return true;
  };

  const applyEvent: RequestHandler = async (req, res) => {
    const clientId = clientIdParam(req);
    const event = req.body as KonnectEventBody;
    const access = {
      ...(event.audience !== undefined ? { audience: event.audience } : {}),
      ...(event.api_product_version_id !== undefined ? { apiProductVersionId: event.api_product_version_id } : {}),
    };
    switch (event.event_type) {
      case 'update_application':
        if (!(await updateApplication(clientId, event))) {
          events.emit('event_hook.ignored', { clientId, eventType: event.event_type });
          res.json({ status: 'ignored' });
          return;
        }
        break;
      case 'add_registration':
        await driver.grantApiAccess(clientId, access);
        events.emit('client.api_access_granted', {
          clientId,
          ...(access.apiProductVersionId ? { apiProductVersionId: access.apiProductVersionId } : {}),
        });
        break;
      case 'remove_registration':
        await driver.revokeApiAccess(clientId, access);
        events.emit('client.api_access_revoked', {
          clientId,
          ...(access.apiProductVersionId ? { apiProductVersionId: access.apiProductVersionId } : {}),
        });
        break;
      default:
        events.emit('event_hook.ignored', { clientId, eventType: loggableEventType(event.event_type) });
        res.json({ status: 'ignored' });
        return;
    }
    res.json({ status: 'applied' });
  };

  router.post('/', labelRoute, ...jsonBody('KonnectClientRequest'), answerVerificationProbe, registerClient);
  const clientIdSteps = [labelRoute, refuseBridgePathAsClientId, validateClientId];
  router.delete('/:client_id', ...clientIdSteps, deleteClient);
  router.post('/:client_id/new-secret', ...clientIdSteps, ...jsonBody('EmptyObject'), issueNewSecret);
  router.post('/:client_id/event-hook', ...clientIdSteps, ...jsonBody('KonnectEvent'), applyEvent);
  const secrets = secretRoutes(driver, events, 'konnect', pending);
  router.get('/:client_id/secrets', ...clientIdSteps, secrets.requireSupport, secrets.listSecrets);
  router.post(
    '/:client_id/secrets',
    ...clientIdSteps,
    secrets.requireSupport,
    ...jsonBody('EmptyObject'),
    secrets.addSecret,
  );
  router.delete(
    '/:client_id/secrets/:secret_id',
    ...clientIdSteps,
    validateSecretId,
    secrets.requireSupport,
    secrets.revokeSecret,
  );
  return router;
}
