import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { Ajv2019 } from "ajv/dist/2019.js";
import { validate, ValidationSeverity } from "dockerfile-utils";
import { parse as parseYaml } from "yaml";
import { copySteps, DOCKERFILE_TEXT, dockerfileStages, execForm, type Stage } from "../../helpers/image.js";
import { ROOT } from "../../helpers/processes.js";

/**
 * What can be checked here without a Docker engine (no image is built or pulled): the Dockerfile
 * through dockerfile-utils' linter and a parse of its stages, .dockerignore against what the
 * Dockerfile copies, and docker-compose.yml against the compose-spec JSON schema plus the
 * cross-references the schema cannot see.
 */

const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");
const words = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const runText = (stage: Stage) => words(stage, "RUN").map((i) => i.getArgumentsContent() ?? "").join("\n");

describe("Dockerfile", () => {
  const stages = dockerfileStages();
  const runtime = stages.at(-1)!;

  it("passes dockerfile-utils' linter with every optional rule raised to an error", () => {
    const strict = ValidationSeverity.ERROR;
    const diagnostics = validate(DOCKERFILE_TEXT, {
      deprecatedMaintainer: strict,
      directiveCasing: strict,
      emptyContinuationLine: strict,
      instructionCasing: strict,
      instructionCmdMultiple: strict,
      instructionEntrypointMultiple: strict,
      instructionHealthcheckMultiple: strict,
      instructionJSONInSingleQuotes: strict,
      instructionWorkdirRelative: strict,
    });
    expect(diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it("the linter is live: it reports a broken Dockerfile", () => {
    expect(validate("FROM node:22\nHEALTHCHECK --interval=5x CMD true\nRUNN x\n").length).toBe(2);
  });

  it("is multi-stage on Node 22 or 24 (Debian), compiling in the build stage", () => {
    expect(stages.map((s) => s.name)).toEqual(["build", "runtime"]);
    for (const stage of stages) expect(stage.image).toMatch(/^node:(22|24)[.-].*bookworm|^node:(22|24)[.-].*trixie/);
    expect(runText(stages[0]!)).toMatch(/npm ci\b/);
    expect(runText(stages[0]!)).toMatch(/npm run build/);
  });

  it("runtime stage: production dependencies only, the compiled code from the build stage, no sources", () => {
    const run = runText(runtime);
    expect(run).toMatch(/npm ci --omit=dev/);
    expect(run).not.toMatch(/npm (ci|install)(?![^\n&]*--omit=dev)/);
    const copies = copySteps(runtime);
    expect(copies).toContainEqual({ from: "build", sources: ["/app/dist/"], dest: "dist/" });
    for (const step of copies) for (const source of step.sources) expect(source).not.toMatch(/^(src|test|bench)\b/);
  });

  it("installs tini, git and bubblewrap, and runs as an unprivileged user under tini", () => {
    expect(run(runtime)).toEqual(expect.arrayContaining(["tini", "git", "bubblewrap"]));
    const user = words(runtime, "USER").at(-1)?.getArgumentsContent();
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const entrypoint = execForm(words(runtime, "ENTRYPOINT").at(-1)!);
    expect(entrypoint?.[0]).toMatch(/tini$/);
    expect(entrypoint).toEqual(expect.arrayContaining(["node", "/app/bin/forgebot.js"]));
  });

  it("checks /healthz on the port the process listens on", () => {
    const check = words(runtime, "HEALTHCHECK");
    expect(check).toHaveLength(1);
    expect(check[0]!.getArgumentsContent()).toMatch(/CMD .*\/healthz/);
    const env = words(runtime, "ENV").map((i) => i.getArgumentsContent()).join(" ");
    expect(env).toMatch(/HOST=0\.0\.0\.0/);
    expect(env).toMatch(/PORT=\d+/);
  });

  it("copies only files that exist and that .dockerignore lets into the build context", () => {
    const ignore = dockerignore(read(".dockerignore"));
    for (const stage of stages) {
      for (const step of copySteps(stage).filter((s) => !s.from)) {
        for (const source of step.sources) {
          expect(existsSync(path.join(ROOT, source))).toBe(true);
          expect({ source, ignored: ignore(source.replace(/\/$/, "")) }).toEqual({ source, ignored: false });
        }
      }
    }
    for (const secret of [".env", "private-key.pem", "node_modules", ".data", "dist"]) expect({ secret, ignored: ignore(secret) }).toEqual({ secret, ignored: true });
  });
});

function run(stage: Stage): string[] {
  return runText(stage).split(/\s+/);
}

/**
 * A .dockerignore matcher for the patterns this repository uses (`*`, `**`, `?`, trailing `/`,
 * `!` exceptions; the last matching line wins, and a pattern matching a directory matches what
 * is under it), as Docker's builder applies them to context paths.
 */
function dockerignore(text: string): (file: string) => boolean {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((line) => {
      const negated = line.startsWith("!");
      const glob = (negated ? line.slice(1) : line).replace(/^\/+|\/+$/g, "");
      const source = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*/g, "\u0000").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]").replace(/\u0000/g, ".*");
      return { negated, re: new RegExp(`^${source}(/.*)?$`) };
    });
  return (file) => rules.reduce((ignored, rule) => (rule.re.test(file) ? !rule.negated : ignored), false);
}

type ComposeService = {
  build?: unknown;
  image?: string;
  command?: string[];
  ports?: unknown[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: unknown; disable?: boolean };
  volumes?: string[];
  restart?: string;
  environment?: Record<string, string>;
};

describe("docker-compose.yml", () => {
  const text = read("docker-compose.yml");
  const compose = parseYaml(text, { merge: true }) as { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
  const services = compose.services;

  it("validates against the compose-spec JSON schema (pinned in test/fixtures/compose-spec/)", () => {
    const ajv = composeValidator();
    const valid = ajv(compose);
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it("the schema check is live: it refuses an unknown key and a bad depends_on condition", () => {
    const ajv = composeValidator();
    expect(ajv({ services: { web: { image: "x", restart_policy: "always" } } })).toBe(false);
    expect(ajv({ services: { web: { image: "x", depends_on: { db: { condition: "service_done" } } } } })).toBe(false);
    expect(ajv({ services: { web: { image: "x", healthcheck: { interval: "5 seconds" } } } })).toBe(false);
  });

  it("web and two workers run the built image after a one-shot migrate, with no sleeps", () => {
    expect(services.migrate).toMatchObject({ build: ".", command: ["migrate"], restart: "no" });
    const app = Object.entries(services).filter(([, s]) => s.build !== undefined);
    expect(app.map(([name]) => name).sort()).toEqual(["migrate", "web", "worker-1", "worker-2"]);
    for (const [name, service] of app.filter(([n]) => n !== "migrate")) {
      expect({ name, migrate: service.depends_on?.migrate }).toEqual({ name, migrate: { condition: "service_completed_successfully" } });
    }
    expect(["worker-1", "worker-2"].map((w) => services[w]?.command)).toEqual([["worker"], ["worker"]]);
    expect(services.web?.command).toEqual(["web"]);
    expect(text).not.toMatch(/\bsleep\b/);
    expect(existsSync(path.join(ROOT, "Dockerfile"))).toBe(true);
  });

  it("workers publish no port; only web does", () => {
    expect(Object.entries(services).filter(([, s]) => s.ports?.length).map(([n]) => n)).toEqual(["web"]);
  });

  it("Postgres and Redis keep their data in named volumes and have healthchecks the app waits on", () => {
    for (const name of ["postgres", "redis"]) {
      const service = services[name]!;
      expect(service.healthcheck?.test).toBeDefined();
      const volume = service.volumes?.[0]?.split(":")[0];
      expect(volume && compose.volumes && volume in compose.volumes).toBe(true);
      for (const app of ["web", "worker-1", "worker-2"]) expect(services[app]?.depends_on?.[name]).toEqual({ condition: "service_healthy" });
    }
  });

  it("every depends_on names a service of the file", () => {
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) expect({ name, dependency, exists: dependency in services }).toEqual({ name, dependency, exists: true });
    }
  });
});

/** Drops the draft-04 style `"id": "#/…"` labels the schema still carries: Ajv refuses them, and no `$ref` uses them. */
function withoutLegacyIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(Object.entries(node).filter(([k, v]) => !(k === "id" && typeof v === "string")).map(([k, v]) => [k, withoutLegacyIds(v)]));
}

/**
 * Ajv for the pinned compose-spec schema (draft 2019-09; its `$schema` URI is not the one Ajv
 * registers, hence no meta-validation, and strict off for its annotations). Formats as Compose
 * reads them: durations are Go durations; `ports`, `expose` and `subnet_ip_address` are left to
 * Compose's own parser.
 */
function composeValidator() {
  const schema = withoutLegacyIds(JSON.parse(readFileSync(path.join(ROOT, "test/fixtures/compose-spec/compose-spec.json"), "utf8"))) as object;
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateSchema: false });
  ajv.addFormat("duration", /^([+-]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$/);
  for (const format of ["ports", "expose", "subnet_ip_address"]) ajv.addFormat(format, true);
  return ajv.compile(schema);
}
