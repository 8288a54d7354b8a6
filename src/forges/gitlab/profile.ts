import type { ForgeProfile } from "../../sessions/forge-port.js";

/** GitLab says "merge request" (`!iid`) where GitHub says "pull request"; mentions read the same. */
export const gitlabProfile: ForgeProfile = {
  name: "gitlab",
  displayName: "GitLab",
  changeRequestName: "merge request",
  threadReference: (kind, number) => `${kind === "change_request" ? "!" : "#"}${number}`,
  mention: (login) => `@${login}`,
  writersDescription: "project members with at least the Developer role",
  userActor: (login) => `gitlab:${login}`.toLowerCase(),
  // GitLab refuses notes over 1,000,000 characters.
  maxNoteChars: 1_000_000,
  repositoryActor: (path) => `gitlab:project:${path}`.toLowerCase(),
};
