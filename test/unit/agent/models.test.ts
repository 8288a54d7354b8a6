import { describe, expect, it } from "@jest/globals";
import { APICallError, RetryError } from "ai";
import { ConfigError, loadConfig } from "../../../src/config/index.js";
import { classifyModelError } from "../../../src/agent/models/errors.js";
import { createLanguageModel } from "../../../src/agent/models/providers.js";
import { createModelRouter } from "../../../src/agent/models/router.js";
import { loadModelSpecs, parseModelsFile, type ModelSpec } from "../../../src/agent/models/spec.js";
import { addUsage, costOf, stepUsage } from "../../../src/agent/models/usage.js";

function spec(name: string, extra: Partial<ModelSpec> = {}): ModelSpec {
  return { name, provider: "openai-compatible", model: name, baseUrl: "http://127.0.0.1:1/v1", weight: 1, isDefault: true, ...extra };
}

const fakeBuild = () => ({}) as never;

describe("model specs from the environment and MODELS_FILE", () => {
  it("OPENAI_BASE_URL is an OpenAI-compatible endpoint; OPENAI_API_KEY alone is OpenAI; ANTHROPIC_API_KEY adds Anthropic", () => {
    const compatible = loadModelSpecs(loadConfig({ OPENAI_BASE_URL: "http://litellm:4000/v1", OPENAI_MODEL: "llama3", OPENAI_API_KEY: "k" }));
    expect(compatible).toEqual([expect.objectContaining({ name: "openai", provider: "openai-compatible", model: "llama3", baseUrl: "http://litellm:4000/v1", apiKey: "k" })]);
    const both = loadModelSpecs(loadConfig({ OPENAI_API_KEY: "k1", ANTHROPIC_API_KEY: "k2", ANTHROPIC_MODEL: "claude-x" }));
    expect(both.map((s) => [s.name, s.provider, s.model, s.isDefault])).toEqual([
      ["openai", "openai", "gpt-4.1-mini", true],
      ["anthropic", "anthropic", "claude-x", true],
    ]);
    expect(loadModelSpecs(loadConfig({}))).toEqual([]);
    expect(() => loadModelSpecs(loadConfig({ OPENAI_BASE_URL: "http://x/v1" }))).toThrow("OPENAI_MODEL");
  });

  it("parses a MODELS_FILE list with key variables, weights, defaults and prices", () => {
    const yaml = `
- name: main
  provider: openai-compatible
  model: llama3
  base_url: http://vllm:8000/v1
  api_key_env: VLLM_KEY
  weight: 3
  price: { input: 1, output: 2, cached_input: 0.5 }
- name: backup
  provider: anthropic
  model: claude-sonnet-4-5
  api_key_env: CLAUDE_KEY
  default: false
- name: cloud
  provider: bedrock
  model: anthropic.claude-3-5-sonnet
  region: eu-west-1
`;
    const specs = parseModelsFile(yaml, { VLLM_KEY: "v", CLAUDE_KEY: "c" });
    expect(specs).toEqual([
      { name: "main", provider: "openai-compatible", model: "llama3", baseUrl: "http://vllm:8000/v1", apiKey: "v", weight: 3, isDefault: true, price: { input: 1, output: 2, cachedInput: 0.5 }, region: undefined, project: undefined, location: undefined },
      expect.objectContaining({ name: "backup", provider: "anthropic", apiKey: "c", weight: 1, isDefault: false }),
      expect.objectContaining({ name: "cloud", provider: "bedrock", region: "eu-west-1" }),
    ]);
  });

  it.each([
    ["not a list", "name: x", "MODELS_FILE: file: "],
    ["an unknown provider", "- { name: a, provider: cohere, model: m }", "MODELS_FILE: 0.provider"],
    ["a missing key variable", "- { name: a, provider: anthropic, model: m, api_key_env: NOPE }", "reads its key from NOPE, which is not set"],
    ["a duplicate name", "- { name: a, provider: anthropic, model: m }\n- { name: a, provider: anthropic, model: n }", 'model name "a" is used twice'],
    ["a compatible endpoint without URL", "- { name: a, provider: openai-compatible, model: m }", "needs base_url"],
    ["an unknown field", "- { name: a, provider: anthropic, model: m, temprature: 1 }", "MODELS_FILE: 0"],
    ["broken YAML", "- [", "MODELS_FILE: not valid YAML"],
  ])("refuses %s with a one-line ConfigError", (_what, yaml, message) => {
    const error = (() => {
      try {
        parseModelsFile(yaml, {});
      } catch (err: unknown) {
        return err;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain("\n");
  });

  it("builds an AI SDK model for every provider kind, importing each provider's SDK on demand", async () => {
    const kinds: ModelSpec["provider"][] = ["openai", "openai-compatible", "anthropic", "bedrock", "vertex"];
    const built = await Promise.all(kinds.map((provider) => createLanguageModel(spec("m", { provider, apiKey: "k", region: "us-east-1", project: "p", location: "us-central1" }))));
    expect(built.map((m) => (typeof m === "string" ? m : m.provider.split(".")[0]))).toEqual(["openai", "openai-compatible", "anthropic", "amazon-bedrock", "google"]);
  });
});

describe("the router", () => {
  it("picks among default models by weight", async () => {
    const router = await createModelRouter([spec("a", { weight: 1 }), spec("b", { weight: 3 }), spec("c", { isDefault: false, weight: 100 })], { build: fakeBuild, random: () => 0 });
    const at = async (r: number) => (await createModelRouter(router.models.map((m) => m.spec), { build: fakeBuild, random: () => r })).choose()?.routed.spec.name;
    expect(await Promise.all([at(0), at(0.24), at(0.26), at(0.99)])).toEqual(["a", "a", "b", "b"]);
  });

  it("keeps the preferred model, falls back outside the defaults, and runs out", async () => {
    const router = await createModelRouter([spec("a"), spec("b"), spec("c", { isDefault: false })], { build: fakeBuild, random: () => 0 });
    expect(router.choose({ preferred: { name: "b", provider: "openai-compatible", model: "b" } })).toMatchObject({ how: "preferred", routed: { spec: { name: "b" } } });
    expect(router.choose({ preferred: { name: "gone", provider: "openai", model: "x" } })).toMatchObject({ how: "random", routed: { spec: { name: "a" } } });
    expect(router.choose({ exclude: new Set(["a", "b"]) })).toMatchObject({ how: "fallback", routed: { spec: { name: "c" } } });
    expect(router.choose({ preferred: { name: "a", provider: "openai-compatible", model: "a" }, exclude: new Set(["a"]) })?.routed.spec.name).toBe("b");
    expect(router.choose({ exclude: new Set(["a", "b", "c"]) })).toBeNull();
  });
});

describe("model errors map to fixed reasons", () => {
  const api = (statusCode: number | undefined) =>
    new APICallError({ message: `status ${statusCode}`, url: "http://x", requestBodyValues: {}, statusCode, isRetryable: statusCode === undefined || statusCode >= 429 });
  it.each([
    [api(401), false, "model_unavailable", "auth_error", true],
    [api(403), false, "model_unavailable", "auth_error", true],
    [api(404), false, "model_unavailable", "client_error", true],
    [api(429), false, "rate_limited", "rate_limited", true],
    [api(500), false, "model_unavailable", "server_error", true],
    [api(529), false, "model_unavailable", "server_error", true],
    [api(504), false, "timeout", "timeout", true],
    [api(undefined), false, "model_unavailable", "network_error", true],
    [api(400), false, "internal", "client_error", false],
    [new RetryError({ message: "gave up", reason: "maxRetriesExceeded", errors: [api(429)] }), false, "rate_limited", "rate_limited", true],
    [new DOMException("aborted", "TimeoutError"), true, "timeout", "timeout", true],
    [new Error("boom"), false, "internal", "error", false],
  ])("%s", (err, timedOut, reason, outcome, fallback) => {
    expect(classifyModelError(err, timedOut)).toMatchObject({ reason, outcome, fallback });
  });
});

describe("usage and cost", () => {
  it("prices fresh input, cached input and output per million tokens", () => {
    expect(costOf({ inputTokens: 1_000_000, cachedInputTokens: 400_000, outputTokens: 100_000 }, { input: 3, output: 15, cachedInput: 0.3 })).toBeCloseTo(1.8 + 0.12 + 1.5);
    expect(costOf({ inputTokens: 1000, cachedInputTokens: 1000, outputTokens: 0 }, { input: 2, output: 8 })).toBeCloseTo(0.002);
  });

  it("reads the SDK's usage and adds steps up; cost only when priced", () => {
    const usage = { inputTokens: 100, outputTokens: 20, totalTokens: 120, inputTokenDetails: { noCacheTokens: 60, cacheReadTokens: 40, cacheWriteTokens: 0 }, outputTokenDetails: { textTokens: 20, reasoningTokens: 0 } };
    const priced = stepUsage(usage as never, { input: 1, output: 1 }, 5);
    const unpriced = stepUsage(usage as never, undefined, 7);
    expect(unpriced).toEqual({ inputTokens: 100, outputTokens: 20, cachedInputTokens: 40, durationMs: 7 });
    expect(addUsage(unpriced, unpriced)).toEqual({ inputTokens: 200, outputTokens: 40, cachedInputTokens: 80, durationMs: 14 });
    expect(addUsage(unpriced, priced).costUsd).toBeCloseTo(0.00012);
  });
});
