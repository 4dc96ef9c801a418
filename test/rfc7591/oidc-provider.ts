/**
 * Starts test/rfc7591/oidc-provider-server.mjs (node-oidc-provider as a server of its own) in a child process on a free
 * loopback port and stops it by its PID. What it knows is learnt over HTTP only, as the driver does.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from '../support/free-port.js';

export interface OidcProviderServer {
  issuer: string;
  registrationEndpoint: string;
  initialAccessToken: string;
  pid: number;
  /** Whether `secret` gets `clientId` a client-credentials token at the provider's token endpoint. */
  secretWorks(clientId: string, secret: string): Promise<boolean>;
  /** Registers a client straight at the provider (not through the bridge): its id, secret and management pair. */
  registerDirectly(): Promise<{ clientId: string; clientSecret: string; token: string; uri: string }>;
  stop(): Promise<void>;
}

const script = fileURLToPath(new URL('./oidc-provider-server.mjs', import.meta.url));

export async function startOidcProvider(): Promise<OidcProviderServer> {
  const port = await freeLoopbackPort();
  const initialAccessToken = randomBytes(24).toString('base64url');
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, PORT: String(port), INITIAL_ACCESS_TOKEN: initialAccessToken, NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('node-oidc-provider did not start');
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node-oidc-provider did not listen in 20 s: ${output}`)), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = /listening (\S+)/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node-oidc-provider exited (${String(code)}): ${output}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    issuer,
    registrationEndpoint: `${issuer}/reg`,
    initialAccessToken,
    pid,
    async secretWorks(clientId, secret) {
      const answer = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        },
        body: 'grant_type=client_credentials',
      });
      return answer.status === 200;
    },
    async registerDirectly() {
      const answer = await fetch(`${issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${initialAccessToken}` },
        body: JSON.stringify({
          client_name: 'an admin client',
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
        }),
      });
      const body = (await answer.json()) as Record<string, string>;
      if (answer.status !== 201) throw new Error(`direct registration answered ${answer.status}`);
      return {
        clientId: body.client_id!,
        clientSecret: body.client_secret!,
        token: body.registration_access_token!,
        uri: body.registration_client_uri!,
      };
    },
    async stop() {
      process.kill(pid, 'SIGTERM');
      await exited;
    },
  };
}
