/**
 * A listening bridge for the standard DCR tests: real clients (oauth4webapi, openid-client, the MCP SDK) need a URL,
 * and the bridge's public URL is the one it really answers at, so every absolute URL it writes can be followed.
 */
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DcrDriver } from '../../src/driver/contract.js';
import { createLocalDriver } from '../../drivers/local/index.js';
import type { BridgeConfig, StandardDcrConfig } from '../../src/config.js';
import { BridgeEvents } from '../../src/events.js';
import { createTestApp } from '../support/app.js';
import { completeDriver } from '../../src/core/driver.js';

export interface StandardBridge {
  url: string;
  apiKey: string;
  driver: DcrDriver;
  events: BridgeEvents;
  stop(): Promise<void>;
}

export async function startStandardBridge(
  makeDriver: (publicUrl: string) => Promise<DcrDriver>,
  standardDcr: Partial<StandardDcrConfig> = {},
  overrides: Partial<BridgeConfig> = {},
): Promise<StandardBridge> {
  let listener: RequestListener = (_request, response) => response.writeHead(503).end();
  const server = createServer((request, response) => listener(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const driver = await makeDriver(url);
  const events = new BridgeEvents();
  const bridge = await createTestApp(
    driver,
    {
      publicUrl: url,
      standardDcr: { tokenRotation: 'on-update', discoveryTtlSeconds: 300, ...standardDcr },
      ...overrides,
    },
    { events },
  );
  listener = bridge.app;
  return {
    url,
    apiKey: bridge.apiKey,
    driver,
    events,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await bridge.close();
      await driver.close();
    },
  };
}

/** A local driver in a fresh data directory, removed when the driver closes. */
export async function localDriver(publicUrl: string): Promise<DcrDriver> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dcr-standard-'));
  const driver = completeDriver(await createLocalDriver({ publicUrl, dataDir }));
  return {
    ...driver,
    async close() {
      await driver.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Exchange {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** One JSON call to the bridge with an optional bearer token. */
export async function call(
  bridgeUrl: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<Exchange> {
  const response = await fetch(`${bridgeUrl}${path}`, {
    method,
    headers: {
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}
