/**
 * The operator's view of the clients this bridge owns at the IdP, through the driver (`listClients`, `getClient`,
 * `deleteClient`): to audit them, or to find and remove leftovers. Authorised by `DCR_OPERATOR_KEYS` only — a portal
 * key is refused — and never shows a secret: the list carries what each client's ownership mark records.
 *
 *   GET    /operator/clients?limit=50&cursor=…   {"clients": [...], "next": "…"}
 *   GET    /operator/clients/{client_id}        the client's metadata and mark, no secret
 *   DELETE /operator/clients/{client_id}        204
 */
import { type RequestHandler, Router } from 'express';
import type { DcrDriver } from '../driver/contract.js';
import { BridgeError, InvalidRequestError, NotFoundError } from '../errors.js';
import type { BridgeEvents } from '../events.js';
import { clientMetadataToWire } from '../metadata.js';
import { requireApiKey } from './auth.js';
import { labelRoute, requestIdOf } from './request-context.js';

const defaultPageSize = 50;

function pageSize(value: unknown): number {
  if (value === undefined) return defaultPageSize;
  if (typeof value !== 'string' || !/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > 500)
    throw new InvalidRequestError('limit must be a whole number from 1 to 500.');
  return Number(value);
}

export function operatorRouter({
  driver,
  operatorKeys,
  failedAuthLimit,
  events,
}: {
  driver: DcrDriver;
  operatorKeys: string[];
  failedAuthLimit: RequestHandler;
  events: BridgeEvents;
}): Router {
  const router = Router();
  router.use(requireApiKey(operatorKeys, failedAuthLimit, events));

  router.get('/clients', labelRoute, async (req, res) => {
    if (!driver.listClients) throw new NotFoundError(`The ${driver.name} driver cannot list its clients.`);
    // The app's query parser is off (client answers need none); the two parameters are read here.
    const query = new URLSearchParams(req.url.split('?')[1] ?? '');
    const cursor = query.get('cursor') ?? undefined;
    const page = await driver.listClients({
      limit: pageSize(query.get('limit') ?? undefined),
      ...(cursor ? { cursor } : {}),
    });
    res.json({
      driver: driver.name,
      clients: page.clients.map((client) => ({
        client_id: client.clientId,
        ...(client.clientName !== undefined ? { client_name: client.clientName } : {}),
        ...(client.dialect !== undefined ? { dialect: client.dialect } : {}),
        ...(client.portalId !== undefined ? { portal_id: client.portalId } : {}),
        ...(client.organizationId !== undefined ? { organization_id: client.organizationId } : {}),
        ...(client.developerId !== undefined ? { developer_id: client.developerId } : {}),
        ...(client.createdAt !== undefined ? { created_at: client.createdAt } : {}),
        ...(client.openRegistration ? { open_registration: true } : {}),
        ...(client.pending ? { pending: true } : {}),
      })),
      ...(page.next !== undefined ? { next: page.next } : {}),
    });
  });

  router.get('/clients/:client_id', labelRoute, async (req, res) => {
    const client = await driver.getClient(req.params.client_id as string);
    res.json({
      client_id: client.clientId,
      client_id_issued_at: client.clientIdIssuedAt,
      client_secret_expires_at: client.clientSecretExpiresAt,
      ...clientMetadataToWire(client.metadata),
      standard_registration: client.registration !== undefined,
      ...(client.registration?.openRegistration ? { open_registration: true } : {}),
    });
  });

  // A change at the IdP made outside the portals: the audit trail says so, with the operator as the actor (the portal
  // routes' audit step names portal keys, so this route writes its own record).
  router.delete('/clients/:client_id', labelRoute, async (req, res) => {
    const clientId = req.params.client_id as string;
    const record = (outcome: 'success' | 'refused' | 'failed', status: number, error?: string) =>
      events.emit('audit.recorded', {
        type: 'audit',
        time: new Date().toISOString(),
        requestId: requestIdOf(res),
        apiKey: 'operator',
        operation: 'operator.delete',
        clientId,
        outcome,
        status,
        ...(error !== undefined ? { error } : {}),
      });
    try {
      await driver.deleteClient(clientId);
    } catch (error) {
      const status = error instanceof BridgeError ? error.status : 500;
      record(status >= 500 ? 'failed' : 'refused', status, error instanceof BridgeError ? error.code : 'server_error');
      throw error;
    }
    record('success', 204);
    res.status(204).end();
  });

  return router;
}
