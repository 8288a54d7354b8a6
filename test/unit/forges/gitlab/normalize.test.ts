import { describe, expect, it } from "@jest/globals";
import type { NormalizeResult } from "../../../../src/sessions/forge-port.js";
import { isBotUsername, normalizeGitLabEvent, type GitLabNormalizeContext } from "../../../../src/forges/gitlab/normalize.js";
import { gitlabPayload, type GitLabFixture } from "../../../fixtures/gitlab/payloads.js";

const context: GitLabNormalizeContext = { host: "gitlab.example.com", idempotencyKey: "idem-1", selfUserId: "990", selfUsernames: ["forgebot"] };

function mention(result: NormalizeResult) {
  if (result.kind !== "mention") throw new Error(`expected a mention, got ${result.reason}`);
  return result.event;
}

describe("normalizeGitLabEvent: mentions", () => {
  it("the docs' merge request comment becomes a change request mention (iid, never the database id)", () => {
    const payload = gitlabPayload("note-merge-request.docs-example", (p) => (p.object_attributes.note = "@forgebot please review"));
    const event = mention(normalizeGitLabEvent("Note Hook", payload, context));
    expect(event).toEqual({
      forge: "gitlab",
      deliveryKey: "idem-1",
      triggerKey: "note-gitlab.example.com-1244",
      triggerCommentId: "1244",
      eventName: "note.merge_request",
      // visibility_level 10 in GitLab's example: an internal project.
      thread: { forge: "gitlab", host: "gitlab.example.com", repoId: "5", repoPath: "gitlab-org/gitlab-test", kind: "change_request", number: 1, visibility: "internal" },
      actor: { id: "1", login: "root" },
      body: "@forgebot please review",
      title: "Tempora et eos debitis quae laborum et.",
      url: "http://example.com/gitlab-org/gitlab-test/merge_requests/1#note_1244",
      createdAt: "2015-05-17T18:21:36.000Z",
    });
    expect(payload.merge_request.id).toBe(7); // the database id the thread must not use
  });

  const visibilities: [string, (p: any) => void, string | undefined][] = [
    ["visibility_level 0 is private", (p) => (p.project.visibility_level = 0), "private"],
    ["visibility_level 10 is internal", (p) => (p.project.visibility_level = 10), "internal"],
    ["visibility_level 20 is public", (p) => (p.project.visibility_level = 20), "public"],
    ["a `visibility` name wins over the level", (p) => Object.assign(p.project, { visibility: "public", visibility_level: 0 }), "public"],
    ["neither: unknown (read as private)", (p) => delete p.project.visibility_level, undefined],
  ];
  it.each(visibilities)("records the project's visibility: %s", (_name, patch, expected) => {
    const event = mention(normalizeGitLabEvent("Note Hook", gitlabPayload("note-issue.docs-example", patch), context));
    expect(event.thread.visibility).toBe(expected);
  });

  it("the docs' issue comment becomes an issue mention on iid 17", () => {
    const event = mention(normalizeGitLabEvent("Note Hook", gitlabPayload("note-issue.docs-example"), { ...context, idempotencyKey: undefined }));
    expect(event.thread).toMatchObject({ kind: "issue", number: 17, repoId: "5" });
    expect(event.eventName).toBe("note.issue");
    expect(event.deliveryKey).toBe("note-5-1241");
    expect(event.title).toBe("test");
  });

  const placements: [string, GitLabFixture, string, object][] = [
    ["a DiffNote answers in its diff discussion", "note-merge-request.diff-note", "Note Hook", { replyTo: { type: "discussion", discussionId: "4b7ab0d1a5c35f0a0cd3e9e0e05fd3a4b9a3c2f1" } }],
    ["an internal note is answered internally", "note-merge-request.internal", "Confidential Note Hook", { internal: true, replyTo: { type: "discussion", discussionId: "9c1f0e2d3b4a59687766554433221100ffeeddcc" } }],
  ];
  it.each(placements)("%s", (_name, fixture, hook, expected) => {
    const event = mention(normalizeGitLabEvent(hook, gitlabPayload(fixture), context));
    expect(event.thread).toMatchObject(expected);
  });

  it("an individual note with a discussion id is answered in that discussion, publicly", () => {
    const payload = gitlabPayload("note-issue.docs-example", (p) => (p.object_attributes.discussion_id = "abc123"));
    const event = mention(normalizeGitLabEvent("Note Hook", payload, context));
    expect(event.thread.replyTo).toEqual({ type: "discussion", discussionId: "abc123" });
    expect(event.thread.internal).toBeUndefined();
  });

  const internalCases: [string, string, (p: any) => void, boolean][] = [
    ["`internal: true`", "Note Hook", (p) => (p.object_attributes.internal = true), true],
    ["the pre-15.3 `confidential: true`", "Note Hook", (p) => (p.object_attributes.confidential = true), true],
    ["a Confidential Note Hook on a merge request without the flag", "Confidential Note Hook", () => undefined, true],
    ["a public note on a confidential issue", "Confidential Note Hook", (p) => (p.issue = { iid: 3, title: "secret", confidential: true }), false],
    ["a public note", "Note Hook", (p) => (p.object_attributes.internal = false), false],
  ];
  it.each(internalCases)("%s (%s) → internal: %s", (_name, hook, patch, internal) => {
    const payload = gitlabPayload("note-merge-request.docs-example", patch);
    if (payload.issue) {
      payload.object_attributes.noteable_type = "Issue";
      delete payload.merge_request;
    }
    const event = mention(normalizeGitLabEvent(hook, payload, context));
    expect(event.thread.internal === true).toBe(internal);
    expect(event.eventName.startsWith(hook === "Note Hook" ? "note." : "confidential_note.")).toBe(true);
  });
});

