-- Publishing approved changes: the steps of each publish (write-ahead, so a repeated attempt
-- looks for its own earlier write before writing again), and the change requests forgebot
-- opened (a mention there continues the change that opened it).

-- One row per step of one run's publish: claimed before the step's first forge request, its
-- result (shas, numbers) recorded once it is done. A claim without a result means an attempt
-- may have written and died before recording it.
CREATE TABLE session_publish_steps (
  session_id  bigint      NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  run         integer     NOT NULL,
  -- plan, blobs, tree, commit, branch, change_request
  step        text        NOT NULL,
  result      jsonb,
  claimed_at  timestamptz NOT NULL DEFAULT now(),
  done_at     timestamptz,
  PRIMARY KEY (session_id, run, step)
);

-- The change requests forgebot opened, by the forge's own number.
CREATE TABLE published_change_requests (
  forge             text        NOT NULL,
  host              text        NOT NULL,
  repo_id           text        NOT NULL,
  number            integer     NOT NULL,
  -- The session whose approved change opened it.
  session_id        bigint      NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  -- Its head branch: forgebot/<session>-<slug>, the only branch follow-ups push to.
  branch            text        NOT NULL,
  url               text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (forge, host, repo_id, number)
);
CREATE INDEX published_change_requests_session ON published_change_requests (session_id);
