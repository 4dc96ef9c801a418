/**
 * Multiple credentials (Konnect's `allow_multiple_credentials`): list, add and revoke one client's secrets. The same
 * three steps serve Konnect's `/{client_id}/secrets` and API7's `/clients/{client_id}/secrets`, with one wire shape:
 * Kong's contract, whose `created_at` / `expires_at` are RFC 3339 date-time strings (unlike the epoch seconds of the
 * create answer). A list carries metadata only; a value crosses the wire once, in the add's answer.
 */
import type { RequestHandler } from 'express';
import type { AddedClientSecret, ClientSecretInfo, DcrDriver } from '../driver/contract.js';
import { InvalidRequestError, NotImplementedError } from '../errors.js';
import type { BridgeEvents, Portal } from '../events.js';
import type { PendingRegistrations } from '../pending.js';
import { clientIdParam } from './body.js';

export interface SecretMetadataBody {
  secret_id: string;
  client_id: string;
  status: 'ACTIVE' | 'INACTIVE';
  created_at?: string;
  expires_at?: string;
}

export interface AddedSecretBody extends Omit<SecretMetadataBody, 'status'> {
  client_secret: string;
}

function dateTime(epochSeconds: number | undefined): string | undefined {
  return epochSeconds === undefined ? undefined : new Date(epochSeconds * 1000).toISOString();
}

function times(secret: ClientSecretInfo): Pick<SecretMetadataBody, 'created_at' | 'expires_at'> {
  const createdAt = dateTime(secret.createdAt);
  const expiresAt = dateTime(secret.expiresAt);
  return {
    ...(createdAt !== undefined ? { created_at: createdAt } : {}),
    ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
  };
}

export function secretToWire(secret: ClientSecretInfo): SecretMetadataBody {
  return { secret_id: secret.secretId, client_id: secret.clientId, status: secret.status, ...times(secret) };
}

export function addedSecretToWire(secret: AddedClientSecret): AddedSecretBody {
  return {
    secret_id: secret.secretId,
    client_id: secret.clientId,
    client_secret: secret.clientSecret,
    ...times(secret),
  };
}

/** `secret_id` path segments: the IdP's own ids (`ocs…`, a GUID) fit this alphabet; nothing else reaches a driver. */
const secretIdPattern = /^[A-Za-z0-9._~-]{1,255}$/;

export const validateSecretId: RequestHandler = (req, res, next) => {
  const secretId = req.params.secret_id;
  if (typeof secretId !== 'string' || !secretIdPattern.test(secretId) || secretId === '.' || secretId === '..') {
    return next(
      new InvalidRequestError(
        'The secret_id in the path must be 1 to 255 letters, digits or ._~- characters and not a dot segment.',
      ),
    );
  }
  res.locals.secretId = secretId;
  next();
};

function secretIdParam(req: Parameters<RequestHandler>[0]): string {
  return String(req.params.secret_id);
}

type SecretsDriver = Required<Pick<DcrDriver, 'listSecrets' | 'addSecret' | 'revokeSecret'>>;

/** The driver's three operations, or the one answer saying it has none: configuration, so no retry helps (`501`). */
function secretsOf(driver: DcrDriver): SecretsDriver | undefined {
  const { listSecrets, addSecret, revokeSecret } = driver;
  if (listSecrets === undefined || addSecret === undefined || revokeSecret === undefined) return undefined;
  return { listSecrets, addSecret, revokeSecret };
}

export interface SecretRoutes {
  /** The first step after the path checks: `501 not_implemented` when the driver cannot hold several secrets. */
  requireSupport: RequestHandler;
  listSecrets: RequestHandler;
  addSecret: RequestHandler;
  revokeSecret: RequestHandler;
}

export function secretRoutes(
  driver: DcrDriver,
  events: BridgeEvents,
  portal: Portal,
  pending: PendingRegistrations,
): SecretRoutes {
  const secrets = secretsOf(driver);
  const unsupported = `The ${driver.name} driver does not support multiple credentials; turn allow_multiple_credentials off for this provider.`;
  return {
    requireSupport: (_req, _res, next) =>
      next(secrets === undefined ? new NotImplementedError(unsupported) : undefined),
    listSecrets: async (req, res) => {
      const listed = await secrets!.listSecrets(clientIdParam(req));
      res.json({ secrets: listed.map(secretToWire) });
    },
    addSecret: async (req, res) => {
      const added = await secrets!.addSecret(clientIdParam(req));
      // `secret.added` once the answer is written; a cut answer revokes the secret again.
      await pending.holdSecret(res, added, () => secrets!.revokeSecret(added.clientId, added.secretId), portal);
      res.status(201).json(addedSecretToWire(added));
    },
    revokeSecret: async (req, res) => {
      await secrets!.revokeSecret(clientIdParam(req), secretIdParam(req));
      events.emit('secret.revoked', { clientId: clientIdParam(req), secretId: secretIdParam(req), portal });
      res.status(204).end();
    },
  };
}
