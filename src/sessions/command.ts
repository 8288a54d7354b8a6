/**
 * What a mention asks for. `chat` is free text; the others are keywords:
 * - `help`, `stop` (`cancel`), `retry`: the whole request is the keyword;
 * - `review [all] [focus]`: a code review of the change request, `all` for everything rather
 *   than what changed since forgebot's last review, the rest a focus for the reviewer;
 * - `change <request>`: a session that edits the code;
 * - `apply [here]`: approve the diff a change session is waiting with.
 */
export type Command = "chat" | "help" | "stop" | "retry" | "review" | "change" | "apply";

export type ParsedCommand = {
  command: Command;
  /** The request (for `review`, its focus; for `change`, what to change). */
  prompt: string;
  /** `review all` reviews the whole change; `apply here` commits onto the change request's own branch. */
  modifier?: "all" | "here";
};

const WHOLE: Record<string, Command> = { help: "help", stop: "stop", cancel: "stop", retry: "retry" };

/** A keyword, with an optional leading slash and trailing punctuation, lower-cased. */
function keyword(word: string): string {
  return word.toLowerCase().replace(/^\//, "").replace(/[.!?:,]+$/, "");
}

export function parseCommand(request: string): ParsedCommand {
  const prompt = request.trim();
  if (prompt === "") return { command: "help", prompt };
  const whole = WHOLE[keyword(prompt)];
  if (whole) return { command: whole, prompt };

  const [first = "", ...rest] = prompt.split(/\s+/);
  const head = keyword(first);
  // The rest of the text after the keyword, line breaks kept.
  const after = prompt.slice(prompt.indexOf(first) + first.length).trim();
  if (head === "review") {
    if (rest[0] !== undefined && keyword(rest[0]) === "all") {
      return { command: "review", prompt: after.slice(after.indexOf(rest[0]) + rest[0].length).trim(), modifier: "all" };
    }
    return { command: "review", prompt: after };
  }
  if (head === "apply" && rest.length === 0) return { command: "apply", prompt: "" };
  if (head === "apply" && rest.length === 1 && keyword(rest[0] ?? "") === "here") return { command: "apply", prompt: "", modifier: "here" };
  if (head === "change" && after !== "") return { command: "change", prompt: after };
  return { command: "chat", prompt };
}
