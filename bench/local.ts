/**
 * The local driver (embedded oidc-provider, clients on disk): the bridge alone, a fresh data directory per run; there
 * is no separate IdP to call directly. The data directory is opened once before the bridge starts, as the store opens
 * it, so start to ready is a restart's: the very first start also makes the provider's RSA signing key, which takes
 * 0.1–1.5 s here (key generation searches for primes: its time varies from run to run).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataDirectory } from '../drivers/local/store.js';
import { benchDriver } from './suite.js';
import type { BenchOptions } from './support.js';

export const run = (options: BenchOptions) =>
  benchDriver(
    {
      driver: 'local',
      title:
        'local (embedded oidc-provider, clients in a fresh data directory with its keys made; bridge in its own process)',
      async prepareRun() {
        const dataDir = await mkdtemp(join(tmpdir(), 'dcr-bench-local-'));
        await openDataDirectory(dataDir, () => undefined);
        return {
          env: { DCR_DRIVER: 'local', DCR_LOCAL_DATA_DIR: dataDir },
          cleanup: () => rm(dataDir, { recursive: true, force: true }),
        };
      },
    },
    options,
  );
