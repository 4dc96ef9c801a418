/**
 * Express's side of the bridge's error answers (rendered by `renderError`, src/errors.ts). Typed errors
 * render as themselves; body-parser failures become `invalid_request` / `request_too_large` /
 * `unsupported_content_encoding`, a path that is not valid percent-encoding `invalid_request`; anything else is a
 * `500 server_error` with a fixed sentence, never its message or stack.
 */
import type { ErrorRequestHandler, Response } from 'express';
import {
  BridgeError,
  InvalidRequestError,
  RequestTooLargeError,
  UnsupportedContentEncodingError,
  renderError,
} from '../errors.js';
import { hasControlCharacter } from '../env.js';
import type { Logger } from '../logging.js';

const unexpectedFailure = new BridgeError(
  500,
  'server_error',
  'The bridge failed unexpectedly; the failure was logged.',
);

/** Errors thrown by body-parser carry an HTTP status and a `type` such as `entity.parse.failed`. */
function bodyParserError(error: unknown): BridgeError | undefined {
  if (typeof error !== 'object' || error === null || !('type' in error) || !('status' in error)) return undefined;
  const { status, type } = error as { status: unknown; type: unknown };
  if (typeof type !== 'string' || typeof status !== 'number') return undefined;
  if (status === 413) return new RequestTooLargeError();
  if (type === 'encoding.unsupported') return new UnsupportedContentEncodingError();
  if (type === 'entity.parse.failed') return new InvalidRequestError('The request body is not valid JSON.');
  if (status >= 400 && status < 500) return new InvalidRequestError('The request body could not be read as JSON.');
  return undefined;
}

/** zlib's errors (gzip, deflate, br) carry a `Z_…` or `ERR_…` code; body-parser passes them on with status 400. */
function decompressionError(error: unknown): BridgeError | undefined {
  if (!(error instanceof Error) || !('errno' in error)) return undefined;
  const { code, status } = error as { code?: unknown; status?: unknown };
  if (status !== 400 || typeof code !== 'string' || !/^(Z_|ERR_)/.test(code)) return undefined;
  return new InvalidRequestError('The request body is not compressed the way its Content-Encoding says.');
}

export const malformedPathDescription = 'The request path is not valid percent-encoding.';

export function toRenderableError(error: unknown): BridgeError | undefined {
  if (error instanceof BridgeError) return error;
  // The router's decoding of a path parameter such as `%ZZ`.
  if (error instanceof URIError) return new InvalidRequestError(malformedPathDescription);
  return decompressionError(error) ?? bodyParserError(error);
}

export function sendError(res: Response, error: BridgeError): void {
  const { status, headers, body } = renderError(error);
  res.status(status).set(headers).send(body);
}

export function errorRenderer(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    // Already answered (a request the shutdown cut, whose route failed or finished late): one JSON line, never the
    // default handler's multi-line stack trace; an answer cut half-way is ended by closing its connection.
    if (res.headersSent) {
      logger.info('a request already answered failed afterwards', {
        requestId: res.locals.requestId as string | undefined,
        errorName: error instanceof Error ? error.name : typeof error,
      });
      if (!res.writableEnded) res.destroy();
      return;
    }
    // Answered before its body arrived (401, 413, 429…): close, or the connection stays open for whatever the caller trickles.
    if (!req.complete) res.set('Connection', 'close');
    // Explicit, because an error raised in a stream callback arrives outside the request's async context.
    const requestId = res.locals.requestId as string | undefined;
    const known = toRenderableError(error);
    if (known) {
      if (known.status >= 500)
        logger.warn('request failed at the identity provider', {
          requestId,
          error: known.code,
          ...causeOf(known),
        });
      return sendError(res, known);
    }
    logger.error('unexpected failure', { requestId, errorName: error instanceof Error ? error.name : typeof error });
    sendError(res, unexpectedFailure);
  };
}

/**
 * What made the IdP call fail, for the log: the cause's class, its code (`ECONNREFUSED`, `UND_ERR_…`, an IdP's error
 * code) and its message — one line, at most 300 characters, with every long token-like run (a secret, a token, a
 * key) replaced, since a message may quote what it was given. Never a body.
 */
function causeOf(error: BridgeError): { cause?: string; causeCode?: string; causeMessage?: string } {
  const cause = error.cause;
  if (!(cause instanceof Error)) return {};
  const { code, errorCode } = cause as { code?: unknown; errorCode?: unknown };
  const causeCode = typeof code === 'string' ? code : typeof errorCode === 'string' ? errorCode : undefined;
  const causeMessage = Array.from(cause.message, (character) => (hasControlCharacter(character) ? ' ' : character))
    .join('')
    .replace(/ {2,}/g, ' ')
    .replace(/[A-Za-z0-9_\-+/=.~]{24,}/g, '[redacted]')
    .slice(0, 300);
  return {
    cause: cause.name,
    ...(causeCode !== undefined ? { causeCode: causeCode.slice(0, 100) } : {}),
    ...(causeMessage !== '' ? { causeMessage } : {}),
  };
}
