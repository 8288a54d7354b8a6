import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { FlagInputError, parseActor } from "../../../src/flags/actors.js";
import { profileFor } from "../../../src/forges/registry.js";
import { DEFAULT_DEFINITIONS_DIR, DEFAULT_GROUPS_FILE, FlagDefinitionError, loadDefinitions, loadGroups } from "../../../src/flags/definitions.js";

const tmp = mkdtempSync(path.join(tmpdir(), "forgebot-flags-"));
let n = 0;

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const VALID = {
  name: "some_flag",
  type: "beta",
  default_enabled: false,
  description: "A flag.",
  rollout_issue_url: null,
  introduced_by_url: "https://github.com/forgebot/forgebot/pull/7",
  milestone: "0.3",
};

function dirWith(files: Record<string, string>): string {
  const dir = path.join(tmp, `d${++n}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

function yaml(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}: ${v === null ? "null" : JSON.stringify(v)}`)
    .join("\n");
}

describe("definitions", () => {
  it("the shipped definitions: manual_retry and provider_stickiness, both on by default", async () => {
    const definitions = await loadDefinitions(DEFAULT_DEFINITIONS_DIR);
    expect(definitions.get("manual_retry")).toMatchObject({ name: "manual_retry", defaultEnabled: true });
    expect(definitions.get("provider_stickiness")).toMatchObject({ name: "provider_stickiness", defaultEnabled: true });
    for (const d of definitions.values()) expect(["development", "ops", "beta"]).toContain(d.type);
  });

  it("parses every field of a definition", async () => {
    const dir = dirWith({ "some_flag.yml": yaml(VALID) });
    expect((await loadDefinitions(dir)).get("some_flag")).toEqual({
      name: "some_flag",
      type: "beta",
      defaultEnabled: false,
      description: "A flag.",
      rolloutIssueUrl: null,
      introducedByUrl: "https://github.com/forgebot/forgebot/pull/7",
      milestone: "0.3",
      percentageOfActorsKey: "user",
    });
  });

  it("a percentage of actors may key on repositories", async () => {
    const dir = dirWith({ "some_flag.yml": yaml({ ...VALID, percentage_of_actors_key: "repository" }) });
    expect((await loadDefinitions(dir)).get("some_flag")?.percentageOfActorsKey).toBe("repository");
  });

  it.each([
    ["name differs from the file", "other.yml", VALID, /must match the file name "other"/],
    ["unknown type", "some_flag.yml", { ...VALID, type: "experiment" }, /type: expects development, ops or beta/],
    ["default_enabled not boolean", "some_flag.yml", { ...VALID, default_enabled: "yes" }, /default_enabled: expects true or false/],
    ["missing description", "some_flag.yml", { ...VALID, description: undefined }, /description/],
    ["unknown percentage key", "some_flag.yml", { ...VALID, percentage_of_actors_key: "group" }, /percentage_of_actors_key: expects user or repository/],
    ["rollout_issue_url not a URL", "some_flag.yml", { ...VALID, rollout_issue_url: "soon" }, /rollout_issue_url: expects a URL or null/],
    ["unknown key", "some_flag.yml", { ...VALID, owner: "me" }, /owner/],
  ])("rejects a definition: %s", async (_name, file, fields, message) => {
    const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    const dir = dirWith({ [file]: yaml(clean) });
    const error = await loadDefinitions(dir).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(FlagDefinitionError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(file);
  });

  it("rejects invalid YAML and a missing directory", async () => {
    await expect(loadDefinitions(dirWith({ "some_flag.yml": "name: [unclosed" }))).rejects.toThrow(/not valid YAML/);
    await expect(loadDefinitions(path.join(tmp, "missing"))).rejects.toThrow(/cannot read feature flag definitions/);
  });
});

describe("groups", () => {
  it("reads group name → actors, lower-cased; a missing file means no groups", async () => {
    const dir = dirWith({ "groups.yml": "staff:\n  - github:Alice\n  - gitlab:7\nempty: []\n" });
    const groups = await loadGroups(path.join(dir, "groups.yml"));
    expect(groups).toEqual(new Map([["staff", new Set(["github:alice", "gitlab:7"])], ["empty", new Set()]]));
    expect(await loadGroups(path.join(dir, "none.yml"))).toEqual(new Map());
    expect((await loadGroups(DEFAULT_GROUPS_FILE)).has("forgebot_team")).toBe(true);
  });

  it("rejects an invalid actor or shape, naming the group", async () => {
    const bad = dirWith({ "a.yml": "staff:\n  - octocat\n", "b.yml": "staff: github:alice\n" });
    await expect(loadGroups(path.join(bad, "a.yml"))).rejects.toThrow(/group staff: invalid actor "octocat"/);
    await expect(loadGroups(path.join(bad, "b.yml"))).rejects.toThrow(FlagDefinitionError);
  });
});

describe("actors", () => {
  it("normalizes and validates actor ids", () => {
    expect(parseActor(" GitHub:OctoCat ")).toBe("github:octocat");
    expect(parseActor("gitlab:42")).toBe("gitlab:42");
    expect(parseActor("github:repo:Owner/Name")).toBe("github:repo:owner/name");
    for (const bad of ["octocat", "bitbucket:x", "github:", "github:a b", "github:a,b"]) {
      expect(() => parseActor(bad)).toThrow(FlagInputError);
    }
    // The forges' profiles make the ids the CLI accepts.
    expect(parseActor(profileFor("github").userActor("OctoCat"))).toBe("github:octocat");
    expect(parseActor(profileFor("github").repositoryActor("Owner/Name"))).toBe("github:repo:owner/name");
    expect(parseActor(profileFor("gitlab").repositoryActor("group/sub/project"))).toBe("gitlab:project:group/sub/project");
  });
});
