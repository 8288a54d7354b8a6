-- Change sessions: the snapshot each workspace starts from, the commands run in the sandbox
-- (written ahead, so a crash mid-step never runs one twice), and the patch a session ends with.

-- A `recovered` checkpoint closes calls the step loop did not run itself: the call a chat
-- session switched flows on, or the commands of a step cut short by a crash (never run again).
ALTER TABLE checkpoints DROP CONSTRAINT IF EXISTS checkpoints_kind_check;
ALTER TABLE checkpoints ADD CONSTRAINT checkpoints_kind_check
  CHECK (kind IN ('start', 'step', 'input', 'interrupted', 'continue', 'recovered'));

-- The repository snapshot a session's workspace is made from: fixed at first use, so a workspace
-- rebuilt after a crash, on any worker, starts from the same commit.
CREATE TABLE session_workspaces (
  session_id  bigint      PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
  -- The branch the snapshot was taken from (the change request's head branch or the default branch).
  base_ref    text        NOT NULL,
  base_sha    text        NOT NULL,
  -- Git tree of the extracted snapshot; a rebuild must arrive at the same one.
  base_tree   text,
  bytes       bigint,
  files       integer,
  -- Archive entries left out (links leading outside, devices, …), each with the reason.
  skipped     jsonb       NOT NULL DEFAULT '[]'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  ready_at    timestamptz
);

-- Every `run`: recorded before the command starts and completed after it ends.
CREATE TABLE session_commands (
  id            bigserial   PRIMARY KEY,
  session_id    bigint      NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  run           integer     NOT NULL,
  -- The last checkpoint when the step began: the step's own checkpoint is after_seq + 1.
  after_seq     integer     NOT NULL,
  tool_call_id  text        NOT NULL,
  command       text        NOT NULL,
  status        text        NOT NULL DEFAULT 'started' CHECK (status IN ('started', 'finished')),
  -- exit_zero, exit_nonzero, timeout, limit, unavailable (forgebot_sandbox_commands_total's outcomes).
  outcome       text,
  exit_code     integer,
  signal        text,
  duration_ms   integer,
  -- Head and tail of the output, with the cut said.
  output        text,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz
);
CREATE INDEX session_commands_session ON session_commands (session_id, id);

-- The change a session ended with, and (filled by publishing) what it became on the forge.
CREATE TABLE session_patches (
  session_id        bigint      PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
  run               integer     NOT NULL,
  base_ref          text        NOT NULL,
  base_sha          text        NOT NULL,
  -- `git diff --binary` against the snapshot: applies with `git apply`.
  diff              text        NOT NULL,
  -- `git diff --stat` text and its totals.
  stat              text        NOT NULL,
  files_changed     integer     NOT NULL,
  insertions        integer     NOT NULL,
  deletions         integer     NOT NULL,
  bytes             integer     NOT NULL,
  -- [{ path, oldPath, status, oldMode, newMode, blob, binary, insertions, deletions }]
  files             jsonb       NOT NULL DEFAULT '[]'::jsonb,
  published_branch  text,
  published_commit  text,
  change_request    jsonb,
  published_at      timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The new contents of the patch's added and modified files (what a publish uploads).
CREATE TABLE session_patch_files (
  session_id  bigint  NOT NULL REFERENCES session_patches (session_id) ON DELETE CASCADE,
  path        text    NOT NULL,
  mode        text    NOT NULL,
  content     bytea   NOT NULL,
  PRIMARY KEY (session_id, path)
);
