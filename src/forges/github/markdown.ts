import type { ForgeMarkdown } from "../forge.js";

export const githubMarkdown: ForgeMarkdown = {
  changeRequestName: "pull request",
  mention: (login) => `@${login}`,
};
