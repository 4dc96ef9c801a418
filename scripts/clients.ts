/**
 * `npm run clients -- list|show <id>|delete <id>`: the operator's view of the clients the bridge owns at its IdP,
 * through a running bridge's `/operator/clients` (which asks the driver), so it works the same for every driver and
 * never opens the local driver's store beside the process that owns it. It never prints a secret.
 *
 *   DCR_BRIDGE_URL   the bridge (default http://localhost:$PORT, PORT 3000)
 *   DCR_OPERATOR_KEY one of the bridge's DCR_OPERATOR_KEYS (or DCR_OPERATOR_KEYS itself: its first key is used)
 */
import { envValue } from '../src/env.js';

const usage = `usage: npm run clients -- list [--limit N] [--cursor C] [--all] [--json]
       npm run clients -- show <client_id>
       npm run clients -- delete <client_id>
needs DCR_OPERATOR_KEY (one of the bridge's DCR_OPERATOR_KEYS) and DCR_BRIDGE_URL (default http://localhost:3000)`;

interface Listed {
  client_id: string;
  client_name?: string;
  dialect?: string;
  portal_id?: string;
  organization_id?: string;
  developer_id?: string;
  created_at?: number;
  open_registration?: boolean;
  pending?: boolean;
}

class UsageError extends Error {}

function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  if (index === -1) return undefined;
  const value = args[index + 1];
  if (value === undefined || value.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return value;
}

function line(client: Listed): string {
  const marks = [client.open_registration ? 'open-registration' : '', client.pending ? 'pending' : '']
    .filter((mark) => mark !== '')
    .join(',');
  return [
    client.client_id,
    client.dialect ?? '-',
    client.portal_id ?? '-',
    client.created_at ? new Date(client.created_at * 1000).toISOString() : '-',
    marks || '-',
    client.client_name ?? '',
  ].join('\t');
}

export async function runClients(args: string[], env: NodeJS.ProcessEnv, out: (text: string) => void): Promise<number> {
  const [command, ...rest] = args;
  const key = envValue(env, 'DCR_OPERATOR_KEY') ?? envValue(env, 'DCR_OPERATOR_KEYS')?.split(',')[0]?.trim();
  const base = (envValue(env, 'DCR_BRIDGE_URL') ?? `http://localhost:${envValue(env, 'PORT') ?? '3000'}`).replace(
    /\/+$/,
    '',
  );
  if (!command || !['list', 'show', 'delete'].includes(command)) throw new UsageError(usage);
  if (!key) throw new UsageError(`DCR_OPERATOR_KEY is not set\n${usage}`);
  const call = async (method: string, path: string) => {
    const response = await fetch(`${base}${path}`, { method, headers: { 'x-api-key': key } });
    const text = await response.text();
    const body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    if (!response.ok)
      throw new Error(`${method} ${path}: ${response.status} ${String(body.error)}: ${String(body.error_description)}`);
    return body;
  };

  if (command === 'list') {
    const limit = option(rest, '--limit') ?? '50';
    let cursor = option(rest, '--cursor');
    const all = rest.includes('--all');
    const json = rest.includes('--json');
    if (!json) out('client_id\tdialect\tportal_id\tcreated\tmarks\tclient_name');
    for (;;) {
      const query = new URLSearchParams({ limit, ...(cursor ? { cursor } : {}) });
      const page = await call('GET', `/operator/clients?${query}`);
      for (const client of page.clients as Listed[]) out(json ? JSON.stringify(client) : line(client));
      cursor = page.next as string | undefined;
      if (!cursor) return 0;
      if (!all) {
        out(`# more: npm run clients -- list --limit ${limit} --cursor ${cursor}`);
        return 0;
      }
    }
  }
  const clientId = rest[0];
  if (!clientId) throw new UsageError(`${command} needs a client id\n${usage}`);
  const path = `/operator/clients/${encodeURIComponent(clientId)}`;
  if (command === 'show') out(JSON.stringify(await call('GET', path), null, 2));
  else {
    await call('DELETE', path);
    out(`deleted ${clientId}`);
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runClients(process.argv.slice(2), process.env, (text) => console.log(text)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(error instanceof UsageError ? 2 : 1);
    },
  );
}
