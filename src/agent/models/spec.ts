import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError, type Config } from "../../config/index.js";

export const PROVIDER_KINDS = ["openai", "openai-compatible", "anthropic", "bedrock", "vertex"] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

/** USD per million tokens. */
export type ModelPrice = { input: number; output: number; cachedInput?: number | undefined };

/** One configured model. `apiKey` is resolved from the environment and never leaves memory. */
export type ModelSpec = {
  /** Unique among the configured models: what stickiness remembers and metrics are labelled by. */
  name: string;
  provider: ProviderKind;
  model: string;
  baseUrl?: string | undefined;
  apiKey?: string | undefined;
  weight: number;
  /** New conversations pick among the default models; the others are fallbacks only. */
  isDefault: boolean;
  price?: ModelPrice | undefined;
  /** Bedrock. */
  region?: string | undefined;
  /** Vertex. */
  project?: string | undefined;
  location?: string | undefined;
};

/** What a session records about its model (`selected_model_metadata`, checkpoint `model`). */
export type ModelMetadata = { name: string; provider: ProviderKind; model: string };

export function metadataOf(spec: ModelSpec): ModelMetadata {
  return { name: spec.name, provider: spec.provider, model: spec.model };
}

const DEFAULT_OPENAI_MODEL = "gpt-4.1-mini";
const DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5";

const entrySchema = z
  .object({
    name: z.string().trim().min(1),
    provider: z.enum(PROVIDER_KINDS),
    model: z.string().trim().min(1),
    base_url: z.string().trim().refine((v) => URL.canParse(v), { message: "expects a URL" }).optional(),
    api_key_env: z.string().trim().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "expects an environment variable name" }).optional(),
    weight: z.number().positive().default(1),
    default: z.boolean().default(true),
    price: z
      .object({ input: z.number().nonnegative(), output: z.number().nonnegative(), cached_input: z.number().nonnegative().optional() })
      .strict()
      .optional(),
    region: z.string().trim().min(1).optional(),
    project: z.string().trim().min(1).optional(),
    location: z.string().trim().min(1).optional(),
  })
  .strict();

const fileSchema = z.array(entrySchema).min(1, { message: "expects a non-empty YAML list of models" });

function issueLine(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid models file";
  const where = issue.path.length ? issue.path.join(".") : "file";
  return `${where}: ${issue.message}`;
}

/**
 * Parses MODELS_FILE's YAML text: a list of `{ name, provider, model, base_url, api_key_env,
 * weight, default, price: { input, output, cached_input }, region, project, location }`.
 * Throws ConfigError naming MODELS_FILE and the bad entry.
 */
export function parseModelsFile(text: string, env: Readonly<Record<string, string | undefined>>): ModelSpec[] {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err: unknown) {
    throw new ConfigError(`MODELS_FILE: not valid YAML (${(err as Error).message.split("\n")[0]})`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`MODELS_FILE: ${issueLine(parsed.error)}`);
  const names = new Set<string>();
  return parsed.data.map((entry) => {
    if (names.has(entry.name)) throw new ConfigError(`MODELS_FILE: model name "${entry.name}" is used twice`);
    names.add(entry.name);
    let apiKey: string | undefined;
    if (entry.api_key_env) {
      apiKey = env[entry.api_key_env]?.trim() || undefined;
      if (!apiKey) throw new ConfigError(`MODELS_FILE: model "${entry.name}" reads its key from ${entry.api_key_env}, which is not set`);
    }
    if (entry.provider === "openai-compatible" && !entry.base_url) {
      throw new ConfigError(`MODELS_FILE: model "${entry.name}" (openai-compatible) needs base_url`);
    }
    return {
      name: entry.name,
      provider: entry.provider,
      model: entry.model,
      baseUrl: entry.base_url,
      apiKey,
      weight: entry.weight,
      isDefault: entry.default,
      price: entry.price ? { input: entry.price.input, output: entry.price.output, cachedInput: entry.price.cached_input } : undefined,
      region: entry.region,
      project: entry.project,
      location: entry.location,
    };
  });
}

/**
 * The configured models: MODELS_FILE when set (the env shortcuts are then ignored), else
 * OPENAI_BASE_URL/OPENAI_API_KEY (an OpenAI-compatible endpoint, or OpenAI itself) and
 * ANTHROPIC_API_KEY. An empty list means no provider is configured.
 */
export function loadModelSpecs(config: Pick<Config, "models" | "env">): ModelSpec[] {
  const m = config.models;
  if (m.modelsFile) {
    let text: string;
    try {
      text = readFileSync(m.modelsFile, "utf8");
    } catch (err: unknown) {
      throw new ConfigError(`MODELS_FILE: cannot read ${m.modelsFile} (${(err as Error).message})`);
    }
    return parseModelsFile(text, config.env);
  }
  const specs: ModelSpec[] = [];
  if (m.openaiBaseUrl) {
    if (!m.openaiModel) throw new ConfigError("OPENAI_MODEL: expects the model name served at OPENAI_BASE_URL");
    specs.push({ name: "openai", provider: "openai-compatible", model: m.openaiModel, baseUrl: m.openaiBaseUrl, apiKey: m.openaiApiKey, weight: 1, isDefault: true });
  } else if (m.openaiApiKey) {
    specs.push({ name: "openai", provider: "openai", model: m.openaiModel ?? DEFAULT_OPENAI_MODEL, apiKey: m.openaiApiKey, weight: 1, isDefault: true });
  }
  if (m.anthropicApiKey) {
    specs.push({
      name: "anthropic",
      provider: "anthropic",
      model: m.anthropicModel ?? DEFAULT_ANTHROPIC_MODEL,
      baseUrl: m.anthropicBaseUrl,
      apiKey: m.anthropicApiKey,
      weight: 1,
      isDefault: true,
    });
  }
  return specs;
}
