import type { ForgeProfile } from "../../sessions/forge-port.js";

export const githubProfile: ForgeProfile = {
  name: "github",
  displayName: "GitHub",
  changeRequestName: "pull request",
  threadReference: (_kind, number) => `#${number}`,
  mention: (login) => `@${login}`,
  writersDescription: "people with write access",
  userActor: (login) => `github:${login}`.toLowerCase(),
  // GitHub refuses comment bodies over 65,536 characters.
  maxNoteChars: 65_536,
  repositoryActor: (path) => `github:repo:${path}`.toLowerCase(),
};
