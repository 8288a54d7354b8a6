import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { registry } from "../../../src/metrics/index.js";
import "../../../src/metrics/flows.js";
import "../../../src/metrics/writes.js";

/**
 * What the observability tests need to know about PromQL: promtool says whether an expression
 * parses; `selectors` says which series it reads and how it groups them, so a test can check
 * every name, label and outcome against what forgebot's registry exports.
 */

export type Matcher = { label: string; op: "=" | "!=" | "=~" | "!~"; value: string };
export type Selector = { metric: string; matchers: Matcher[] };
export type Reads = { selectors: Selector[]; grouping: string[] };

/** Words that are not metric names when they are not followed by `(`. */
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]);
/** Modifiers followed by a parenthesized list of label names. */
const LABEL_LISTS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const TOKEN = /\s+|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\{[^}]*\}|\[[^\]]*\]|[a-zA-Z_:][a-zA-Z0-9_:]*|\d+(?:\.\d+)?(?:e[+-]?\d+)?[smhdwy]*|\(|\)|,|[-+*/%^<>=!]+|#[^\n]*/gy;
const MATCHER = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/gy;

function matchers(block: string): Matcher[] {
  const inner = block.slice(1, -1);
  const found: Matcher[] = [];
  MATCHER.lastIndex = 0;
  while (MATCHER.lastIndex < inner.length) {
    const start = MATCHER.lastIndex;
    const m = MATCHER.exec(inner);
    if (!m) {
      if (inner.slice(start).trim() === "") break;
      throw new Error(`unsupported label matchers: ${block}`);
    }
    found.push({ label: m[1]!, op: m[2] as Matcher["op"], value: m[3]! });
  }
  return found;
}

/**
 * The series selectors and grouping labels of an expression, by a lexical walk that is enough
 * for the expressions forgebot ships (promtool checks the syntax separately): an identifier is a
 * metric name unless `(`, `by` or `without` follows it (a function or aggregation) or it is a
 * keyword; label lists
 * after by/without/on/ignoring/group_* are grouping labels; `{…}` after a name are its matchers.
 */
export function selectors(expr: string): Reads {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expr.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(expr);
    if (!m) throw new Error(`cannot read PromQL at "${expr.slice(at, at + 20)}" in ${expr}`);
    if (!/^\s|^#/.test(m[0])) tokens.push(m[0]);
  }
  const reads: Reads = { selectors: [], grouping: [] };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (LABEL_LISTS.has(token) && tokens[i + 1] === "(") {
      for (i += 2; i < tokens.length && tokens[i] !== ")"; i++) if (tokens[i] !== ",") reads.grouping.push(tokens[i]!);
      continue;
    }
    if (token.startsWith("{")) throw new Error(`a selector without a metric name: ${expr}`);
    const next = tokens[i + 1];
    // `sum by (…) (…)`: an aggregation whose grouping comes first
    if (!/^[a-zA-Z_:]/.test(token) || KEYWORDS.has(token) || next === "(" || next === "by" || next === "without") continue;
    const braces = next?.startsWith("{") ?? false;
    reads.selectors.push({ metric: token, matchers: braces ? matchers(next!) : [] });
    if (braces) i++;
  }
  return reads;
}

/** What a series name may be read with: its labels and, where the registry already has series, their values. */
export type SeriesInfo = { labels: Set<string>; values: Map<string, Set<string>> };

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ["job", "instance"];

/** Every series name forgebot exports (histograms with their _bucket, _sum and _count), its labels and the label values it already has. */
export async function exportedSeries(): Promise<Map<string, SeriesInfo>> {
  const series = new Map<string, SeriesInfo>();
  for (const metric of await registry.getMetricsAsJSON()) {
    const declared = (registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    const values = new Map<string, Set<string>>();
    for (const sample of metric.values) {
      for (const [label, value] of Object.entries(sample.labels)) {
        if (label === "le") continue;
        if (!values.has(label)) values.set(label, new Set());
        values.get(label)!.add(String(value));
      }
    }
    const info = (extra: string[] = []): SeriesInfo => ({ labels: new Set([...declared, ...TARGET_LABELS, ...extra]), values });
    if (String(metric.type) === "histogram") {
      series.set(`${metric.name}_bucket`, info(["le"]));
      series.set(`${metric.name}_sum`, info());
      series.set(`${metric.name}_count`, info());
    } else {
      series.set(metric.name, info());
    }
  }
  return series;
}

/**
 * Problems with what an expression reads: names neither exported nor recorded, matchers on
 * labels the series does not have, outcome values the registry's zero-initialised series do not
 * know, grouping labels no series of the expression carries. Empty when all is well.
 */
export function unknownReads(expr: string, exported: Map<string, SeriesInfo>, recorded: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  const { selectors: reads, grouping } = selectors(expr);
  const available = new Set<string>();
  for (const { metric, matchers: ms } of reads) {
    const info = exported.get(metric);
    const labels = info?.labels ?? recorded.get(metric);
    if (!labels) {
      problems.push(`${metric}: not exported by forgebot nor recorded by a rule`);
      continue;
    }
    for (const label of labels) available.add(label);
    for (const m of ms) {
      if (!labels.has(m.label)) {
        problems.push(`${metric}: no label ${m.label}`);
        continue;
      }
      const known = info?.values.get(m.label);
      if (!known) continue;
      const wanted = m.op === "=" || m.op === "!=" ? [m.value] : /^[a-z_|]+$/.test(m.value) ? m.value.split("|") : [];
      for (const value of wanted) if (!known.has(value)) problems.push(`${metric}: ${m.label}="${value}" is not one of ${[...known].sort().join(", ")}`);
    }
  }
  for (const label of grouping) if (!available.has(label)) problems.push(`grouping by ${label}, which no series of the expression has`);
  return problems;
}

/** Writes each expression as a recording rule and asks promtool to check them; returns promtool's status and output. */
export function promtoolParses(exprs: string[], file: string): { status: number | null; output: string } {
  const asRules = { groups: [{ name: "parse", rules: exprs.map((expr, i) => ({ record: `parse:expr_${i}`, expr })) }] };
  writeFileSync(file, JSON.stringify(asRules));
  const run = spawnSync("promtool", ["check", "rules", file], { cwd: path.dirname(file), encoding: "utf8", timeout: 60_000 });
  if (run.error) throw new Error(`promtool could not run (${run.error.message}): install Debian's prometheus package (.ci/run does)`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}
