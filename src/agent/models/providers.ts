import { createAmazonBedrock } from "@ai-sdk/amazon-bedrock";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createVertex } from "@ai-sdk/google-vertex";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import type { LanguageModel } from "ai";
import type { ModelSpec } from "./spec.js";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Builds the AI SDK model for a spec. Keys are passed explicitly so the SDK never reads
 * the environment for them; Bedrock and Vertex take their cloud credentials from `env` (AWS_*)
 * or Google's application default credentials.
 */
export function createLanguageModel(spec: ModelSpec, env: Env = {}): LanguageModel {
  switch (spec.provider) {
    case "openai":
      // Chat Completions: what every OpenAI-compatible gateway also speaks.
      return createOpenAI({ apiKey: spec.apiKey ?? "", ...(spec.baseUrl ? { baseURL: spec.baseUrl } : {}) }).chat(spec.model);
    case "openai-compatible":
      return createOpenAICompatible({
        name: "openai-compatible",
        baseURL: spec.baseUrl ?? "",
        ...(spec.apiKey ? { apiKey: spec.apiKey } : {}),
        includeUsage: true,
      }).chatModel(spec.model);
    case "anthropic":
      return createAnthropic({ apiKey: spec.apiKey ?? "", ...(spec.baseUrl ? { baseURL: spec.baseUrl } : {}) })(spec.model);
    case "bedrock":
      return createAmazonBedrock({
        region: spec.region ?? env.AWS_REGION ?? "us-east-1",
        ...(spec.apiKey ? { apiKey: spec.apiKey } : {}),
        ...(env.AWS_ACCESS_KEY_ID ? { accessKeyId: env.AWS_ACCESS_KEY_ID } : {}),
        ...(env.AWS_SECRET_ACCESS_KEY ? { secretAccessKey: env.AWS_SECRET_ACCESS_KEY } : {}),
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        ...(spec.baseUrl ? { baseURL: spec.baseUrl } : {}),
      })(spec.model);
    case "vertex":
      return createVertex({
        ...(spec.project ? { project: spec.project } : {}),
        ...(spec.location ? { location: spec.location } : {}),
        ...(spec.apiKey ? { apiKey: spec.apiKey } : {}),
        ...(spec.baseUrl ? { baseURL: spec.baseUrl } : {}),
      })(spec.model);
  }
}
