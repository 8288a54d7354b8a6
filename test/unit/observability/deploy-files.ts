import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { selectors } from "./promql.js";

/** The shipped Prometheus rules, their promtool tests, the Grafana dashboard and the runbooks, parsed once for the observability tests. */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const PROM = path.join(ROOT, "deploy/prometheus");
export const RUNBOOKS = path.join(ROOT, "docs/runbooks");

export type Rule = {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};
type RuleFile = { groups: { name: string; rules: Rule[] }[] };

export type ExpAlert = { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> };
export type AlertCase = { eval_time: string; alertname: string; exp_alerts?: ExpAlert[] };
export type PromtoolCase = {
  name: string;
  input_series: { series: string; values: string }[];
  alert_rule_test?: AlertCase[];
};
export type PromtoolFile = { rule_files: string[]; tests: PromtoolCase[] };

export type Panel = {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string }[];
};
export type Dashboard = { uid: string; panels: Panel[] };

function files(dir: string, suffix: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => path.join(dir, f));
}

export const RULE_FILES = files(path.join(PROM, "rules"), ".rules.yml");
export const TEST_FILES = files(path.join(PROM, "tests"), ".test.yml");

export const ruleFiles = new Map(RULE_FILES.map((f) => [f, parse(readFileSync(f, "utf8")) as RuleFile]));
export const rules = [...ruleFiles.values()].flatMap((f) => f.groups.flatMap((g) => g.rules));
export const alertRules = rules.filter((r) => r.alert);
export const alertNames = [...new Set(alertRules.map((r) => r.alert!))].sort();

/** Recorded series and the labels they keep (their `by` labels). */
export const recorded = new Map(rules.flatMap((r) => (r.record ? [[r.record, new Set(selectors(r.expr).grouping)] as const] : [])));

export const promtoolFiles = new Map(TEST_FILES.map((f) => [f, parse(readFileSync(f, "utf8")) as PromtoolFile]));

export const dashboard = JSON.parse(readFileSync(path.join(ROOT, "deploy/grafana/forgebot.json"), "utf8")) as Dashboard;
export const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

export function runbook(alert: string): string {
  return readFileSync(path.join(RUNBOOKS, `${alert}.md`), "utf8");
}

/** The body of one `## heading` section of a Markdown page, up to the next `## `; null when absent. */
export function section(markdown: string, heading: string): string | null {
  const lines = markdown.split("\n");
  const start = lines.indexOf(`## ${heading}`);
  if (start < 0) return null;
  const end = lines.findIndex((line, i) => i > start && line.startsWith("## "));
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
}
