import { execFile, spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { alertNames, alertRules, PROM, promtoolFiles, recorded, ROOT, RULE_FILES, ruleFiles, rules, TEST_FILES, type PromtoolCase } from "./deploy-files.js";
import { exportedSeries, unknownReads } from "./promql.js";

/**
 * The SLO rules and their promtool unit tests: promtool accepts and passes them; every SLO has
 * the workbook's page and ticket tiers on the right windows, burn rates and guards; and every
 * tier is shown firing and quiet, including a steady 20 % error ratio (a ticket, no page) and a
 * steady 2 % (nothing), found from the test series themselves rather than from test names.
 */

type Slo = {
  key: string;
  alert: string;
  slo: string;
  metric: string;
  /** The outcome that is an error, and the outcomes the ratio counts (all when absent). */
  error: string;
  counted?: string[];
  perForge: boolean;
  guards: { h1: number; h6: number; d1: number; d3: number };
};

const SLOS: Slo[] = [
  { key: "checkpoint", alert: "ForgebotCheckpointErrorsSLOViolation", slo: "checkpoint-operations", metric: "forgebot_checkpoint_operations_total", error: "error", perForge: false, guards: { h1: 20, h6: 60, d1: 100, d3: 300 } },
  { key: "delivery", alert: "ForgebotDeliveryErrorsSLOViolation", slo: "deliveries", metric: "forgebot_deliveries_total", error: "failed", perForge: true, guards: { h1: 10, h6: 30, d1: 40, d3: 120 } },
  { key: "webhook", alert: "ForgebotWebhookErrorsSLOViolation", slo: "webhook-handling", metric: "forgebot_webhooks_received_total", error: "error", perForge: true, guards: { h1: 10, h6: 30, d1: 40, d3: 120 } },
  { key: "review", alert: "ForgebotReviewErrorsSLOViolation", slo: "reviews", metric: "forgebot_reviews_total", error: "failed", counted: ["posted", "found_existing", "failed"], perForge: true, guards: { h1: 5, h6: 15, d1: 20, d3: 60 } },
  { key: "publish", alert: "ForgebotPublishErrorsSLOViolation", slo: "publishes", metric: "forgebot_publishes_total", error: "failed", counted: ["published", "failed"], perForge: true, guards: { h1: 5, h6: 15, d1: 20, d3: 60 } },
];

/** The workbook's pairs: [long window, short window, burn rate, guard] per tier. */
function tiers(g: Slo["guards"]) {
  return {
    page: { for: "2m", pairs: [["1h", "5m", "14.4", g.h1], ["6h", "30m", "6", g.h6]] as const },
    ticket: { for: "15m", pairs: [["1d", "2h", "3", g.d1], ["3d", "6h", "1", g.d3]] as const },
  };
}

function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync("promtool", args, { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  if (run.error) throw new Error(`promtool could not run (${run.error.message}): install Debian's prometheus package (.ci/run does)`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** One `promtool test rules` per file, in parallel (each file evaluates hours of samples). */
function promtoolTest(file: string): Promise<{ file: string; status: number; output: string }> {
  return new Promise((resolve) => {
    execFile("promtool", ["test", "rules", file], { cwd: ROOT, timeout: 120_000 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ file: path.basename(file), status, output: `${stdout}${stderr}${err && status === -1 ? err.message : ""}` });
    });
  });
}

/** The per-minute slope of `0+Nx…`, or null for any other shape (a step, a flat line, several segments). */
function steadySlope(values: string): number | null {
  const m = /^0\+(\d+(?:\.\d+)?)x\d+$/.exec(values.trim());
  return m ? Number(m[1]) : null;
}

/** The error share of a case whose every series grows steadily; null when some series does not. */
function steadyErrorShare(slo: Slo, test: PromtoolCase): number | null {
  let errors = 0;
  let counted = 0;
  for (const { series, values } of test.input_series) {
    const slope = steadySlope(values);
    if (slope === null) return null;
    const outcome = /outcome="([^"]+)"/.exec(series)?.[1] ?? "";
    if (!series.startsWith(`${slo.metric}{`) || (slo.counted && !slo.counted.includes(outcome))) continue;
    counted += slope;
    if (outcome === slo.error) errors += slope;
  }
  return counted > 0 ? errors / counted : null;
}

function severities(c: { exp_alerts?: { exp_labels?: Record<string, string> }[] }): string[] {
  return (c.exp_alerts ?? []).map((a) => a.exp_labels?.severity ?? "").sort();
}

function casesFor(slo: Slo): PromtoolCase[] {
  const file = path.join(PROM, "tests", `${slo.key}-errors.test.yml`);
  return promtoolFiles.get(file)?.tests ?? [];
}

