-- Review sessions: what a review read (its head commit, the diff its comments are anchored on,
-- its groups of files), what each group found, and what was posted. The latest posted review of
-- a change request is where the next one starts when it reviews only what changed since.
CREATE TABLE change_reviews (
  session_id          bigint      PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
  conversation_key    text        NOT NULL,
  status              text        NOT NULL CHECK (status IN ('reviewing', 'posted', 'nothing_new', 'nothing_to_review')),
  head_sha            text        NOT NULL,
  data                jsonb       NOT NULL,
  -- The write-ahead intent: set before the review is posted, so a later attempt looks for it first.
  posting_claimed_at  timestamptz,
  review_id           text,
  review_url          text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  posted_at           timestamptz
);
CREATE INDEX change_reviews_posted ON change_reviews (conversation_key, session_id DESC) WHERE status = 'posted';

-- `continue`: a checkpoint the flow adds after a step that ended on a call (a review group's
-- submitted findings): the call's result and the next request, optionally in a new context window.
ALTER TABLE checkpoints DROP CONSTRAINT IF EXISTS checkpoints_kind_check;
ALTER TABLE checkpoints ADD CONSTRAINT checkpoints_kind_check CHECK (kind IN ('start', 'step', 'input', 'interrupted', 'continue'));
