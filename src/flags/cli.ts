import type { Config } from "../config/index.js";

/** `forgebot feature …` — TODO(#6): feature flags with percentage-of-actors rollouts. */
export async function runFeatureCli(_config: Config, _args: string[]): Promise<number> {
  process.stderr.write("forgebot feature: feature flags are not available yet\n");
  return 2;
}
