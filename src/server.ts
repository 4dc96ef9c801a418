/**
 * The HTTP(S) server the app runs in, with the limits a public service needs: time limits for receiving a request's
 * headers and the whole request, an idle keep-alive timeout (keep it above the idle timeout of a load balancer in
 * front, or the balancer may reuse a connection the bridge is closing), and a bound on open connections. Errors the
 * HTTP parser raises before Express sees the request (headers over 16 KB, a malformed request, a timeout) are
 * answered in the bridge's JSON error shape and the connection is closed.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { BridgeConfig } from './config.js';
import { ConfigurationError } from './env.js';
import { BridgeError, InvalidRequestError, renderError } from './errors.js';

/** The parser's failure as the bridge's error; anything unknown is a plain 400. */
export function clientErrorAnswer(code: string | undefined): BridgeError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new BridgeError(
        431,
        'request_too_large',
        'The request headers are larger than the bridge accepts (16 KB).',
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new BridgeError(408, 'invalid_request', 'The request was not received in time.');
    default:
      return new InvalidRequestError('The request is not valid HTTP.');
  }
}

function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // A peer that went away gets nothing more.
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // Written by hand: the parser failed, so there is no response object to write through.
  const { status, headers, body } = renderError(clientErrorAnswer(error.code));
  const head = Object.entries({ ...headers, 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close' })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${head}\r\n${body}`);
}

function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    throw new ConfigurationError(variable, 'must name a readable PEM file');
  }
}

/** An HTTP server, or HTTPS with `TLS_CERT_FILE`/`TLS_KEY_FILE`, with the configured limits applied. */
export function createBridgeServer(config: BridgeConfig, app: http.RequestListener): http.Server {
  const limits = config.serverLimits;
  const options: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often Node checks the two timeouts above; the default (30 s) would let a request outlive them by that much.
    connectionsCheckingInterval: Math.max(250, Math.min(5_000, Math.floor(limits.headersTimeoutMs / 4))),
  };
  const server = config.tls
    ? (https.createServer(
        {
          ...options,
          cert: readPem(config.tls.certFile, 'TLS_CERT_FILE'),
          key: readPem(config.tls.keyFile, 'TLS_KEY_FILE'),
        },
        app,
      ) as unknown as http.Server)
    : http.createServer(options, app);
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  server.on('clientError', answerClientError);
  return server;
}
