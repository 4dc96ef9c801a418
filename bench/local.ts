/**
 * The local driver (embedded oidc-provider, clients on disk): the bridge alone, a fresh data directory per run; there
 * is no separate IdP to call directly.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchDriver } from './suite.js';
import type { BenchOptions } from './support.js';

export const run = (options: BenchOptions) =>
  benchDriver(
    {
      driver: 'local',
      title: 'local (embedded oidc-provider, clients in a fresh data directory; bridge in its own process)',
      async prepareRun() {
        const dataDir = await mkdtemp(join(tmpdir(), 'dcr-bench-local-'));
        return { env: { DCR_DRIVER: 'local', DCR_LOCAL_DATA_DIR: dataDir }, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
      },
    },
    options,
  );
