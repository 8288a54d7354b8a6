import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { Histogram } from "prom-client";
import * as flows from "../../../src/metrics/flows.js";
import { dashboard, dashboardExprs, recorded } from "./deploy-files.js";
import { exportedSeries, promtoolParses, selectors, unknownReads } from "./promql.js";

/**
 * The Grafana dashboard: every query is PromQL promtool accepts and reads only series forgebot
 * exports or the rules record, with labels and outcomes they have; every flow metric has a
 * panel; both tiers' burn rates are shown for every SLO; panels sit on the grid without overlap.
 */

const scratch = mkdtempSync(path.join(tmpdir(), "forgebot-dashboard-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const read = new Set(dashboardExprs.flatMap((expr) => selectors(expr).selectors.map((s) => s.metric)));

describe("Grafana dashboard", () => {
  it("has every query parsed by promtool", () => {
    expect(dashboardExprs.length).toBeGreaterThan(60);
    const run = promtoolParses(dashboardExprs, path.join(scratch, "dashboard.rules.yml"));
    expect(run).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${dashboardExprs.length} rules found`) });
  });

  it("reads only series forgebot exports or the rules record, by labels and outcomes they have", async () => {
    const exported = await exportedSeries();
    const problems = dashboardExprs.flatMap((expr) => unknownReads(expr, exported, recorded).map((p) => `${expr}: ${p}`));
    expect(problems).toEqual([]);
  });

  it("shows every metric of the review, change, sandbox, workspace and sign-in flows", () => {
    const metrics = Object.values(flows);
    expect(metrics.length).toBe(12);
    const missing = metrics.flatMap((m) => {
      const name = (m as unknown as { name: string }).name;
      const series = m instanceof Histogram ? [`${name}_bucket`, `${name}_count`, `${name}_sum`] : [name];
      return series.some((s) => read.has(s)) ? [] : [name];
    });
    expect(missing).toEqual([]);
  });

  it("shows both page and both ticket pairs of every SLO as burn rates, and each SLO's 1h ratio and 3-day budget", () => {
    for (const key of ["checkpoint", "delivery", "webhook", "review", "publish"]) {
      for (const window of ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]) expect(read).toContain(`forgebot:${key}_errors:ratio_rate${window}`);
      expect(dashboardExprs).toContain(`forgebot:${key}_errors:ratio_rate1h`);
      expect(dashboardExprs).toContain(`1 - forgebot:${key}_errors:ratio_rate3d / 0.05`);
    }
    const ticketPanels = dashboard.panels.filter((p) => /ticket/.test(p.title) && p.type === "timeseries");
    expect(ticketPanels.map((p) => p.title)).toEqual(["Burn rate, ticket fast pair (1d and 2h; ticket above 3)", "Burn rate, ticket slow pair (3d and 6h; ticket above 1)"]);
  });

  it("has unique panel ids and lays panels on the 24-column grid without overlap", () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Map<string, number>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      expect({ id: p.id, fits: x >= 0 && w > 0 && x + w <= 24 && h > 0 }).toEqual({ id: p.id, fits: true });
      if (p.type !== "row") expect({ id: p.id, targets: (p.targets ?? []).length > 0 }).toEqual({ id: p.id, targets: true });
      for (let col = x; col < x + w; col++) {
        for (let row = y; row < y + h; row++) {
          const owner = cells.get(`${col},${row}`);
          expect({ cell: `${col},${row}`, owners: owner === undefined ? [p.id] : [owner, p.id] }).toEqual({ cell: `${col},${row}`, owners: [p.id] });
          cells.set(`${col},${row}`, p.id);
        }
      }
    }
  });
});
