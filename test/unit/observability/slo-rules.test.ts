import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "@jest/globals";
import { parse } from "yaml";
import { registry } from "../../../src/metrics/index.js";

/**
 * The Prometheus rules, their promtool unit tests, the runbooks and the Grafana dashboard, checked
 * together: promtool must accept and pass them, every alert must have a runbook and be shown both
 * firing and quiet, and every series the rules and the dashboard read must be one forgebot exports.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const PROM = path.join(ROOT, "deploy/prometheus");
const RULE_FILES = ["rules/forgebot-slo.rules.yml", "rules/forgebot-alerts.rules.yml"].map((f) => path.join(PROM, f));
const TEST_FILES = readdirSync(path.join(PROM, "tests"))
  .filter((f) => f.endsWith(".test.yml"))
  .map((f) => path.join(PROM, "tests", f));
const scratch = mkdtempSync(path.join(tmpdir(), "forgebot-rules-"));

type Rule = { record?: string; alert?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> };
type RuleFile = { groups: { name: string; rules: Rule[] }[] };
type PromtoolTest = { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] };
type Dashboard = { panels: { type: string; title: string; targets?: { expr: string }[] }[] };

const rules = RULE_FILES.flatMap((f) => (parse(readFileSync(f, "utf8")) as RuleFile).groups.flatMap((g) => g.rules));
const alerts = rules.filter((r) => r.alert);
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
const dashboard = JSON.parse(readFileSync(path.join(ROOT, "deploy/grafana/forgebot.json"), "utf8")) as Dashboard;
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync("promtool", args, { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  if (run.error) throw new Error(`promtool could not run (${run.error.message}): install Debian's prometheus package (.ci/run does)`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** One `promtool test rules` per file, in parallel (each file evaluates hours of samples). */
function promtoolTest(file: string): Promise<{ file: string; status: number; output: string }> {
  return new Promise((resolve) => {
    execFile("promtool", ["test", "rules", file], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ file: path.basename(file), status, output: `${stdout}${stderr}${err && status === -1 ? err.message : ""}` });
    });
  });
}

/** Names of every series forgebot exports, histogram series included. */
async function exportedSeries(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${metric.name}${suffix}`);
  }
  return names;
}

/** `forgebot_*` metric names and `forgebot:*` recording-rule names an expression reads. */
function referenced(expr: string): { metrics: string[]; records: string[] } {
  return {
    metrics: [...expr.matchAll(/\bforgebot_[a-z0-9_]+/g)].map((m) => m[0]),
    records: [...expr.matchAll(/\bforgebot:[a-z0-9_:]+/g)].map((m) => m[0]),
  };
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("Prometheus rules", () => {
  it("pass promtool check rules and check config", () => {
    const rulesCheck = promtool("check", "rules", ...RULE_FILES);
    expect(rulesCheck).toEqual({ status: 0, output: expect.stringContaining("SUCCESS: 21 rules found") });
    expect(rulesCheck.output).toContain("SUCCESS: 3 rules found");
    expect(promtool("check", "config", path.join(PROM, "prometheus.yml")).status).toBe(0);
  });

  it("pass their promtool unit tests", async () => {
    expect(TEST_FILES.length).toBeGreaterThanOrEqual(3);
    const runs = await Promise.all(TEST_FILES.map(promtoolTest));
    for (const run of runs) {
      expect(run.output).not.toContain("FAILED");
      expect({ file: run.file, status: run.status, success: run.output.includes("SUCCESS") }).toEqual({ file: run.file, status: 0, success: true });
    }
  });

  it("record error ratios over 5m, 30m, 1h, 6h and 3d for each SLO", () => {
    for (const sli of ["checkpoint", "delivery", "webhook"]) {
      for (const window of ["5m", "30m", "1h", "6h", "3d"]) expect(recorded).toContain(`forgebot:${sli}_errors:ratio_rate${window}`);
    }
  });

  it("give every alert a runbook, a page severity, and a test showing it firing and one showing it quiet", () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      "ForgebotCheckpointErrorsSLOViolation",
      "ForgebotDeliveryErrorsSLOViolation",
      "ForgebotWebhookErrorsSLOViolation",
    ]);
    const cases = TEST_FILES.flatMap((f) => ((parse(readFileSync(f, "utf8")) as { tests: PromtoolTest[] }).tests ?? []).flatMap((t) => t.alert_rule_test ?? []));
    for (const alert of alerts) {
      const name = alert.alert!;
      expect(alert.labels?.severity).toBe("page");
      expect(alert.expr).toMatch(/14\.4 \* 0\.05[\s\S]*or[\s\S]*6 \* 0\.05/);
      expect(alert.annotations?.runbook_url).toBe(`docs/runbooks/${name}.md`);
      const runbook = readFileSync(path.join(ROOT, "docs/runbooks", `${name}.md`), "utf8");
      for (const section of ["## What it means", "## Who is affected", "## How to check", "## What fixes it"]) expect(runbook).toContain(section);
      const mine = cases.filter((c) => c.alertname === name);
      expect({ name, firing: mine.some((c) => (c.exp_alerts ?? []).length > 0) }).toEqual({ name, firing: true });
      expect({ name, quiet: mine.some((c) => (c.exp_alerts ?? []).length === 0) }).toEqual({ name, quiet: true });
    }
  });
});

describe("rules and dashboard read only what forgebot exports", () => {
  it("every forgebot_* metric and forgebot:* record they use exists", async () => {
    const exported = await exportedSeries();
    const missing: string[] = [];
    for (const expr of [...rules.map((r) => r.expr), ...dashboardExprs]) {
      const { metrics, records } = referenced(expr);
      missing.push(...metrics.filter((m) => !exported.has(m)), ...records.filter((r) => !recorded.has(r)));
    }
    expect(missing).toEqual([]);
    expect(dashboardExprs.length).toBeGreaterThan(20);
  });

  it("every dashboard query is valid PromQL", () => {
    const file = path.join(scratch, "dashboard.rules.yml");
    const asRules = { groups: [{ name: "dashboard", rules: dashboardExprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] };
    writeFileSync(file, JSON.stringify(asRules));
    const run = promtool("check", "rules", file);
    expect(run).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${dashboardExprs.length} rules found`) });
  });
});
