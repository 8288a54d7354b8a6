import { describe, expect, it } from "@jest/globals";
import { createAgentTools, renderThread, visibleComments } from "../../../src/agent/tools.js";
import { systemPrompt } from "../../../src/agent/prompts/index.js";
import type { ForgeClient, ThreadComment, ThreadRef } from "../../../src/sessions/forge-port.js";

const TRIGGER = "2024-05-01T12:00:00Z";
const comment = (id: string, createdAt: string, updatedAt = createdAt, body = `comment ${id}`, extra: Partial<ThreadComment> = {}): ThreadComment => ({ id, author: "eve", body, createdAt, updatedAt, ...extra });
const options = { toolCallId: "t", messages: [] };

function thread(kind: ThreadRef["kind"]): ThreadRef {
  return { forge: "gitlab", host: "gitlab.com", repoId: "1", repoPath: "g/p", kind, number: 3 };
}

describe("what of the thread the model may see", () => {
  it("only comments created and last edited before the trigger, without the trigger, system notes or our own notes", () => {
    const comments = [
      comment("1", "2024-05-01T11:00:00Z"),
      comment("2", "2024-05-01T11:00:00Z", "2024-05-01T12:30:00Z"),
      comment("3", "2024-05-01T12:30:00Z"),
      comment("4", "2024-05-01T11:30:00Z", undefined, "@forgebot do it"),
      comment("5", "2024-05-01T11:40:00Z", undefined, "system", { system: true }),
      comment("6", "2024-05-01T11:50:00Z", undefined, "Started session 1\n<!-- forgebot:started session=1 -->"),
      comment("7", "2024-05-01T12:00:00Z"),
    ];
    expect(visibleComments(comments, TRIGGER, "4").map((c) => c.id)).toEqual(["1"]);
  });

  it("renders the thread fenced and bounded: the newest comments that fit, with a notice", () => {
    const comments = Array.from({ length: 40 }, (_, i) => comment(String(i), "2024-05-01T11:00:00Z", undefined, `number ${i} ${"x".repeat(200)}`));
    const text = renderThread({ title: "T <!-- x -->", body: "Body", author: "a", url: undefined, comments }, comments, 3000);
    expect(text.length).toBeLessThanOrEqual(3200);
    expect(text).toContain("number 39");
    expect(text).not.toContain("number 0 ");
    expect(text).toMatch(/\[\d+ earlier comment\(s\) not shown/);
    expect(text.startsWith('<untrusted-data kind="description" title="T " author="a">')).toBe(true);
  });
});

describe("the agent's tools", () => {
  const reads: string[] = [];
  const forge: ForgeClient = {
    canUseBot: async () => true,
    postNote: async () => ({ id: "1", type: "note" }),
    findNoteByMarker: async () => null,
    deleteNote: async () => undefined,
    getThread: async () => ({ title: "T", body: "", author: "a", url: undefined, comments: [], headRef: "sha1" }),
    getDiff: async () => "+added\u202E",
    readFile: async (_t, path, ref) => {
      reads.push(`${path}@${ref}`);
      return path === "bin" ? "\u0000\u0001" : "x".repeat(100);
    },
    listDirectory: async () => Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, path: `d/f${i}`, type: i === 0 ? ("dir" as const) : ("file" as const) })),
  };

  it("offers the diff only on change requests, and only the tools the forge has", () => {
    expect(Object.keys(createAgentTools({ forge, thread: thread("change_request"), triggerCreatedAt: TRIGGER, triggerCommentId: null })).sort()).toEqual(["ask_user", "get_diff", "get_thread", "list_directory", "read_file"]);
    expect(Object.keys(createAgentTools({ forge, thread: thread("issue"), triggerCreatedAt: TRIGGER, triggerCommentId: null }))).not.toContain("get_diff");
    const bare: ForgeClient = { canUseBot: forge.canUseBot, postNote: forge.postNote, findNoteByMarker: forge.findNoteByMarker, deleteNote: forge.deleteNote };
    expect(Object.keys(createAgentTools({ forge: bare, thread: thread("change_request"), triggerCreatedAt: TRIGGER, triggerCommentId: null }))).toEqual(["ask_user"]);
    expect(createAgentTools({ forge, thread: thread("issue"), triggerCreatedAt: TRIGGER, triggerCommentId: null }).ask_user!.execute).toBeUndefined();
  });

  it("bounds results, reveals invisible characters in code, refuses .. and reads at the head", async () => {
    const tools = createAgentTools({ forge, thread: thread("change_request"), triggerCreatedAt: TRIGGER, triggerCommentId: null, limits: { maxChars: 50, maxEntries: 3 } });
    expect(await tools.read_file!.execute!({ path: "./src/a.ts" }, options)).toContain("[truncated: showing the first 50 of 100 characters]");
    expect(await tools.read_file!.execute!({ path: "bin" }, options)).toBe("bin is a binary file.");
    expect(await tools.read_file!.execute!({ path: "../../etc/passwd" }, options)).toContain("paths may not contain ..");
    expect(reads).toEqual(["src/a.ts@sha1", "bin@sha1"]);
    expect(await tools.get_diff!.execute!({}, options)).toContain("+added<U+202E>");
    const listing = (await tools.list_directory!.execute!({ path: "d" }, options)) as string;
    expect(listing).toContain("d/f0/\nd/f1\nd/f2\n[2 more entries not shown]");
  });

  it("the system prompt is fixed per installation and explains the data fence", () => {
    const prompt = systemPrompt({ handle: "forgebot", forgeName: "GitLab", changeRequestName: "merge request" });
    expect(prompt).toContain("You are @forgebot");
    expect(prompt).toContain("merge request");
    expect(prompt).toContain("<untrusted-data>");
    expect(prompt).not.toMatch(/\{\{\w+\}\}/);
    expect(systemPrompt({ handle: "forgebot", forgeName: "GitLab", changeRequestName: "merge request" })).toBe(prompt);
  });
});
