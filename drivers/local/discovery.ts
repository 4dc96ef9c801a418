/**
 * The embedded provider's own discovery document, read in process: its handler is called with a GET for
 * `{issuer}/.well-known/openid-configuration`, with the host and scheme of the issuer (from DCR_PUBLIC_URL), so the
 * document is exactly what a client fetching that URL receives — without a network round trip to ourselves.
 */
import { IncomingMessage, ServerResponse, type RequestListener } from 'node:http';
import { Socket } from 'node:net';
import { IdpUnavailableError } from '../../src/errors.js';

export async function providerDiscoveryDocument(
  handler: RequestListener,
  issuer: string,
): Promise<Record<string, unknown>> {
  const issuerUrl = new URL(issuer);
  const mountPath = issuerUrl.pathname.replace(/\/+$/, '');
  const request = new IncomingMessage(new Socket());
  request.method = 'GET';
  request.url = '/.well-known/openid-configuration';
  // oidc-provider derives its mount path from originalUrl, as it does under Express.
  Object.assign(request, { originalUrl: `${mountPath}/.well-known/openid-configuration` });
  request.headers = {
    host: issuerUrl.host,
    'x-forwarded-proto': issuerUrl.protocol.slice(0, -1),
    accept: 'application/json',
  };
  request.push(null);
  const response = new ServerResponse(request);
  const chunks: Buffer[] = [];
  const body = new Promise<string>((resolve) => {
    response.write = ((chunk: string | Uint8Array) => {
      chunks.push(Buffer.from(chunk));
      return true;
    }) as ServerResponse['write'];
    response.end = ((chunk?: string | Uint8Array | (() => void)) => {
      if (chunk !== undefined && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
      resolve(Buffer.concat(chunks).toString('utf8'));
      return response;
    }) as ServerResponse['end'];
  });
  handler(request, response);
  const text = await body;
  if (response.statusCode !== 200)
    throw new IdpUnavailableError('The local identity provider published no discovery document.');
  return JSON.parse(text) as Record<string, unknown>;
}
