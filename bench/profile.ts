/**
 * `node --import tsx bench/profile.ts <file.cpuprofile>...`: where a bridge's CPU went, by who asked for it. Time in
 * Node's own or native code is charged to the nearest caller that is a package (node_modules/<name>) or ours (src/,
 * drivers/), so `fetch`'s streams count for whoever called `fetch`; the rest is Node itself, GC, or idle.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The package or part of the bridge a frame's script belongs to; undefined for Node's internals and native code. */
function ownerOf(url: string): string | undefined {
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (inPackage) return inPackage[1];
  const ours = /\/(?:dist\/)?(src|drivers)\/(.+?)\.[jt]s$/.exec(url);
  if (ours) return `bridge: ${ours[1]}/${ours[2]}`;
  return undefined;
}

const special: Record<string, string> = {
  '(garbage collector)': 'GC',
  '(idle)': 'idle',
  '(program)': 'Node/V8 (program)',
  '(root)': 'Node/V8 (program)',
};

const totals = new Map<string, number>();
let busy = 0;
for (const file of process.argv.slice(2)) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const owners = new Map<number, string>();
  const charge = (id: number): string => {
    const known = owners.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const up = parent.get(id);
    const owner =
      special[node.callFrame.functionName] ??
      ownerOf(node.callFrame.url) ??
      (up === undefined ? 'Node internals' : charge(up));
    owners.set(id, owner === 'Node/V8 (program)' && up !== undefined ? charge(up) : owner);
    return owners.get(id)!;
  };
  profile.samples.forEach((id, index) => {
    const owner = charge(id);
    const micros = profile.timeDeltas[index] ?? 0;
    totals.set(owner, (totals.get(owner) ?? 0) + micros);
    if (owner !== 'idle') busy += micros;
  });
}

const rows = [...totals].filter(([owner]) => owner !== 'idle').sort((a, b) => b[1] - a[1]);
console.log(`busy ${(busy / 1e6).toFixed(2)} s (idle ${((totals.get('idle') ?? 0) / 1e6).toFixed(2)} s)`);
for (const [owner, micros] of rows.slice(0, 30))
  console.log(`${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${owner}`);
