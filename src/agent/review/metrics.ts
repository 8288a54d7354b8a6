import { reviewComments, reviewsPosted } from "../../metrics/flows.js";
import type { ForgeName } from "../../sessions/forge-port.js";

/** What a review counts: postings and where its findings went. */
export interface ReviewMetrics {
  reviewPosted(forge: ForgeName, outcome: "posted" | "found_existing" | "failed"): void;
  /** `inline`: posted on a line; `summary`: not anchorable in the diff; `rejected`: refused by the forge. */
  reviewComments(forge: ForgeName, outcome: "inline" | "summary" | "rejected", count: number): void;
}

/** Over the shared prom-client registry: forgebot_reviews_total and forgebot_review_comments_total. */
export const reviewMetrics: ReviewMetrics = {
  reviewPosted: (forge, outcome) => reviewsPosted.inc({ forge, outcome }),
  reviewComments: (forge, outcome, count) => {
    if (count > 0) reviewComments.inc({ forge, outcome }, count);
  },
};
