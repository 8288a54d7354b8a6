import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { alertNames, alertRules, dashboard, recorded, runbook, RUNBOOKS, section } from "./deploy-files.js";
import { exportedSeries, promtoolParses, selectors, unknownReads, type SeriesInfo } from "./promql.js";

/**
 * Every alert has a runbook an on-call can follow: the sections in order, owners from the
 * documented template (filling it leaves no placeholder behind), a silence for that alert, a
 * rollback naming the deploy and the flag command, panel links that open existing panels, and
 * PromQL that parses and reads series forgebot exports.
 */

const SECTIONS = [
  "What it means",
  "Who is affected",
  "Owner and escalation",
  "Silencing",
  "Dependencies to check first",
  "Dashboard panels",
  "How to check",
  "Rollback",
  "What fixes it",
];
/** Placeholders every Owner and escalation section names. */
const COMMON_OWNERS = ["FORGEBOT_OWNER_TEAM", "FORGEBOT_ONCALL", "FORGEBOT_CHAT", "FORGEBOT_TICKET_QUEUE", "FORGEBOT_ESCALATION"];
const PANEL_LINK = /\[([^\]]+)\]\(\$\{FORGEBOT_GRAFANA_URL\}\/d\/([\w-]+)\/forgebot\?viewPanel=(\d+)\)/g;

const template = readFileSync(path.join(RUNBOOKS, "OWNERS.template.md"), "utf8");
/** Placeholder → example value, from the template's table. */
const examples = new Map([...template.matchAll(/^\| `\$\{(FORGEBOT_[A-Z_]+)\}` \| [^|]+ \| ([^|]+) \|$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
const pages = readdirSync(RUNBOOKS).filter((f) => f.endsWith(".md"));
const perForge = new Set(alertRules.filter((r) => /\$labels\.forge/.test(r.annotations?.summary ?? "")).map((r) => r.alert!));

function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]!))].sort();
}

function promqlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```promql\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split("\n").map((l) => l.trim()).filter(Boolean));
}

const scratch = mkdtempSync(path.join(tmpdir(), "forgebot-runbooks-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("runbooks", () => {
  let exported: Map<string, SeriesInfo>;
  beforeAll(async () => {
    exported = await exportedSeries();
  });

  it("exist for every alert, one per alert, listed in the README", () => {
    const readme = readFileSync(path.join(RUNBOOKS, "README.md"), "utf8");
    expect(alertNames.length).toBe(5);
    expect(pages.filter((p) => p.startsWith("Forgebot")).sort()).toEqual(alertNames.map((a) => `${a}.md`));
    for (const alert of alertNames) expect(readme).toContain(`[${alert}](${alert}.md)`);
  });

  it.each(alertNames)("%s has every section, in order, and speaks of both tiers", (alert) => {
    const page = runbook(alert);
    expect(page.split("\n").filter((l) => l.startsWith("## ")).map((l) => l.slice(3))).toEqual(SECTIONS);
    for (const heading of SECTIONS) expect({ heading, empty: section(page, heading)!.trim() === "" }).toEqual({ heading, empty: false });
    const meaning = section(page, "What it means")!;
    expect(meaning).toContain('`severity="page"`');
    expect(meaning).toContain('`severity="ticket"`');
  });

  it.each(alertNames)("%s names its owners with the template's placeholders", (alert) => {
    const owners = section(runbook(alert), "Owner and escalation")!;
    const used = placeholders(owners);
    expect(used).toEqual(expect.arrayContaining(COMMON_OWNERS));
    expect(used.filter((p) => !examples.has(p))).toEqual([]);
    expect(owners).toMatch(/\*\*Dependencies' owners:\*\* \S/);
  });

  it("leave no placeholder behind once the template's values fill them", () => {
    expect(examples.size).toBeGreaterThanOrEqual(10);
    for (const page of pages) {
      const text = readFileSync(path.join(RUNBOOKS, page), "utf8");
      const filled = text.replace(/\$\{(FORGEBOT_[A-Z_]+)\}/g, (whole, name: string) => examples.get(name) ?? whole);
      expect({ page, left: placeholders(filled).filter((p) => p.startsWith("FORGEBOT_")) }).toEqual({ page, left: [] });
    }
  });

  it.each(alertNames)("%s shows how to silence it", (alert) => {
    const silencing = section(runbook(alert), "Silencing")!;
    expect(silencing).toMatch(new RegExp(`amtool .*silence add \\\\\\n\\s+alertname=${alert}${perForge.has(alert) ? " forge=\\w+" : ""}`));
    expect(silencing).toContain("--duration=");
    expect(silencing).toContain("silence expire");
    expect(silencing).toContain("Alertmanager UI");
  });

  it.each(alertNames)("%s shows how to roll back the deploy and turn a flag off", (alert) => {
    const rollback = section(runbook(alert), "Rollback")!;
    expect(rollback).toMatch(/kubectl rollout undo deploy\/forgebot-(worker|web)/);
    expect(rollback).toContain("docker compose up -d");
    expect(rollback).toMatch(/forgebot feature set [A-Za-z_]+ false/);
  });

  it.each(alertNames)("%s lists the dependencies to check first", (alert) => {
    const deps = section(runbook(alert), "Dependencies to check first")!;
    expect(deps.match(/^\d+\. \*\*/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });

  it.each(alertNames)("%s links dashboard panels that exist, by id and title, including its own ratio and both ticket pairs", (alert) => {
    const links = [...section(runbook(alert), "Dashboard panels")!.matchAll(PANEL_LINK)].map((m) => ({ title: m[1]!, uid: m[2]!, id: Number(m[3]) }));
    expect(links.length).toBeGreaterThanOrEqual(5);
    const panels = new Map(dashboard.panels.map((p) => [p.id, p]));
    for (const link of links) expect({ ...link, title: panels.get(link.id)?.title, uid: dashboard.uid }).toEqual(link);
    const key = alertRules.find((r) => r.alert === alert)!.expr.match(/forgebot:(\w+)_errors:/)![1];
    const linkedReads = new Set(links.flatMap((l) => (panels.get(l.id)?.targets ?? []).flatMap((t) => selectors(t.expr).selectors.map((s) => s.metric))));
    for (const window of ["1h", "1d", "2h", "3d", "6h"]) expect(linkedReads).toContain(`forgebot:${key}_errors:ratio_rate${window}`);
  });

  it("have PromQL that parses and reads only what forgebot exports or the rules record", () => {
    const exprs = pages.flatMap((p) => promqlBlocks(readFileSync(path.join(RUNBOOKS, p), "utf8")));
    expect(exprs.length).toBeGreaterThanOrEqual(12);
    const run = promtoolParses(exprs, path.join(scratch, "runbooks.rules.yml"));
    expect(run).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${exprs.length} rules found`) });
    expect(exprs.flatMap((expr) => unknownReads(expr, exported, recorded).map((p) => `${expr}: ${p}`))).toEqual([]);
  });
});
