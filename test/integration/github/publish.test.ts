import { GitHubPublishForge } from "../../helpers/publish-forges.js";
import { publishScenarios } from "../../helpers/publish-scenarios.js";

/**
 * Approving and publishing change sessions on GitHub: the Git Data API (blobs, a tree on the
 * parent's tree, a commit, the ref) and a draft pull request, through the fake GitHub's
 * documented endpoints (test/helpers/fake-github-publish.ts).
 */
publishScenarios(new GitHubPublishForge());
