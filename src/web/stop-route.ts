import type { IncomingMessage, ServerResponse } from "node:http";
import { stopFromButton } from "../lifecycle/stop.js";
import { sessionPath } from "./access.js";
import { guardAction } from "./act.js";
import type { SessionWebContext } from "./context.js";
import { humanize } from "./format.js";
import { sendMessage } from "./templates.js";

/**
 * `POST /sessions/:id/stop?sig=…` from the page's Stop button, by a signed-in user who may write
 * (act.ts). Stops a created or running session the way `@forgebot stop` does: a running worker
 * aborts, the session replies that it was stopped. Pressing it twice is harmless. Answers 303
 * back to the session's page; a session past stopping gets 409 and stays as it is.
 */
export async function handleStopPost(ctx: SessionWebContext, req: IncomingMessage, res: ServerResponse, rawId: string | undefined, url: URL): Promise<void> {
  const allowed = await guardAction(ctx, req, res, { rawId, url, verb: "stop" });
  if (!allowed) return;
  const { session, viewer, back } = allowed;
  const outcome = await stopFromButton(ctx.lifecycle, session, { id: viewer.user.id, login: viewer.user.login });
  if (outcome.kind === "not_stoppable") {
    return sendMessage(res, 409, {
      heading: "Stop refused",
      text: `Session ${session.id} is ${humanize(outcome.session.status).toLowerCase()}; only created or running sessions can be stopped.`,
      tone: "warn",
      link: back,
    });
  }
  res.writeHead(303, { location: sessionPath(ctx.linkSecret, session.id), "cache-control": "no-store" });
  res.end();
}
