import { jsonSchema, tool, type Tool } from "ai";

/** The tool the reviewer reports a group's findings with. It has no `execute`: the step loop ends on it. */
export const SUBMIT_REVIEW_TOOL = "submit_review";

const FINDING = {
  type: "object",
  properties: {
    path: { type: "string", description: "The file, as its ### heading in the diff names it" },
    side: { type: "string", enum: ["new", "old"], description: "new: lines shown with + or a space; old: lines shown with -" },
    start_line: { type: "integer", minimum: 1, description: "First line of the range, as numbered in the diff" },
    end_line: { type: "integer", minimum: 1, description: "Last line of the range (the same as start_line for one line)" },
    severity: { type: "string", enum: ["high", "medium", "low", "nit"] },
    body: { type: "string", description: "The comment, in Markdown" },
    replacement: {
      type: "array",
      items: { type: "string" },
      description: "Optional: the complete new text of lines start_line..end_line on the new side, one string per line",
    },
  },
  required: ["path", "side", "start_line", "end_line", "severity", "body"],
} as const;

/**
 * `submit_review`: the JSON schema guides the model; only the outer shape is checked here, so
 * one malformed finding never costs the others (the flow validates each finding on its own).
 */
export function submitReviewTool(): Tool {
  return tool({
    description: "Report your findings for the files of the current group. Call it exactly once per group, after reading what you need; an empty list is fine.",
    inputSchema: jsonSchema<Record<string, unknown>>(
      {
        type: "object",
        properties: {
          summary: { type: "string", description: "Optional: one or two sentences on this group as a whole" },
          findings: { type: "array", items: FINDING },
        },
        required: ["findings"],
      },
      {
        validate: (value) =>
          typeof value === "object" && value !== null && !Array.isArray(value)
            ? { success: true, value: value as Record<string, unknown> }
            : { success: false, error: new Error("submit_review expects an object with a findings list") },
      },
    ),
  });
}