describe("normalizeGitLabEvent: ignored", () => {
  const mr = (patch: (p: any) => void) => () => gitlabPayload("note-merge-request.docs-example", patch);
  const cases: [string, string, () => unknown, string][] = [
    ["a system note", "Note Hook", mr((p) => (p.object_attributes.system = true)), "system_note"],
    ["an edit (action: update)", "Note Hook", mr((p) => (p.object_attributes.action = "update")), "edited"],
    ["the bot's own note, by user id", "Note Hook", mr((p) => (p.user = { ...p.user, id: 990, username: "renamed" })), "self"],
    ["the bot's own note, by author_id", "Note Hook", mr((p) => (p.object_attributes.author_id = 990)), "self"],
    ["the bot's own note, by username", "Note Hook", mr((p) => (p.user = { ...p.user, id: 4, username: "ForgeBot" })), "self"],
    ["a project access token bot", "Note Hook", mr((p) => (p.user = { ...p.user, id: 7, username: "project_5_bot_3f9e2a" })), "bot_sender"],
    ["a group access token bot", "Note Hook", mr((p) => (p.user = { ...p.user, id: 8, username: "group_4_bot_ab12cd" })), "bot_sender"],
    ["a service account", "Note Hook", mr((p) => (p.user = { ...p.user, id: 9, username: "service_account_group_4_1a2b" })), "bot_sender"],
    ["GitLab's support bot", "Note Hook", mr((p) => (p.user = { ...p.user, id: 10, username: "support-bot" })), "bot_sender"],
    ["a comment on a commit", "Note Hook", mr((p) => (p.object_attributes.noteable_type = "Commit")), "unhandled_event"],
    ["a comment on a snippet", "Note Hook", mr((p) => (p.object_attributes.noteable_type = "Snippet")), "unhandled_event"],
    ["another hook", "Merge Request Hook", mr(() => undefined), "unhandled_event"],
    ["a merge request note without its merge request", "Note Hook", mr((p) => delete p.merge_request), "malformed"],
    ["a note without a user", "Note Hook", mr((p) => delete p.user), "malformed"],
    ["not an object", "Note Hook", () => "[]", "unhandled_event"],
    ["null", "Note Hook", () => null, "unhandled_event"],
  ];
  it.each(cases)("%s (%s) → %s", (_name, hook, payload, reason) => {
    expect(normalizeGitLabEvent(hook, payload(), context)).toEqual({ kind: "ignored", reason });
  });

  it("a note from before GitLab 16.11 (no action field) still counts as created", () => {
    const payload = gitlabPayload("note-merge-request.docs-example", (p) => delete p.object_attributes.action);
    expect(normalizeGitLabEvent("Note Hook", payload, context).kind).toBe("mention");
  });

  it("without a known self id, only the handle marks our notes", () => {
    const payload = gitlabPayload("note-merge-request.docs-example", (p) => (p.user.id = 990));
    expect(normalizeGitLabEvent("Note Hook", payload, { ...context, selfUserId: null }).kind).toBe("mention");
  });
});

describe("isBotUsername", () => {
  it.each([
    ["project_12_bot_0a1b2c3d", true],
    ["project_12_bot1", true],
    ["group_3_bot_ff00", true],
    ["ghost", true],
    ["alert-bot", true],
    ["robot-rita", false],
    ["project_manager", false],
    ["root", false],
  ])("%s → %s", (name, expected) => {
    expect(isBotUsername(name)).toBe(expected);
  });
});
