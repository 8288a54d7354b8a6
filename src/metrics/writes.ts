import { Counter, Histogram } from "prom-client";
import { registry } from "./registry.js";

export const forgeWrites = new Counter({
  name: "forgebot_forge_writes_total",
  help: "Forge writes through the write budget, by forge, kind (started_note, reply, notice, review, delete) and outcome.",
  labelNames: ["forge", "kind", "outcome"] as const,
  registers: [registry],
});

export const forgeWriteWait = new Histogram({
  name: "forgebot_forge_write_wait_seconds",
  help: "Time from asking for a write slot to the write completing, by forge and kind.",
  labelNames: ["forge", "kind"] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
  registers: [registry],
});

export const rateLimitResponses = new Counter({
  name: "forgebot_forge_rate_limited_total",
  help: "Rate-limit answers (429, secondary-limit 403) from a forge, by forge.",
  labelNames: ["forge"] as const,
  registers: [registry],
});
