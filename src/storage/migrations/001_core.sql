-- Core tables: sessions and their timeline, webhook deliveries, permission notices.
CREATE TABLE webhook_deliveries (
  id            bigserial PRIMARY KEY,
  forge         text        NOT NULL,
  delivery_key  text        NOT NULL,
  event_name    text        NOT NULL,
  -- The normalized MentionEvent (never the raw payload): enough to act without the webhook.
  mention       jsonb,
  status        text        NOT NULL DEFAULT 'received',
  session_id    bigint,
  received_at   timestamptz NOT NULL DEFAULT now(),
  processed_at  timestamptz,
  UNIQUE (forge, delivery_key)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (received_at) WHERE status = 'received';

CREATE TABLE sessions (
  id                      bigserial PRIMARY KEY,
  forge                   text        NOT NULL,
  host                    text        NOT NULL,
  repo_id                 text        NOT NULL,
  repo_path               text        NOT NULL,
  installation_id         bigint,
  thread_kind             text        NOT NULL CHECK (thread_kind IN ('issue', 'change_request')),
  thread_number           integer     NOT NULL,
  discussion_id           text,
  trigger_key             text,
  trigger_comment_id      text,
  actor_id                text        NOT NULL,
  actor_login             text        NOT NULL,
  command                 text        NOT NULL,
  prompt                  text        NOT NULL,
  flow                    text        NOT NULL,
  status                  text        NOT NULL DEFAULT 'created',
  run_seq                 integer     NOT NULL DEFAULT 1,
  started_note_id         text,
  started_note_deleted_at timestamptz,
  reply_note_id           text,
  parent_session_id       bigint REFERENCES sessions (id),
  origin                  text        NOT NULL DEFAULT 'mention',
  conversation_key        text        NOT NULL,
  selected_model_metadata jsonb,
  callback_context        jsonb       NOT NULL,
  usage                   jsonb       NOT NULL DEFAULT '{}'::jsonb,
  result                  text,
  error_reason            text,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  finished_at             timestamptz,
  UNIQUE (forge, trigger_key)
);
CREATE INDEX sessions_conversation ON sessions (conversation_key, id);
CREATE INDEX sessions_active ON sessions (status, updated_at)
  WHERE status NOT IN ('finished', 'failed', 'stopped');

CREATE TABLE session_events (
  id          bigserial PRIMARY KEY,
  session_id  bigint      NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  kind        text        NOT NULL,
  data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_events_session ON session_events (session_id, id);

CREATE TABLE checkpoints (
  session_id  bigint      NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  seq         integer     NOT NULL,
  parent_seq  integer,
  delta       jsonb       NOT NULL,
  model       jsonb,
  usage       jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (session_id, seq)
);

-- One explanation per user per thread for people who may not use the bot.
CREATE TABLE permission_notices (
  forge       text        NOT NULL,
  thread_key  text        NOT NULL,
  actor_id    text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (forge, thread_key, actor_id)
);
