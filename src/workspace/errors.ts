/**
 * Errors of the workspace. Each carries a message the agent and the session page can show as
 * it is: it names what was refused and why, never a host path.
 */

/** A tool input the workspace refuses (a path leaving the workspace, an edit that does not match once, a policy). */
export class WorkspaceRefusal extends Error {
  override name = "WorkspaceRefusal";
}

/** The snapshot or a command made the workspace larger than WORKSPACE_MAX_BYTES. */
export class WorkspaceTooLargeError extends Error {
  override name = "WorkspaceTooLargeError";
}

/** The workspace could not be made or rebuilt (download, extraction, git); `phase` says where it failed. */
export class WorkspaceError extends Error {
  override name = "WorkspaceError";
  constructor(
    readonly phase: "snapshot" | "download" | "extract" | "git" | "rebuild",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
