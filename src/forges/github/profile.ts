import type { ForgeProfile } from "../../sessions/forge-port.js";

export const githubProfile: ForgeProfile = {
  name: "github",
  displayName: "GitHub",
  changeRequestName: "pull request",
  threadReference: (_kind, number) => `#${number}`,
  mention: (login) => `@${login}`,
  writersDescription: "people with write access",
  userActor: (login) => `github:${login}`.toLowerCase(),
  repositoryActor: (path) => `github:repo:${path}`.toLowerCase(),
};
