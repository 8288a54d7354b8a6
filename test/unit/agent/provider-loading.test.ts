import { spawnSync } from "node:child_process";
import { describe, expect, it } from "@jest/globals";
import { ROOT } from "../../helpers/processes.js";

/**
 * Provider SDKs load only when a spec of theirs is built: a fresh Node process (under tsx)
 * records every module it resolves while building the given providers' models.
 */
const HOOKS = `
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  port.postMessage(resolved.url);
  return resolved;
}`;

const PROBE = `
import { register } from "node:module";
import { MessageChannel } from "node:worker_threads";
const { port1, port2 } = new MessageChannel();
const seen = new Set();
port1.on("message", (url) => seen.add(url));
register("data:text/javascript,${encodeURIComponent(HOOKS)}", { data: { port: port2 }, transferList: [port2] });
const { createLanguageModel } = await import("./src/agent/models/providers.ts");
for (const provider of JSON.parse(process.argv[1])) {
  await createLanguageModel({ name: provider, provider, model: "m", baseUrl: "http://127.0.0.1:1/v1", apiKey: "k", weight: 1, isDefault: true, region: "us-east-1", project: "p", location: "us-central1" });
}
await new Promise((r) => setTimeout(r, 100));
port1.close();
const packages = [...seen].map((u) => /node_modules\\/(@ai-sdk\\/[^/]+)\\//.exec(u)?.[1]).filter(Boolean);
process.stdout.write(JSON.stringify([...new Set(packages)].sort()));
`;

const PROVIDER_PACKAGES = ["@ai-sdk/amazon-bedrock", "@ai-sdk/anthropic", "@ai-sdk/google-vertex", "@ai-sdk/openai", "@ai-sdk/openai-compatible"];

function loadedProviderPackages(providers: string[]): string[] {
  const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", PROBE, JSON.stringify(providers)], { cwd: ROOT, encoding: "utf8" });
  if (child.status !== 0) throw new Error(child.stderr);
  return (JSON.parse(child.stdout) as string[]).filter((p) => PROVIDER_PACKAGES.includes(p));
}

describe("provider SDK loading", () => {
  it.each([
    [[], []],
    [["openai-compatible"], ["@ai-sdk/openai-compatible"]],
    [["anthropic"], ["@ai-sdk/anthropic"]],
    [["openai", "bedrock"], ["@ai-sdk/amazon-bedrock", "@ai-sdk/openai"]],
  ])("building %j loads exactly %j", (providers, expected) => {
    expect(loadedProviderPackages(providers)).toEqual(expected);
  });
});
