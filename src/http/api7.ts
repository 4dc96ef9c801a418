/**
 * The API7 portal dialect (`http_bridge` DCR provider): RFC 7591-shaped bodies under /clients. Each route reads as
 * its steps: label → check the id → read and validate the body → act → emit the event.
 */
import { Router, type RequestHandler } from 'express';
import type { DcrDriver } from '../driver/contract.js';
import { InvalidRequestError } from '../errors.js';
import type { BridgeEvents } from '../events.js';
import type { PendingRegistrations } from '../pending.js';
import {
  api7ClientToWire,
  api7MetadataFromWire,
  rotatedSecretToWire,
  type Api7ClientMetadataBody,
} from '../metadata.js';
import { clientIdParam, jsonBodySteps, validateClientId } from './body.js';
import { labelRoute } from './request-context.js';
import { secretRoutes, validateSecretId } from './secrets.js';
import type { ApiSpec } from './spec.js';

export interface DialectDependencies {
  driver: DcrDriver;
  events: BridgeEvents;
  spec: ApiSpec;
  bodyLimitBytes: number;
  pending: PendingRegistrations;
}

export function api7Router({ driver, events, spec, bodyLimitBytes, pending }: DialectDependencies): Router {
  const router = Router();
  const jsonBody = jsonBodySteps(spec, bodyLimitBytes);

  const registerClient: RequestHandler = async (req, res) => {
    const metadata = api7MetadataFromWire(req.body as Api7ClientMetadataBody);
    const client = await driver.registerClient(metadata, { portal: 'api7' });
    // `client.registered` once the answer is written; a cut answer deletes the client again.
    await pending.hold(res, client.clientId, 'api7');
    res.status(201).json(api7ClientToWire(client));
  };

  const readClient: RequestHandler = async (req, res) => {
    const client = await driver.getClient(clientIdParam(req));
    events.emit('client.read', { clientId: client.clientId, portal: 'api7' });
    res.json(api7ClientToWire(client));
  };

  const replaceClient: RequestHandler = async (req, res) => {
    const sentClientId = (req.body as { client_id?: string }).client_id;
    if (sentClientId !== undefined && sentClientId !== clientIdParam(req)) {
      throw new InvalidRequestError('The client_id in the body must match the client_id in the path.');
    }
    const metadata = api7MetadataFromWire(req.body as Api7ClientMetadataBody);
    const client = await driver.updateClient(clientIdParam(req), metadata);
    events.emit('client.updated', { clientId: client.clientId, portal: 'api7' });
    res.json(api7ClientToWire(client));
  };

  const deleteClient: RequestHandler = async (req, res) => {
    await driver.deleteClient(clientIdParam(req));
    events.emit('client.deleted', { clientId: clientIdParam(req), portal: 'api7' });
    res.status(204).end();
  };

  const rotateSecret: RequestHandler = async (req, res) => {
    const rotated = await driver.rotateSecret(clientIdParam(req));
    events.emit('client.rotated', { clientId: rotated.clientId, portal: 'api7' });
    res.json(rotatedSecretToWire(rotated));
  };

  router.post('/', labelRoute, ...jsonBody('Api7ClientMetadata'), registerClient);
  router.get('/:client_id', labelRoute, validateClientId, readClient);
  router.put('/:client_id', labelRoute, validateClientId, ...jsonBody('Api7ClientMetadata'), replaceClient);
  router.delete('/:client_id', labelRoute, validateClientId, deleteClient);
  router.post('/:client_id/rotate-secret', labelRoute, validateClientId, ...jsonBody('EmptyObject'), rotateSecret);
  const secrets = secretRoutes(driver, events, 'api7', pending);
  router.get('/:client_id/secrets', labelRoute, validateClientId, secrets.requireSupport, secrets.listSecrets);
  router.post(
    '/:client_id/secrets',
    labelRoute,
    validateClientId,
    secrets.requireSupport,
    ...jsonBody('EmptyObject'),
    secrets.addSecret,
  );
  router.delete(
    '/:client_id/secrets/:secret_id',
    labelRoute,
    validateClientId,
    validateSecretId,
    secrets.requireSupport,
    secrets.revokeSecret,
  );
  return router;
}
