import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { exportedSeries, promtoolParses, selectors, unknownReads, type SeriesInfo } from "./promql.js";

/** The checks the dashboard and runbook tests rely on, shown catching what they are meant to catch. */

const scratch = mkdtempSync(path.join(tmpdir(), "forgebot-promql-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("selectors", () => {
  it.each([
    ['forgebot:review_errors:ratio_rate1h / 0.05', [["forgebot:review_errors:ratio_rate1h", []]], []],
    [
      'sum by (forge, outcome) (increase(forgebot_publishes_total{outcome!="ok", forge=~"git.*"}[1h]))',
      [["forgebot_publishes_total", [["outcome", "!=", "ok"], ["forge", "=~", "git.*"]]]],
      ["forge", "outcome"],
    ],
    [
      'histogram_quantile(0.95, sum by (le, outcome) (rate(forgebot_sandbox_command_duration_seconds_bucket[15m])))',
      [["forgebot_sandbox_command_duration_seconds_bucket", []]],
      ["le", "outcome"],
    ],
    [
      "forgebot:x:ratio_rate1h > (14.4 * 0.05) and on (forge) forgebot:x:increase1h >= 5 or sum(up) without (instance)",
      [["forgebot:x:ratio_rate1h", []], ["forgebot:x:increase1h", []], ["up", []]],
      ["forge", "instance"],
    ],
  ] as const)("%s", (expr, want, grouping) => {
    const reads = selectors(expr);
    expect(reads.selectors.map((s) => [s.metric, s.matchers.map((m) => [m.label, m.op, m.value])])).toEqual(want);
    expect(reads.grouping).toEqual(grouping);
  });

  it("refuses a selector without a metric name rather than miss it", () => {
    expect(() => selectors('sum(rate({__name__="forgebot_reviews_total"}[5m]))')).toThrow("without a metric name");
  });
});

describe("unknownReads", () => {
  let exported: Map<string, SeriesInfo>;
  const recorded = new Map([["forgebot:review_errors:ratio_rate1h", new Set(["forge"])]]);
  beforeAll(async () => {
    exported = await exportedSeries();
  });

  it.each([
    ["sum by (forge, outcome) (rate(forgebot_reviews_total[5m]))", []],
    ['sum by (step) (increase(forgebot_publish_steps_total{outcome="error"}[1h]))', []],
    ["max by (forge) (forgebot:review_errors:ratio_rate1h)", []],
    ["sum(rate(forgebot_reveiws_total[5m]))", ["forgebot_reveiws_total: not exported by forgebot nor recorded by a rule"]],
    ['sum(rate(forgebot_sandbox_commands_total{forge="github"}[5m]))', ["forgebot_sandbox_commands_total: no label forge"]],
    ["sum by (forge) (rate(forgebot_sandbox_commands_total[5m]))", ["grouping by forge, which no series of the expression has"]],
    ['sum(rate(forgebot_publishes_total{outcome="error"}[5m]))', ["forgebot_publishes_total: outcome=\"error\" is not one of conflict, failed, published, refused"]],
    ['sum(rate(forgebot_reviews_total{outcome=~"posted|skipped"}[5m]))', ["forgebot_reviews_total: outcome=\"skipped\" is not one of failed, found_existing, posted"]],
    ["forgebot:review_errors:ratio_rate2h", ["forgebot:review_errors:ratio_rate2h: not exported by forgebot nor recorded by a rule"]],
    ["histogram_quantile(0.5, sum by (le) (rate(forgebot_workspace_bytes_bucket[1h])))", []],
    [
      "histogram_quantile(0.5, sum by (le) (rate(forgebot_workspace_bytes[1h])))",
      ["forgebot_workspace_bytes: not exported by forgebot nor recorded by a rule", "grouping by le, which no series of the expression has"],
    ],
  ] as const)("%s", (expr, problems) => {
    expect(unknownReads(expr, exported, recorded)).toEqual(problems);
  });
});

describe("promtoolParses", () => {
  it("accepts valid PromQL and rejects a broken expression", () => {
    expect(promtoolParses(["sum by (forge) (rate(forgebot_reviews_total[5m]))"], path.join(scratch, "good.yml")).status).toBe(0);
    const bad = promtoolParses(["sum by (forge) (rate(forgebot_reviews_total[5m])"], path.join(scratch, "bad.yml"));
    expect(bad.status).not.toBe(0);
    expect(bad.output).toContain("parse error");
  });
});