describe("Prometheus rules", () => {
  it("pass promtool check rules and check config", () => {
    const check = promtool("check", "rules", ...RULE_FILES);
    expect(check.status).toBe(0);
    expect(check.output.match(/SUCCESS: 13 rules found/g)).toHaveLength(SLOS.length);
    const config = promtool("check", "config", path.join(PROM, "prometheus.yml"));
    expect(config).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${SLOS.length} rule files found`) });
  });

  it("pass their promtool unit tests, one test file per rule file", async () => {
    expect(RULE_FILES.map((f) => path.basename(f))).toEqual(SLOS.map((s) => `forgebot-slo-${s.key}.rules.yml`).sort());
    expect(TEST_FILES.map((f) => path.basename(f))).toEqual(SLOS.map((s) => `${s.key}-errors.test.yml`).sort());
    for (const slo of SLOS) {
      expect(promtoolFiles.get(path.join(PROM, "tests", `${slo.key}-errors.test.yml`))?.rule_files).toEqual([`../rules/forgebot-slo-${slo.key}.rules.yml`]);
    }
    const runs = await Promise.all(TEST_FILES.map(promtoolTest));
    for (const run of runs) {
      expect(run.output).not.toContain("FAILED");
      expect({ file: run.file, status: run.status, success: run.output.includes("SUCCESS") }).toEqual({ file: run.file, status: 0, success: true });
    }
  });

  it("record each SLO's error ratio over every window of both tiers, and its operations over every guard's window", () => {
    for (const slo of SLOS) {
      for (const window of ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]) {
        expect(recorded.get(`forgebot:${slo.key}_errors:ratio_rate${window}`)).toEqual(new Set(slo.perForge ? ["forge"] : []));
      }
      for (const window of ["1h", "6h", "1d", "3d"]) expect(recorded.has(`forgebot:${slo.key}_operations:increase${window}`)).toBe(true);
    }
    const names = [...ruleFiles.values()].flatMap((f) => f.groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
    expect(new Set(names).size).toBe(names.length);
  });

  it("read only series forgebot exports or other rules record, by labels and outcomes they have", async () => {
    const exported = await exportedSeries();
    expect(rules.flatMap((r) => unknownReads(r.expr, exported, recorded).map((p) => `${r.record ?? r.alert}: ${p}`))).toEqual([]);
  });

  it("count only the outcomes each SLO counts: refused and conflicting publishes are outside the publish ratio", () => {
    for (const slo of SLOS) {
      const ratio = [...ruleFiles.values()].flatMap((f) => f.groups.flatMap((g) => g.rules)).find((r) => r.record === `forgebot:${slo.key}_errors:ratio_rate1h`)!;
      expect(ratio.expr).toContain(`${slo.metric}{outcome="${slo.error}"}[1h]`);
      if (slo.counted) expect(ratio.expr).toContain(`${slo.metric}{outcome=~"${slo.counted.join("|")}"}[1h]`);
    }
  });

  it("give every SLO one alert with a page and a ticket rule on the workbook's windows, burn rates and guards", () => {
    expect(alertNames).toEqual(SLOS.map((s) => s.alert).sort());
    for (const slo of SLOS) {
      const mine = alertRules.filter((r) => r.alert === slo.alert);
      expect(mine.map((r) => r.labels?.severity).sort()).toEqual(["page", "ticket"]);
      for (const [severity, tier] of Object.entries(tiers(slo.guards))) {
        const rule = mine.find((r) => r.labels?.severity === severity)!;
        expect({ alert: slo.alert, severity, for: rule.for, slo: rule.labels?.slo }).toEqual({ alert: slo.alert, severity, for: tier.for, slo: slo.slo });
        const pairs = rule.expr.split(/\n\s*or\s*\n/).map((p) => p.replace(/\s+/g, " ").trim());
        expect(pairs).toEqual(
          tier.pairs.map(
            ([long, short, rate, guard]) =>
              `( forgebot:${slo.key}_errors:ratio_rate${long} > (${rate} * 0.05) and forgebot:${slo.key}_errors:ratio_rate${short} > (${rate} * 0.05) and forgebot:${slo.key}_operations:increase${long} >= ${guard} )`,
          ),
        );
        expect(rule.annotations?.runbook_url).toBe(`{{ with $externalLabels.runbook_base_url }}{{ . }}{{ else }}https://RUNBOOK_BASE{{ end }}/${slo.alert}.md`);
        if (slo.perForge) expect(`${rule.annotations?.summary} ${rule.annotations?.description}`).toContain("{{ $labels.forge }}");
      }
    }
  });

  it("show each tier firing and quiet in the promtool tests of every SLO", () => {
    for (const slo of SLOS) {
      const checks = casesFor(slo).flatMap((c) => c.alert_rule_test ?? []);
      expect(checks.every((c) => c.alertname === slo.alert)).toBe(true);
      const seen = new Set(checks.map((c) => severities(c).join("+") || "quiet"));
      expect({ alert: slo.alert, seen: [...seen].sort() }).toEqual({ alert: slo.alert, seen: ["page+ticket", "quiet", "ticket"] });
      for (const c of checks.flatMap((k) => k.exp_alerts ?? [])) {
        expect(c.exp_annotations?.runbook_url).toBe(`https://RUNBOOK_BASE/${slo.alert}.md`);
        if (slo.perForge) expect(c.exp_labels?.forge).toMatch(/^(github|gitlab)$/);
      }
    }
  });

  it("show a steady 20 % error ratio opening a ticket and never paging, and a steady 2 % raising nothing, for every SLO", () => {
    for (const slo of SLOS) {
      const steady = casesFor(slo).map((c) => ({ share: steadyErrorShare(slo, c), checks: c.alert_rule_test ?? [] }));
      const twenty = steady.filter((c) => c.share !== null && Math.abs(c.share - 0.2) < 1e-9);
      const two = steady.filter((c) => c.share !== null && Math.abs(c.share - 0.02) < 1e-9);
      expect({ alert: slo.alert, twenty: twenty.length, two: two.length }).toEqual({ alert: slo.alert, twenty: 1, two: 1 });
      const ticketed = twenty[0]!.checks.map(severities);
      expect(ticketed).toContainEqual(["ticket"]);
      expect(ticketed.flat()).not.toContain("page");
      expect(two[0]!.checks.length).toBeGreaterThan(0);
      expect(two[0]!.checks.map(severities).flat()).toEqual([]);
    }
  });
});
