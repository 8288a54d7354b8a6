import { describe, expect, it } from "@jest/globals";
import { githubNoreply, githubSaid, isInlineText } from "../../../src/forges/github/publish.js";
import { commitActions, gitlabNoreply, gitlabSaid } from "../../../src/forges/gitlab/publish.js";
import { ForgeApiError, PublishRefusal, type PublishFile } from "../../../src/sessions/forge-port.js";

const file = (over: Partial<PublishFile>): PublishFile => ({ path: "a.txt", oldPath: null, status: "modified", oldMode: "100644", newMode: "100644", content: Buffer.from("text\n"), ...over });

describe("what publishing sends each forge", () => {
  it("noreply addresses: GitHub's ID+login, GitLab's id-username, on the forge's host", () => {
    expect(githubNoreply({ id: "21031067", login: "Codertocat" }, "github.com")).toBe("Codertocat <21031067+Codertocat@users.noreply.github.com>");
    expect(githubNoreply({ id: "5", login: "dev" }, "ghe.example.com")).toBe("dev <5+dev@users.noreply.ghe.example.com>");
    expect(gitlabNoreply({ id: "1", login: "root" }, "gitlab.example.com")).toBe("root <1-root@users.noreply.gitlab.example.com>");
  });

  it("GitHub takes UTF-8 text inline in the tree; anything else becomes a blob", () => {
    expect(isInlineText(Buffer.from("héllo\n"))).toBe(true);
    expect(isInlineText(Buffer.from([0x68, 0x00, 0x69]))).toBe(false);
    expect(isInlineText(Buffer.from([0xff, 0xfe, 0x41]))).toBe(false);
  });

  it("GitLab actions: create, update, delete, move, chmod; base64 for what is not text; last_commit_id on an existing branch", () => {
    const actions = commitActions(
      [
        file({ path: "new.sh", status: "added", oldMode: "000000", newMode: "100755", content: Buffer.from("#!/bin/sh\n") }),
        file({ path: "logo.bin", status: "added", oldMode: "000000", content: Buffer.from([0, 1, 2]) }),
        file({ path: "a.txt" }),
        file({ path: "gone.txt", status: "deleted", newMode: "000000", content: null }),
        file({ path: "src/new-name.js", oldPath: "src/old-name.js", status: "renamed" }),
        file({ path: "run.sh", oldMode: "100755", newMode: "100644" }),
      ],
      new Map([
        ["a.txt", "c1"],
        ["gone.txt", "c2"],
        ["src/old-name.js", "c3"],
      ]),
    );
    expect(actions).toEqual([
      { action: "create", filePath: "new.sh", content: "#!/bin/sh\n" },
      { action: "chmod", filePath: "new.sh", executeFilemode: true },
      { action: "create", filePath: "logo.bin", content: "AAEC", encoding: "base64" },
      { action: "update", filePath: "a.txt", content: "text\n", lastCommitId: "c1" },
      { action: "delete", filePath: "gone.txt", lastCommitId: "c2" },
      { action: "move", filePath: "src/new-name.js", previousPath: "src/old-name.js", content: "text\n", lastCommitId: "c3" },
      { action: "update", filePath: "run.sh", content: "text\n" },
      { action: "chmod", filePath: "run.sh", executeFilemode: false },
    ]);
  });

  it("GitLab cannot write symbolic links: refused before any request", () => {
    expect(() => commitActions([file({ path: "link", status: "added", newMode: "120000", content: Buffer.from("target") })], new Map())).toThrow(PublishRefusal);
  });

  it("what each forge said about a refusal, for the reply", () => {
    const github = new ForgeApiError("GitHub create branch failed (422)", 422, { cause: { response: { data: { message: "Validation Failed", errors: [{ message: "A pull request already exists for o:b." }] } } } });
    expect(githubSaid(github)).toBe("Validation Failed; A pull request already exists for o:b.");
    const gitlab = new ForgeApiError("GitLab create commit failed (400)", 400, { cause: new ForgeApiError("GitLab POST projects/5/repository/commits failed (400): A file with this name already exists", 400) });
    expect(gitlabSaid(gitlab)).toBe("A file with this name already exists");
  });
});
