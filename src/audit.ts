/**
 * The audit trail: one event per change (register, update, rotate, delete, a secret added or revoked, the Konnect
 * events, sweeps) and per refusal, each saying when, which request, which portal key (its name or fingerprint, never
 * the key), the portal's own ids, the client (and the secret's id), the operation, how it ended and what the IdP
 * answered. Built on the bridge's events: the routes' success events and `auth.failed` are matched to their request
 * by its id, the sweep's events stand alone, and every record goes out as an `audit.recorded` event that the sink
 * writes to its own stream (DCR_AUDIT_LOG).
 */
import { createWriteStream, openSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { AuditDestination } from './config.js';
import { ConfigurationError } from './env.js';
import { BridgeError } from './errors.js';
import type { AuditRecord, BridgeEventName, BridgeEvents } from './events.js';
import { idpStatusOf } from './driver/call/failure.js';
import { currentRequestId } from './logging.js';

/** Route templates (method + `res.locals.route`) of the changes; anything else audited is named by its template. */
const operations: Record<string, { dialect: AuditRecord['dialect']; operation: string }> = {
  'POST /clients': { dialect: 'api7', operation: 'register' },
  'PUT /clients/:client_id': { dialect: 'api7', operation: 'update' },
  'DELETE /clients/:client_id': { dialect: 'api7', operation: 'delete' },
  'POST /clients/:client_id/rotate-secret': { dialect: 'api7', operation: 'rotate' },
  'POST /clients/:client_id/secrets': { dialect: 'api7', operation: 'secret.added' },
  'DELETE /clients/:client_id/secrets/:secret_id': { dialect: 'api7', operation: 'secret.revoked' },
  'POST /': { dialect: 'konnect', operation: 'register' },
  'DELETE /:client_id': { dialect: 'konnect', operation: 'delete' },
  'POST /:client_id/new-secret': { dialect: 'konnect', operation: 'rotate' },
  'POST /:client_id/event-hook': { dialect: 'konnect', operation: 'event' },
  'POST /:client_id/secrets': { dialect: 'konnect', operation: 'secret.added' },
  'DELETE /:client_id/secrets/:secret_id': { dialect: 'konnect', operation: 'secret.revoked' },
  'POST /register': { dialect: 'dcr', operation: 'register' },
  'PUT /register/:client_id': { dialect: 'dcr', operation: 'update' },
  'DELETE /register/:client_id': { dialect: 'dcr', operation: 'delete' },
  'DELETE /admin/open-registrations': { dialect: 'dcr', operation: 'purge-open-registrations' },
};

/** The events that say a change was carried out, and what the Konnect event hook did. */
const outcomeEvents: BridgeEventName[] = [
  'client.registered',
  'client.updated',
  'client.deleted',
  'client.rotated',
  'secret.added',
  'secret.revoked',
  'client.api_access_granted',
  'client.api_access_revoked',
  'event_hook.ignored',
];

const changeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const safeId = /^[A-Za-z0-9._~-]{1,255}$/;
/** The portal's ids are its own free text (Konnect's probe sends "test portal_id"): printable and bounded only. */
const printableId = /^[\x20-\x7e]{1,128}$/;

interface PendingRequest {
  clientId?: string;
  secretId?: string;
  authFailed?: boolean;
  ignored?: boolean;
  changed?: boolean;
}

function outcomeOf(status: number, pending: PendingRequest): AuditRecord['outcome'] {
  if (status >= 500) return 'failed';
  if (status >= 400) return 'refused';
  return pending.ignored ? 'ignored' : 'success';
}

function portalIds(req: Request): Pick<AuditRecord, 'portalId' | 'organizationId' | 'developerId'> {
  const body = req.body as Record<string, unknown> | undefined;
  if (typeof body !== 'object' || body === null) return {};
  const ids: Pick<AuditRecord, 'portalId' | 'organizationId' | 'developerId'> = {};
  for (const [wire, name] of [
    ['portal_id', 'portalId'],
    ['organization_id', 'organizationId'],
    ['developer_id', 'developerId'],
  ] as const) {
    const value = body[wire];
    if (typeof value === 'string' && printableId.test(value)) ids[name] = value;
  }
  return ids;
}

function eventType(req: Request): string | undefined {
  const value = (req.body as { event_type?: unknown } | undefined)?.event_type;
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : undefined;
}

export interface RequestAudit {
  /** Mounted before the key check: every request that reaches it and is a change, or is refused a key, is audited. */
  record: RequestHandler;
  /** Mounted just before the error renderer: remembers the failure so its record can name the IdP's answer. */
  rememberError: ErrorRequestHandler;
}

/** `apiKeyNames[i]` names `apiKeys[i]`; `res.locals.apiKeyIndex` (set by the key check) picks it. */
export function auditRequests(events: BridgeEvents, apiKeyNames: readonly string[]): RequestAudit {
  // Request ids may come from the caller, so two requests can share one: each event goes to the oldest still open.
  const open = new Map<string, PendingRequest[]>();
  const pendingFor = (requestId: string | undefined): PendingRequest | undefined =>
    requestId === undefined ? undefined : open.get(requestId)?.[0];
  for (const name of outcomeEvents) {
    events.on(name, (payload) => {
      const pending = pendingFor(currentRequestId());
      if (!pending) return;
      pending.changed = true;
      if (name === 'event_hook.ignored') pending.ignored = true;
      pending.clientId ??= (payload as { clientId: string }).clientId;
      pending.secretId ??= (payload as { secretId?: string }).secretId;
    });
  }
  events.on('auth.failed', () => {
    const pending = pendingFor(currentRequestId());
    if (pending) pending.authFailed = true;
  });

  const finish = (req: Request, res: Response, requestId: string, pending: PendingRequest): void => {
    const queue = open.get(requestId) ?? [];
    queue.splice(queue.indexOf(pending), 1);
    if (queue.length === 0) open.delete(requestId);
    const status = res.statusCode;
    if (!changeMethods.has(req.method) && status !== 401) return;
    const route = typeof res.locals.route === 'string' ? res.locals.route : undefined;
    const known = route === undefined ? undefined : operations[`${req.method} ${route}`];
    const operation = pending.authFailed
      ? 'authenticate'
      : known?.operation === 'event'
        ? `event:${eventType(req) ?? 'unknown'}`
        : (known?.operation ?? `${req.method} ${route ?? 'unmatched'}`);
    const keyIndex = res.locals.apiKeyIndex as number | undefined;
    const clientId = pending.clientId ?? (res.locals.clientId as string | undefined);
    const secretId = pending.secretId ?? (res.locals.secretId as string | undefined);
    const error = res.locals.auditError as unknown;
    const record: AuditRecord = {
      type: 'audit',
      time: new Date().toISOString(),
      requestId,
      ...(keyIndex !== undefined && apiKeyNames[keyIndex] !== undefined ? { apiKey: apiKeyNames[keyIndex] } : {}),
      ...(known?.dialect
        ? { dialect: known.dialect }
        : route?.startsWith('/register')
          ? { dialect: 'dcr' as const }
          : {}),
      operation,
      ...(clientId !== undefined && safeId.test(clientId) ? { clientId } : {}),
      ...(secretId !== undefined && safeId.test(secretId) ? { secretId } : {}),
      ...(known?.operation === 'register' ? portalIds(req) : {}),
      outcome: res.writableFinished ? outcomeOf(status, pending) : 'aborted',
      status,
      ...(error instanceof BridgeError ? { error: error.code } : {}),
      ...idpStatusOf(error),
    };
    events.emit('audit.recorded', record);
  };

  return {
    record: (req, res, next) => {
      // Mounted in front of standard DCR and again before the key check: a request is recorded once.
      if (res.locals.audited === true) return next();
      res.locals.audited = true;
      const requestId = res.locals.requestId as string;
      const pending: PendingRequest = {};
      const queue = open.get(requestId);
      if (queue) queue.push(pending);
      else open.set(requestId, [pending]);
      res.once('close', () => finish(req, res, requestId, pending));
      next();
    },
    rememberError: (error, _req, res, next) => {
      res.locals.auditError = error;
      next(error);
    },
  };
}

/** The sweep's runs that changed something or failed become audit records too. */
export function auditSweeps(events: BridgeEvents): void {
  events.on('secrets.retired', ({ count }) =>
    events.emit('audit.recorded', {
      type: 'audit',
      time: new Date().toISOString(),
      operation: 'sweep',
      outcome: 'success',
      retired: count,
    }),
  );
  events.on('secrets.sweep_failed', ({ error, idpStatus }) =>
    events.emit('audit.recorded', {
      type: 'audit',
      time: new Date().toISOString(),
      operation: 'sweep',
      outcome: 'failed',
      error,
      ...(idpStatus !== undefined ? { idpStatus } : {}),
    }),
  );
}

export interface AuditSink {
  close(): Promise<void>;
}

/**
 * Writes every `audit.recorded` event as one JSON line (`"type":"audit"` marks it among the logs on stdout) to the
 * destination, or to `stream` when given (tests). A file is opened at once, so an unwritable path stops the start.
 */
export function writeAuditTrail(events: BridgeEvents, destination: AuditDestination, stream?: Writable): AuditSink {
  let out: Writable;
  let owned = false;
  if (stream) out = stream;
  else if (destination.kind === 'stdout') out = process.stdout;
  else {
    let fd: number;
    try {
      fd = openSync(destination.path, 'a', 0o600);
    } catch {
      throw new ConfigurationError('DCR_AUDIT_LOG', 'must name a file the bridge can append to');
    }
    out = createWriteStream('', { fd, flags: 'a' });
    // A failing disk must not take the bridge down; the write error is on the stream, the request is answered.
    out.on('error', () => undefined);
    owned = true;
  }
  events.on('audit.recorded', (record) => out.write(`${JSON.stringify(record)}\n`));
  return {
    close: () => (owned ? new Promise<void>((resolve) => out.end(() => resolve())) : Promise.resolve()),
  };
}
