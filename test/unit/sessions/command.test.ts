import { describe, expect, it } from "@jest/globals";
import { parseCommand, type Command } from "../../../src/sessions/command.js";

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
});
