import { createHmac } from "node:crypto";
import { describe, expect, it } from "@jest/globals";
import { useGitHubBot } from "../../helpers/github-harness.js";
import { testPrivateKey, WEBHOOK_SECRET } from "../../helpers/github-app.js";
import { openSetup, postGitHubForm } from "../../helpers/setup-flow.js";
import { LINK_SECRET } from "../web/support.js";

/**
 * A bot whose GitHub comes from the environment (APP_ID, PRIVATE_KEY, WEBHOOK_SECRET): `GET /`
 * is its status, not the setup page; the setup routes answer 409, and an operator may add
 * GitLab but not replace GitHub. No page says the environment's secrets.
 */

const ADMIN_TOKEN = "env-operator-token-42";
const h = useGitHubBot({ env: { ADMIN_TOKEN } });

describe("a bot configured by environment variables", () => {
  it("shows its status on GET /, never the secrets, and refuses the setup page to all but an operator", async () => {
    const status = await fetch(`${h.bot.baseUrl}/`);
    expect(status.status).toBe(200);
    const html = await status.text();
    expect(html).toContain("forgebot is running");
    expect(html).toContain("configured by environment variables");
    expect(html).toContain("GitLab: not configured.");
    expect(html).not.toContain("Register forgebot on GitHub");
    const json = (await (await fetch(`${h.bot.baseUrl}/`, { headers: { accept: "application/json" } })).json()) as { forges: unknown[] };
    expect(json.forges).toEqual([expect.objectContaining({ forge: "github", origin: "env", handle: "forgebot", app: { id: "12345", slug: null, htmlUrl: null, owner: null } })]);

    const refused = await fetch(`${h.bot.baseUrl}/setup`);
    expect(refused.status).toBe(409);
    const operator = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const page = await openSetup(h.bot.baseUrl, { headers: operator });
    expect(page.res.status).toBe(200);
    expect(page.html).toContain("configured by environment variables (they take precedence over this page)");
    expect(page.githubToken).toBeNull();
    expect(page.gitlabToken).not.toBeNull();

    // Even an operator, with a valid form token for GitHub, cannot put stored credentials over the environment's.
    const browser = page.cookie.split("=")[1]!;
    const githubToken = createHmac("sha256", LINK_SECRET).update(`setup-form:github:${browser}`).digest("base64url");
    const wrongToken = await postGitHubForm(h.bot.baseUrl, { ...page, githubToken: page.gitlabToken }, { name: "x" }, operator);
    expect(wrongToken.res.status).toBe(403);
    const overEnv = await postGitHubForm(h.bot.baseUrl, { ...page, githubToken }, { name: "x" }, operator);
    expect(overEnv.res.status).toBe(409);
    expect(overEnv.html).toContain("GitHub is configured by environment variables");
    expect((await h.database.db.query("SELECT count(*)::int AS n FROM setup_states")).rows[0].n).toBe(0);

    const texts = [html, JSON.stringify(json), await refused.text(), page.html];
    const keyLines = testPrivateKey().split("\n").filter((l) => l.length > 40);
    for (const secret of [WEBHOOK_SECRET, ADMIN_TOKEN, ...keyLines]) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  });
});
