import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * The one prom-client registry every forgebot metric registers with (process metrics included,
 * prefixed `forgebot_process_`). Kept apart from the definitions so scrape-time collectors can
 * register without an import cycle.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: "forgebot_process_" });
