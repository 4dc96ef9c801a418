/**
 * The bridge's typed errors. Every failure that leaves the bridge is one of these, rendered in one place
 * (`renderError` below) as `{"error": code, "error_description": description}`. Descriptions are one human
 * sentence and never carry a secret, a token, an internal host name or an upstream body.
 */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_client_metadata'
  | 'invalid_redirect_uri'
  | 'invalid_api_key'
  | 'client_not_found'
  | 'not_found'
  | 'unsupported_content_encoding'
  | 'conflict'
  | 'not_implemented'
  | 'request_too_large'
  | 'rate_limited'
  | 'idp_error'
  | 'idp_unavailable'
  | 'idp_timeout'
  | 'server_error'
  | 'invalid_token'
  | 'invalid_software_statement'
  | 'unapproved_software_statement';

export class BridgeError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  /** Seconds for a `Retry-After` header, when known. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    status: number,
    code: ErrorCode,
    description: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(description, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

type ErrorOptions = { cause?: unknown; retryAfterSeconds?: number };

export class InvalidRequestError extends BridgeError {
  constructor(description: string, options?: ErrorOptions) {
    super(400, 'invalid_request', description, options);
  }
}

export class InvalidClientMetadataError extends BridgeError {
  constructor(description: string, options?: ErrorOptions) {
    super(400, 'invalid_client_metadata', description, options);
  }
}

export class InvalidRedirectUriError extends BridgeError {
  constructor(description: string, options?: ErrorOptions) {
    super(400, 'invalid_redirect_uri', description, options);
  }
}

export class InvalidApiKeyError extends BridgeError {
  constructor(description = 'A valid API key is required in the X-API-Key or Authorization: Bearer header.') {
    super(401, 'invalid_api_key', description);
  }
}

export class ClientNotFoundError extends BridgeError {
  constructor(description = 'No client with this id was registered through this bridge.', options?: ErrorOptions) {
    super(404, 'client_not_found', description, options);
  }
}

/** No bridge endpoint has this path and method (a path the bridge serves itself is never a client id). */
export class NotFoundError extends BridgeError {
  constructor(description = 'No bridge endpoint has this path and method.') {
    super(404, 'not_found', description);
  }
}

export class UnsupportedContentEncodingError extends BridgeError {
  constructor(
    description = 'The request body uses a Content-Encoding the bridge does not read; send identity, gzip, deflate or br.',
  ) {
    super(415, 'unsupported_content_encoding', description);
  }
}

export class ConflictError extends BridgeError {
  constructor(
    description = 'The identity provider refused the request because it clashes with an existing client.',
    options?: ErrorOptions,
  ) {
    super(409, 'conflict', description, options);
  }
}

/**
 * The driver has no such operation (the multiple-credentials calls on a driver without them): `501`, a lasting fact
 * about this bridge's configuration that no retry changes, not a refusal of this request's content.
 */
export class NotImplementedError extends BridgeError {
  constructor(description: string) {
    super(501, 'not_implemented', description);
  }
}

export class RequestTooLargeError extends BridgeError {
  constructor(description = 'The request body is larger than the bridge accepts.') {
    super(413, 'request_too_large', description);
  }
}

export class RateLimitedError extends BridgeError {
  constructor(
    retryAfterSeconds: number,
    description = 'Too many requests; retry after the time in the Retry-After header.',
  ) {
    super(429, 'rate_limited', description, { retryAfterSeconds });
  }
}

export class IdpError extends BridgeError {
  constructor(
    description = 'The identity provider answered with something the bridge could not use.',
    options?: ErrorOptions,
  ) {
    super(502, 'idp_error', description, options);
  }
}

export class IdpUnavailableError extends BridgeError {
  constructor(description = 'The identity provider is unavailable; retry later.', options?: ErrorOptions) {
    super(503, 'idp_unavailable', description, options);
  }
}

export class IdpTimeoutError extends BridgeError {
  constructor(description = 'The identity provider did not answer in time.', options?: ErrorOptions) {
    super(504, 'idp_timeout', description, options);
  }
}

/** RFC 6750 §3.1: a missing, wrong or dead bearer token at the standard DCR façade (rendered with `WWW-Authenticate`). */
export class InvalidTokenError extends BridgeError {
  /** Whether a token was presented at all: RFC 6750 leaves the error code out of `WWW-Authenticate` when none was. */
  readonly tokenPresented: boolean;

  constructor(description: string, tokenPresented: boolean) {
    super(401, 'invalid_token', description);
    this.tokenPresented = tokenPresented;
  }
}

export class InvalidSoftwareStatementError extends BridgeError {
  constructor(description = 'The software_statement is not a signed JWT.') {
    super(400, 'invalid_software_statement', description);
  }
}

export class UnapprovedSoftwareStatementError extends BridgeError {
  constructor(
    description = 'This bridge approves no software statement issuer; register without a software_statement.',
  ) {
    super(400, 'unapproved_software_statement', description);
  }
}

/** An error as it goes on the wire; Express routes, the raw HTTP server and the shutdown all send this. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The one rendering of an error answer: the JSON body, `Retry-After` when known, and for a refused bearer token
 * RFC 6750's `WWW-Authenticate` (without an error code when no token was presented).
 */
export function renderError(error: BridgeError): ErrorAnswer {
  const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8' };
  if (error.retryAfterSeconds !== undefined)
    headers['Retry-After'] = String(Math.max(0, Math.ceil(error.retryAfterSeconds)));
  if (error instanceof InvalidTokenError)
    headers['WWW-Authenticate'] = error.tokenPresented ? 'Bearer error="invalid_token"' : 'Bearer';
  return {
    status: error.status,
    headers,
    body: JSON.stringify({ error: error.code, error_description: error.message }),
  };
}
