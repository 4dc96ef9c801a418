/**
 * The HTTP(S) server the app runs in, with the limits a public service needs: time limits for receiving a request's
 * headers and the whole request, an idle keep-alive timeout (keep it above the idle timeout of a load balancer in
 * front, or the balancer may reuse a connection the bridge is closing), a bound on open connections and on those of one
 * peer address. Errors the HTTP parser raises before Express sees the request (headers over 16 KB, a malformed
 * request, a timeout — including a connection that never sent a byte) are answered in the bridge's JSON error shape
 * and the connection is destroyed, so no connection outlives the header and request timeouts.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
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
  // Destroyed once written, not only ended: the server allows half-open connections, so a peer that never sends its
  // own FIN would otherwise keep the connection (and its slot under DCR_MAX_CONNECTIONS) for ever.
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${head}\r\n${body}`, () => socket.destroy());
  // A peer that does not read would keep the answer unwritten: it gets a moment, then the connection goes.
  setTimeout(() => socket.destroy(), errorAnswerLingerMs).unref();
}

/** How long a connection answered by `answerClientError` may take to receive the answer before it is destroyed. */
const errorAnswerLingerMs = 1_000;

/** Refuses (destroys at once) a connection that would give one peer address more than `limit` open connections. */
function limitConnectionsPerAddress(server: net.Server, limit: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: net.Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > limit) {
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/** Node answers an `Expect` it cannot meet 417 with no body; the bridge answers it in its JSON shape and closes. */
function answerUnmetExpectation(_req: http.IncomingMessage, res: http.ServerResponse): void {
  const { status, headers, body } = renderError(
    new BridgeError(417, 'invalid_request', 'The bridge meets no Expect header but 100-continue.'),
  );
  res.writeHead(status, { ...headers, Connection: 'close' }).end(body);
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
  limitConnectionsPerAddress(server, limits.maxConnectionsPerAddress);
  server.on('clientError', answerClientError);
  server.on('checkExpectation', answerUnmetExpectation);
  return server;
}
