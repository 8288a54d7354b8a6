import type { LanguageModel } from "ai";
import type { ModelSpec } from "./spec.js";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Builds the AI SDK model for a spec. Each provider package is imported only here, when a spec
 * of that provider is built, so an installation loads just the SDKs it configured (a worker's
 * memory is not spent on Bedrock's or Vertex's clients it never calls). Keys are passed
 * explicitly so the SDK never reads the environment for them; Bedrock and Vertex take their
 * cloud credentials from `env` (AWS_*) or Google's application default credentials.
 */
export async function createLanguageModel(spec: ModelSpec, env: Env = {}): Promise<LanguageModel> {
  switch (spec.provider) {
    case "openai": {
      const { createOpenAI } = await import("@ai-sdk/openai");
      // Chat Completions: what every OpenAI-compatible gateway also speaks.
      return createOpenAI({ apiKey: spec.apiKey ?? "", ...(spec.baseUrl ? { baseURL: spec.baseUrl } : {}) }).chat(spec.model);
    }
    case "openai-compatible": {
      const { createOpenAICompatible } = await import("@ai-sdk/openai-compatible");
      return createOpenAICompatible({
        name: "openai-compatible",
        baseURL: spec.baseUrl ?? "",
        ...(spec.apiKey ? { apiKey: spec.apiKey } : {}),
        includeUsage: true,
      }).chatModel(spec.model);
    }
    case "anthropic": {
      const { createAnthropic } = await import("@ai-sdk/anthropic");
      return createAnthropic({ apiKey: spec.apiKey ?? "", ...(spec.baseUrl ? { baseURL: spec.baseUrl } : {}) })(spec.model);
    }
    case "bedrock": {
      const { createAmazonBedrock } = await import("@ai-sdk/amazon-bedrock");
      return createAmazonBedrock({
        region: spec.region ?? env.AWS_REGION ?? "us-east-1",
        ...(spec.apiKey ? { apiKey: spec.apiKey } : {}),
        ...(env.AWS_ACCESS_KEY_ID ? { accessKeyId: env.AWS_ACCESS_KEY_ID } : {}),
        ...(env.AWS_SECRET_ACCESS_KEY ? { secretAccessKey: env.AWS_SECRET_ACCESS_KEY } : {}),
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        ...(spec.baseUrl ? { baseURL: spec.baseUrl } : {}),
      })(spec.model);
    }
    case "vertex": {
      const { createVertex } = await import("@ai-sdk/google-vertex");
      return createVertex({
        ...(spec.project ? { project: spec.project } : {}),
        ...(spec.location ? { location: spec.location } : {}),
        ...(spec.apiKey ? { apiKey: spec.apiKey } : {}),
        ...(spec.baseUrl ? { baseURL: spec.baseUrl } : {}),
      })(spec.model);
    }
  }
}
