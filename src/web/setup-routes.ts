import type { SessionWebContext } from "./context.js";
import type { Router } from "./router.js";
import type { Db } from "../storage/pool.js";
import { createSetupStateStore } from "../storage/setup-state-store.js";
import type { SetupContext, SetupOptions } from "./setup-access.js";
import { finishGitHubSetup, startGitHubSetup } from "./setup-github.js";
import { handleGitLabSetup } from "./setup-gitlab.js";
import { handleRoot, handleSetup } from "./setup-page.js";

/**
 * First run: `GET /` (the setup page until a forge is configured, then the bot's status),
 * `GET /setup`, `POST /setup/github` and `GET /setup/github/callback` (the GitHub App manifest
 * flow), `POST /setup/gitlab` (check and save a GitLab token).
 */
export function addSetupRoutes(router: Router, session: SessionWebContext, db: Db, setup: SetupOptions): Router {
  const ctx: SetupContext = { ...session, setup, states: createSetupStateStore(db) };
  return router
    .add("GET", "/", (req, res) => handleRoot(ctx, req, res))
    .add("GET", "/setup", (req, res, _p, url) => handleSetup(ctx, req, res, url))
    .add("POST", "/setup/github", (req, res) => startGitHubSetup(ctx, req, res))
    .add("GET", "/setup/github/callback", (req, res, _p, url) => finishGitHubSetup(ctx, req, res, url))
    .add("POST", "/setup/gitlab", (req, res) => handleGitLabSetup(ctx, req, res));
}
