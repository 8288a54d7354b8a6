import type { LanguageModel } from "ai";
import { createLanguageModel } from "./providers.js";
import { metadataOf, type ModelMetadata, type ModelSpec } from "./spec.js";

export type RoutedModel = { spec: ModelSpec; metadata: ModelMetadata; model: LanguageModel };

/** How a model was chosen: the one asked for, a weighted pick, or a fallback outside the defaults. */
export type ChoiceKind = "preferred" | "random" | "fallback";

export type ModelChoice = { routed: RoutedModel; how: ChoiceKind };

export interface ModelRouter {
  readonly models: readonly RoutedModel[];
  /**
   * `preferred` (by name) when it is configured and not excluded; otherwise a weighted random
   * pick among the default models left, then among any model left. Null when every model is
   * excluded.
   */
  choose(input?: { preferred?: ModelMetadata | null | undefined; exclude?: ReadonlySet<string> | undefined }): ModelChoice | null;
}

export type RouterOptions = {
  /** A number in [0, 1); tests pass a seeded source. */
  random?: () => number;
  /** Builds one model; by default the provider's SDK, imported on demand (providers.ts). */
  build?: (spec: ModelSpec) => LanguageModel | Promise<LanguageModel>;
};

function pickByWeight(candidates: readonly RoutedModel[], random: () => number): RoutedModel | null {
  const total = candidates.reduce((sum, c) => sum + c.spec.weight, 0);
  if (candidates.length === 0 || total <= 0) return null;
  let point = random() * total;
  for (const candidate of candidates) {
    point -= candidate.spec.weight;
    if (point < 0) return candidate;
  }
  return candidates[candidates.length - 1] ?? null;
}

/** Builds every configured model up front (async: provider SDKs are imported on demand). */
export async function createModelRouter(specs: readonly ModelSpec[], options: RouterOptions = {}): Promise<ModelRouter> {
  const random = options.random ?? Math.random;
  const build = options.build ?? ((spec: ModelSpec) => createLanguageModel(spec));
  const models = await Promise.all(specs.map(async (spec) => ({ spec, metadata: metadataOf(spec), model: await build(spec) })));
  return {
    models,
    choose(input = {}) {
      const exclude = input.exclude ?? new Set<string>();
      const left = models.filter((m) => !exclude.has(m.spec.name));
      const preferred = input.preferred ? left.find((m) => m.spec.name === input.preferred?.name) : undefined;
      if (preferred) return { routed: preferred, how: "preferred" };
      const byDefault = pickByWeight(left.filter((m) => m.spec.isDefault), random);
      if (byDefault) return { routed: byDefault, how: "random" };
      const fallback = pickByWeight(left, random);
      return fallback ? { routed: fallback, how: "fallback" } : null;
    },
  };
}
