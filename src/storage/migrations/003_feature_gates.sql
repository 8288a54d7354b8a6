-- Feature flag gates (issue #6). A flag with no rows follows its definition's default_enabled;
-- once any row exists, the flag is on when any of its gates is open.
--   boolean               value 'true' | 'false'       (at most one row per flag)
--   actors                value an actor id, e.g. 'github:octocat', 'github:repo:owner/name'
--   groups                value a group name from config/feature_groups.yml
--   percentage_of_actors  value '0'..'100'             (at most one row per flag)
--   percentage_of_time    value '0'..'100'             (at most one row per flag)
CREATE TABLE feature_gates (
  flag_name   text        NOT NULL,
  gate_kind   text        NOT NULL CHECK (gate_kind IN ('boolean', 'actors', 'groups', 'percentage_of_actors', 'percentage_of_time')),
  value       text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (flag_name, gate_kind, value)
);
CREATE UNIQUE INDEX feature_gates_single_valued ON feature_gates (flag_name, gate_kind)
  WHERE gate_kind IN ('boolean', 'percentage_of_actors', 'percentage_of_time');

-- Every change, whoever makes it (the CLI, psql), wakes the processes caching evaluations.
-- Postgres folds identical notifications of one transaction into one.
CREATE FUNCTION feature_gates_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('forgebot_feature_gates', OLD.flag_name);
  ELSE
    PERFORM pg_notify('forgebot_feature_gates', NEW.flag_name);
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER feature_gates_changed
  AFTER INSERT OR UPDATE OR DELETE ON feature_gates
  FOR EACH ROW EXECUTE FUNCTION feature_gates_notify();
