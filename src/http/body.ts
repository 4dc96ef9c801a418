/**
 * Request-body steps, run only after the key check: a body must be labelled JSON (`application/json` or a `+json`
 * type; anything else, or no label, is `415` — `text/plain` is what a browser sends cross-site without a preflight),
 * read JSON up to the limit, require an object, and validate it against a schema of spec/openapi.yaml.
 */
import express, { type Request, type RequestHandler } from 'express';
import { isClientId } from '../driver/ownership.js';
import { InvalidRequestError, RequestTooLargeError, UnsupportedMediaTypeError } from '../errors.js';
import { restoreRequestContext } from './request-context.js';
import type { ApiSpec } from './spec.js';

/**
 * A declared length over the limit is refused at once: the JSON parser would first wait for the whole body (which a
 * caller can trickle forever) before answering 413. The error renderer then closes the connection.
 */
export function refuseDeclaredOversize(limitBytes: number): RequestHandler {
  return (req, _res, next) => {
    const declared = Number(req.get('Content-Length'));
    next(Number.isFinite(declared) && declared > limitBytes ? new RequestTooLargeError() : undefined);
  };
}

/** `application/json` or `application/<anything>+json`, with any parameters; compared without case. */
const jsonMediaType = /^application\/(?:json|[a-z0-9!#$&^_.-]+\+json)\s*(?:;|$)/i;

/** A request that carries a body (a length above 0, or chunked) must label it JSON; no body at all needs no label. */
export const requireJsonMediaType: RequestHandler = (req, _res, next) => {
  const declared = req.get('Content-Length');
  const hasBody = req.get('Transfer-Encoding') !== undefined || (declared !== undefined && Number(declared) !== 0);
  if (!hasBody || jsonMediaType.test(req.get('Content-Type') ?? '')) return next();
  next(new UnsupportedMediaTypeError());
};

export function readJsonBody(limitBytes: number): RequestHandler {
  return express.json({ limit: limitBytes, strict: false, type: () => true });
}

/** No body at all counts as `{}`; anything but a JSON object is `invalid_request`. */
export const requireObjectBody: RequestHandler = (req, _res, next) => {
  if (req.body === undefined) req.body = {};
  if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
    return next(new InvalidRequestError('The request body must be a JSON object.'));
  }
  next();
};

export function validateBody(spec: ApiSpec, schemaName: string): RequestHandler {
  const validate = spec.validator(schemaName);
  return (req, _res, next) => {
    validate(req.body);
    next();
  };
}

/**
 * The steps of every route with a JSON body, per schema: read it up to the limit, restore the request's
 * log context after the parser, require an object, validate it.
 *
 *   const jsonBody = jsonBodySteps(spec, bodyLimitBytes);
 *   router.post('/clients', ...jsonBody('Api7ClientMetadata'), registerClient);
 */
export function jsonBodySteps(spec: ApiSpec, limitBytes: number): (schemaName: string) => RequestHandler[] {
  return (schemaName) => [
    refuseDeclaredOversize(limitBytes),
    requireJsonMediaType,
    readJsonBody(limitBytes),
    restoreRequestContext(),
    requireObjectBody,
    validateBody(spec, schemaName),
  ];
}

/** `client_id` path segments: a safe alphabet, and never a dot segment a URL parser would resolve. */
export const validateClientId: RequestHandler = (req, _res, next) => {
  const clientId = req.params.client_id;
  if (typeof clientId !== 'string' || !isClientId(clientId)) {
    return next(
      new InvalidRequestError(
        'The client_id in the path must be 1 to 255 letters, digits or ._~- characters and not a dot segment.',
      ),
    );
  }
  next();
};

/** The `client_id` path parameter, once `validateClientId` has passed. */
export function clientIdParam(req: Request): string {
  return String(req.params.client_id);
}
