/**
 * A loopback HTTP proxy in front of the real Keycloak that loses one answer: the first request `loses` picks is
 * forwarded and fully processed by Keycloak, then the caller's connection is cut before the answer reaches it — what a
 * network failure after the IdP acted looks like. Every other request passes through untouched.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LosingProxy {
  url: string;
  /** The answers Keycloak gave to the picked requests, and whether each was lost on the way back. */
  answers(): Array<{ lost: boolean; status: number }>;
  close(): Promise<void>;
}

export async function startLosingProxy(
  target: string,
  loses: (method: string, path: string) => boolean,
): Promise<LosingProxy> {
  const upstream = new URL(target);
  const answers: Array<{ lost: boolean; status: number }> = [];
  let lost = false;
  const server = createServer((incoming, outgoing) => {
    const picked = loses(incoming.method ?? 'GET', (incoming.url ?? '/').split('?')[0]!);
    const forwarded = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: upstream.host },
      },
      (answer: IncomingMessage) => {
        if (picked && !lost) {
          lost = true;
          answers.push({ lost: true, status: answer.statusCode ?? 0 });
          answer.resume();
          answer.once('end', () => incoming.socket.destroy());
          return;
        }
        if (picked) answers.push({ lost: false, status: answer.statusCode ?? 0 });
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.once('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answers: () => [...answers],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
