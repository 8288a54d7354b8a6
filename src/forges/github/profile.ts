import type { ForgeMarkdown } from "../../sessions/forge-port.js";

export const githubMarkdown: ForgeMarkdown = {
  changeRequestName: "pull request",
  mention: (login) => `@${login}`,
};
