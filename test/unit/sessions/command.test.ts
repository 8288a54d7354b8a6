import { describe, expect, it } from "@jest/globals";
import { parseCommand, type Command, type ParsedCommand } from "../../../src/sessions/command.js";

describe("parseCommand", () => {
  const cases: [string, Command, string][] = [
    ["help", "help", "help"],
    ["Help!", "help", "Help!"],
    ["/help", "help", "/help"],
    ["", "help", ""],
    ["stop", "stop", "stop"],
    ["STOP.", "stop", "STOP."],
    ["cancel", "stop", "cancel"],
    ["retry", "retry", "retry"],
    ["/retry", "retry", "/retry"],
    ["  retry  ", "retry", "retry"],
    ["help me understand this diff", "chat", "help me understand this diff"],
    ["stop using var here?", "chat", "stop using var here?"],
    ["why did the retry logic change?", "chat", "why did the retry logic change?"],
    ["Explain\nthis", "chat", "Explain\nthis"],
  ];
  it.each(cases)("%j → %s", (request, command, prompt) => {
    expect(parseCommand(request)).toEqual({ command, prompt });
  });

  const keywords: [string, ParsedCommand][] = [
    ["review", { command: "review", prompt: "" }],
    ["/review security of the token handling", { command: "review", prompt: "security of the token handling" }],
    ["Review: error handling", { command: "review", prompt: "error handling" }],
    ["review all", { command: "review", prompt: "", modifier: "all" }],
    ["review all, mostly the tests", { command: "review", prompt: "mostly the tests", modifier: "all" }],
    ["review\nthe parser\nand the lexer", { command: "review", prompt: "the parser\nand the lexer" }],
    ["apply", { command: "apply", prompt: "" }],
    ["Apply.", { command: "apply", prompt: "" }],
    ["apply here", { command: "apply", prompt: "", modifier: "here" }],
    ["apply this to the other branch too", { command: "chat", prompt: "apply this to the other branch too" }],
    ["change the greeting to say hello", { command: "change", prompt: "the greeting to say hello" }],
    ["change", { command: "chat", prompt: "change" }],
    ["reviewing this is hard, can you explain it?", { command: "chat", prompt: "reviewing this is hard, can you explain it?" }],
    ["changes look fine?", { command: "chat", prompt: "changes look fine?" }],
  ];
  it.each(keywords)("%j → %j", (request, parsed) => {
    expect(parseCommand(request)).toEqual(parsed);
  });
});
