import { describe, expect, it } from "@jest/globals";
import { normalizeGitHubEvent } from "../../../../src/forges/github/normalize.js";
import { githubExample } from "../../../helpers/payloads.js";

const common = { host: "github.com", deliveryKey: "d1", selfLogins: ["forgebot", "forgebot[bot]"] };

describe("normalizeGitHubEvent", () => {
  it("issue comment on an issue", () => {
    const payload = githubExample("issue_comment", "created", (p) => (p.comment.body = "@forgebot hi"));
    const result = normalizeGitHubEvent("issue_comment", payload, common);
    expect(result.kind).toBe("mention");
    if (result.kind !== "mention") return;
    expect(result.event).toMatchObject({
      forge: "github",
      deliveryKey: "d1",
      triggerKey: `issue_comment-${payload.comment.id}`,
      eventName: "issue_comment.created",
      actor: { id: String(payload.comment.user.id), login: payload.comment.user.login },
      body: "@forgebot hi",
      thread: { forge: "github", host: "github.com", repoPath: payload.repository.full_name, installationId: 4242, kind: "issue", number: payload.issue.number },
    });
    expect(result.event.thread.replyTo).toBeUndefined();
  });

  const visibilities: [string, (p: any) => void, string | undefined][] = [
    ["the example's public repository", () => undefined, "public"],
    ["`private: true`", (p) => (p.repository.private = true), "private"],
    ["`visibility: internal` (GitHub Enterprise)", (p) => Object.assign(p.repository, { private: true, visibility: "internal" }), "internal"],
    ["`visibility` wins over `private`", (p) => Object.assign(p.repository, { private: false, visibility: "private" }), "private"],
    ["neither: unknown (read as private)", (p) => delete p.repository.private, undefined],
  ];
  it.each(visibilities)("records the repository's visibility: %s", (_name, patch, expected) => {
    const result = normalizeGitHubEvent("issue_comment", githubExample("issue_comment", "created", (p) => { p.comment.body = "@forgebot hi"; patch(p); }), common);
    expect(result.kind === "mention" && result.event.thread.visibility).toBe(expected ?? undefined);
  });

  it("issue comment on a pull request is a change request thread", () => {
    const payload = githubExample("issue_comment", "created", (p) => (p.issue.pull_request = { url: "x" }));
    const result = normalizeGitHubEvent("issue_comment", payload, common);
    expect(result.kind === "mention" && result.event.thread.kind).toBe("change_request");
  });

  it("review comment replies on the thread's root comment", () => {
    const reply = githubExample("pull_request_review_comment", "created", (p) => (p.comment.in_reply_to_id = 77));
    const root = githubExample("pull_request_review_comment", "created", (p) => delete p.comment.in_reply_to_id);
    const a = normalizeGitHubEvent("pull_request_review_comment", reply, common);
    const b = normalizeGitHubEvent("pull_request_review_comment", root, common);
    expect(a.kind === "mention" && a.event.thread.replyTo).toEqual({ type: "review_thread", rootCommentId: "77" });
    expect(b.kind === "mention" && b.event.thread.replyTo).toEqual({ type: "review_thread", rootCommentId: String(root.comment.id) });
  });

  it("a review with a null body is a mention candidate with an empty body", () => {
    const payload = githubExample("pull_request_review", "submitted");
    const result = normalizeGitHubEvent("pull_request_review", payload, common);
    expect(result.kind === "mention" && result.event.body).toBe("");
    expect(result.kind === "mention" && result.event.triggerKey).toBe(`review-${payload.review.id}`);
  });

  const ignored: [string, string, () => unknown, string][] = [
    ["an edited comment", "issue_comment", () => githubExample("issue_comment", "edited"), "edited"],
    ["a deleted comment", "issue_comment", () => githubExample("issue_comment", "deleted"), "unhandled_event"],
    ["a dismissed review", "pull_request_review", () => githubExample("pull_request_review", "dismissed"), "unhandled_event"],
    ["an event we do not handle", "push", () => ({ ref: "main" }), "unhandled_event"],
    ["a bot sender", "issue_comment", () => githubExample("issue_comment", "created", (p) => { p.sender.type = "Bot"; p.comment.user.type = "Bot"; p.comment.user.login = "dependabot[bot]"; }), "bot_sender"],
    ["the bot itself", "issue_comment", () => githubExample("issue_comment", "created", (p) => { p.comment.user.login = "forgebot[bot]"; p.sender.login = "forgebot[bot]"; }), "self"],
    ["a payload missing fields", "issue_comment", () => ({ action: "created", issue: {} }), "malformed"],
  ];
  it.each(ignored)("%s is ignored", (_name, event, payload, reason) => {
    expect(normalizeGitHubEvent(event, payload(), common)).toEqual({ kind: "ignored", reason });
  });
});
