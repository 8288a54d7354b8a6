import { describe, expect, it } from "@jest/globals";
import { parseMention } from "../../../src/forges/mention.js";

describe("parseMention", () => {
  const cases: [string, string, string | null][] = [
    ["plain mention", "@forgebot explain this", "explain this"],
    ["mention mid-sentence", "Hey @forgebot, what does this do?", "Hey, what does this do?"],
    ["mention then comma", "@forgebot, why is this slow?", "why is this slow?"],
    ["case-insensitive", "@ForgeBot help", "help"],
    ["alone", "@forgebot", ""],
    ["inside a code span", "run `@forgebot help` to see", null],
    ["inside a fenced code block", "```\n@forgebot help\n```", null],
    ["inside a tilde fence", "~~~sh\n@forgebot help\n~~~", null],
    ["inside an indented code block", "text\n\n    @forgebot help\n", null],
    ["inside a quote", "> @forgebot help\n\nI agree", null],
    ["quote and a real mention", "> @forgebot old\n\n@forgebot new question", "new question"],
    ["longer handle", "@forgebot-dev help", null],
    ["e-mail address", "mail me at me@forgebot.dev", null],
    ["suffix handle", "@notforgebot help", null],
    ["html comment", "<!-- @forgebot help -->", null],
    ["in a list", "- first\n- @forgebot list item", "first\nlist item"],
    ["no mention", "just a comment", null],
    ["empty body", "", null],
  ];
  it.each(cases)("%s", (_name, body, expected) => {
    expect(parseMention(body, "forgebot")).toBe(expected);
  });

  it("escapes regular-expression characters in the handle", () => {
    expect(parseMention("@bot.name go", "bot.name")).toBe("go");
    expect(parseMention("@botxname go", "bot.name")).toBeNull();
  });
});
