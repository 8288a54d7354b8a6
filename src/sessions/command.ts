export type Command = "chat" | "help" | "stop" | "retry";

export type ParsedCommand = { command: Command; prompt: string };

const KEYWORDS: Record<string, Command> = { help: "help", "/help": "help", stop: "stop", "/stop": "stop", cancel: "stop", retry: "retry", "/retry": "retry" };

/**
 * A request that is exactly one keyword (`help`, `stop`, `retry`, optionally with a slash or
 * trailing punctuation) is a command; anything else is free text for the `chat` flow.
 */
export function parseCommand(request: string): ParsedCommand {
  const prompt = request.trim();
  const word = prompt.toLowerCase().replace(/[.!?]+$/, "");
  const command = KEYWORDS[word];
  if (command) return { command, prompt };
  if (prompt === "") return { command: "help", prompt };
  return { command: "chat", prompt };
}
