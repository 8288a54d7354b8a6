import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { parse, stringify } from "yaml";
import { alertRules, PROM } from "./deploy-files.js";

/**
 * runbook_url comes from the external label `runbook_base_url`. Debian's promtool 2.42 has no
 * `external_labels` in unit tests (they check the placeholder form), so this starts a real
 * Prometheus with the external labels of deploy/prometheus/prometheus.yml and every forgebot
 * alert rule made to fire at once, and reads the expanded annotations from its API.
 */

type ApiAlert = { labels: Record<string, string>; annotations: Record<string, string>; state: string };

const scratch = mkdtempSync(path.join(tmpdir(), "forgebot-prometheus-"));
let prometheus: ChildProcess | null = null;
let log = "";

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus!.once("exit", resolve));
    prometheus.kill("SIGTERM");
    await exited;
  }
  rmSync(scratch, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function firingAlerts(url: string, want: number, deadline: number): Promise<ApiAlert[]> {
  for (;;) {
    if (prometheus?.exitCode !== null) throw new Error(`prometheus exited (${prometheus?.exitCode}): ${log}`);
    try {
      const res = await fetch(`${url}/api/v1/alerts`);
      const body = (await res.json()) as { data: { alerts: ApiAlert[] } };
      const firing = body.data.alerts.filter((a) => a.state === "firing");
      if (firing.length >= want) return firing;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`fewer than ${want} alerts fired in time: ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe("runbook_url", () => {
  it("is the external label runbook_base_url followed by the alert's runbook, in a running Prometheus", async () => {
    const deployed = parse(readFileSync(path.join(PROM, "prometheus.yml"), "utf8")) as { global: { external_labels: Record<string, string> } };
    const base = deployed.global.external_labels.runbook_base_url;
    expect(base).toMatch(/^https:\/\/\S+[^/]$/);

    // Every alert as shipped (labels, annotations), made to fire now for one forge.
    const probes = alertRules.map((r) => ({ alert: r.alert, expr: 'label_replace(vector(1), "forge", "github", "", "")', labels: r.labels, annotations: r.annotations }));
    writeFileSync(path.join(scratch, "probe.rules.yml"), stringify({ groups: [{ name: "probe", interval: "1s", rules: probes }] }));
    writeFileSync(path.join(scratch, "prometheus.yml"), stringify({ global: { evaluation_interval: "1s", external_labels: deployed.global.external_labels }, rule_files: ["probe.rules.yml"] }));

    const port = await freePort();
    const args = [`--config.file=${path.join(scratch, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(scratch, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"];
    prometheus = spawn("prometheus", args, { stdio: ["ignore", "pipe", "pipe"] });
    prometheus.stdout?.on("data", (chunk: Buffer) => (log += chunk.toString()));
    prometheus.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
    const spawned = await new Promise<Error | null>((resolve) => {
      prometheus!.once("spawn", () => resolve(null));
      prometheus!.once("error", resolve);
    });
    if (spawned) throw new Error(`prometheus could not run (${spawned.message}): install Debian's prometheus package (.ci/run does)`);

    const alerts = await firingAlerts(`http://127.0.0.1:${port}`, probes.length, Date.now() + 45_000);
    const links = alerts.map((a) => ({ alert: a.labels.alertname, severity: a.labels.severity, runbook_url: a.annotations.runbook_url })).sort((a, b) => `${a.alert}${a.severity}`.localeCompare(`${b.alert}${b.severity}`));
    expect(links).toEqual(
      alertRules
        .map((r) => ({ alert: r.alert, severity: r.labels?.severity, runbook_url: `${base}/${r.alert}.md` }))
        .sort((a, b) => `${a.alert}${a.severity}`.localeCompare(`${b.alert}${b.severity}`)),
    );
    for (const a of alerts) expect(a.annotations.summary).not.toMatch(/\{\{|  /);
  });
});
