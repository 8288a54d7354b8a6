import { cpSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { DockerfileParser, type Instruction, type ModifiableInstruction } from "dockerfile-ast";
import { ROOT } from "./processes.js";

/**
 * The Dockerfile read as data, for the checks that run without a Docker engine: its stages,
 * and the files its runtime stage copies (so a test can lay out the image's /app on disk).
 */
export const DOCKERFILE_TEXT = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");

export type Stage = { name: string | null; image: string; instructions: Instruction[] };

/** `${NAME}` in FROM lines expanded from the ARGs before the first FROM (their defaults). */
export function dockerfileStages(text: string = DOCKERFILE_TEXT): Stage[] {
  const dockerfile = DockerfileParser.parse(text);
  const args = new Map<string, string>();
  for (const arg of dockerfile.getInitialARGs()) for (const p of arg.getProperties()) args.set(p.getName(), p.getValue() ?? "");
  const expand = (s: string) => s.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, name: string) => args.get(name) ?? "");
  const stages: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === "FROM") {
      const [image = "", , name = null] = instruction.getArguments().map((a) => a.getValue());
      stages.push({ name, image: expand(image), instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** An exec-form (JSON array) instruction's words; null for the shell form. */
export function execForm(instruction: Instruction): string[] | null {
  const text = instruction.getArgumentsContent() ?? "";
  if (!text.trim().startsWith("[")) return null;
  return JSON.parse(text.replace(/\\\n/g, "")) as string[];
}

export type CopyStep = { from: string | null; sources: string[]; dest: string };

export function copySteps(stage: Stage): CopyStep[] {
  return stage.instructions
    .filter((i) => i.getKeyword() === "COPY")
    .map((i) => {
      const from = (i as ModifiableInstruction).getFlags().find((f) => f.getName() === "from")?.getValue() ?? null;
      const plain = i.getArguments().map((a) => a.getValue());
      return { from, sources: plain.slice(0, -1), dest: plain.at(-1)! };
    });
}

/**
 * Lays out the runtime stage's /app under `target` from this checkout: context files as they are,
 * files copied from the build stage from where `npm run build` put them here (the build stage's
 * /app is the repository layout). node_modules is the caller's to provide.
 */
export function assembleRuntimeTree(target: string, text: string = DOCKERFILE_TEXT): string[] {
  const runtime = dockerfileStages(text).at(-1)!;
  const copied: string[] = [];
  for (const step of copySteps(runtime)) {
    for (const source of step.sources) {
      const from = step.from ? path.join(ROOT, source.replace(/^\/app\//, "")) : path.join(ROOT, source);
      const destRoot = path.join(target, step.dest.replace(/^\/app\//, ""));
      const dest = step.dest.endsWith("/") && !source.endsWith("/") ? path.join(destRoot, path.basename(source)) : destRoot;
      mkdirSync(path.dirname(dest), { recursive: true });
      cpSync(from, dest, { recursive: true });
      copied.push(path.relative(target, dest));
    }
  }
  return copied;
}
