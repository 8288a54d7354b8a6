/** Reads `/metrics` as Prometheus text into `name{label="v",...}` → value (labels sorted). */
export type Samples = Map<string, number>;

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function key(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`);
  return parts.length ? `${name}{${parts.join(",")}}` : name;
}

export function parseMetrics(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(LABEL)) labels[k!] = v!;
    samples.set(key(m[1]!, labels), Number(m[3]));
  }
  return samples;
}

export async function scrape(baseUrl: string): Promise<Samples> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseMetrics(await res.text());
}

/** One sample's value; 0 when the series does not exist (a counter not yet incremented). */
export function value(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  return samples.get(key(name, labels)) ?? 0;
}

/** Sum over every series of `name` whose labels include `match`. */
export function sum(samples: Samples, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const [k, v] of samples) {
    if (k !== name && !k.startsWith(`${name}{`)) continue;
    if (Object.entries(match).every(([lk, lv]) => k.includes(`${lk}="${lv}"`))) total += v;
  }
  return total;
}

/** How much one series moved between two scrapes. */
export function delta(before: Samples, after: Samples, name: string, labels: Record<string, string> = {}): number {
  return value(after, name, labels) - value(before, name, labels);
}
