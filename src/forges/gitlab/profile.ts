import type { ForgeMarkdown } from "../../sessions/forge-port.js";

/** GitLab says "merge request" (`!iid`) where GitHub says "pull request"; mentions read the same. */
export const gitlabMarkdown: ForgeMarkdown = {
  changeRequestName: "merge request",
  mention: (login) => `@${login}`,
};
