import { GitLabPublishForge } from "../../helpers/publish-forges.js";
import { publishScenarios } from "../../helpers/publish-scenarios.js";

/**
 * Approving and publishing change sessions on GitLab: one `POST …/repository/commits` with
 * `actions[]` (and `start_sha` for a new branch) and a draft merge request, through the fake
 * GitLab's documented endpoints (test/helpers/fake-gitlab-publish.ts).
 */
publishScenarios(new GitLabPublishForge());
