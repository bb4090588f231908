-- Executions, tasks and dead letters. Every row carries `version` (+1 on every write) and
-- `change_seq` (a global sequence ordering all writes); the trigger below keeps both honest
-- whatever statement writes the row.

CREATE SEQUENCE senpuki_change_seq;

CREATE FUNCTION senpuki_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    NEW.version := OLD.version + 1;
  ELSE
    NEW.version := 1;
  END IF;
  NEW.change_seq := nextval('senpuki_change_seq');
  RETURN NEW;
END
$$;

CREATE TABLE senpuki_executions (
  id              uuid PRIMARY KEY,
  function_name   text NOT NULL,
  args            jsonb NOT NULL,
  state           text NOT NULL,
  result          jsonb,
  error           jsonb,
  queue           text NOT NULL,
  tags            text[] NOT NULL DEFAULT '{}',
  priority        integer NOT NULL DEFAULT 0,
  idempotency_key text UNIQUE,
  root_task_id    uuid NOT NULL,
  progress        jsonb,
  custom_state    jsonb,
  counters        jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  deadline_at     timestamptz,
  version         integer NOT NULL DEFAULT 1,
  change_seq      bigint NOT NULL DEFAULT 0
);
CREATE INDEX senpuki_executions_change_seq ON senpuki_executions (change_seq);
CREATE INDEX senpuki_executions_created ON senpuki_executions (created_at DESC, id DESC);
CREATE INDEX senpuki_executions_state ON senpuki_executions (state, created_at DESC);
CREATE INDEX senpuki_executions_deadline ON senpuki_executions (deadline_at)
  WHERE deadline_at IS NOT NULL AND state IN ('pending', 'running');
CREATE TRIGGER senpuki_executions_version BEFORE INSERT OR UPDATE ON senpuki_executions
  FOR EACH ROW EXECUTE FUNCTION senpuki_bump_version();

CREATE TABLE senpuki_tasks (
  id               uuid PRIMARY KEY,
  execution_id     uuid NOT NULL REFERENCES senpuki_executions (id) ON DELETE CASCADE,
  parent_task_id   uuid REFERENCES senpuki_tasks (id) ON DELETE CASCADE,
  -- `<parent task id>:<call sequence>`: what makes a replayed call find its earlier run.
  call_key         text UNIQUE,
  -- The parent's attempt that (re)started this child: a failed child is re-run only when its
  -- parent has been retried since.
  parent_attempt   integer NOT NULL DEFAULT 1,
  kind             text NOT NULL,
  function_name    text NOT NULL,
  args             jsonb NOT NULL,
  state            text NOT NULL,
  result           jsonb,
  error            jsonb,
  attempt          integer NOT NULL DEFAULT 1,
  max_attempts     integer NOT NULL DEFAULT 1,
  queue            text NOT NULL,
  tags             text[] NOT NULL DEFAULT '{}',
  priority         integer NOT NULL DEFAULT 0,
  scheduled_for    timestamptz NOT NULL DEFAULT now(),
  lease_owner      text,
  lease_expires_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  version          integer NOT NULL DEFAULT 1,
  change_seq       bigint NOT NULL DEFAULT 0
);
-- The claim query walks this index in order and skips locked rows.
CREATE INDEX senpuki_tasks_claim ON senpuki_tasks (queue, priority DESC, scheduled_for, id)
  WHERE state = 'pending';
CREATE INDEX senpuki_tasks_lease ON senpuki_tasks (lease_expires_at) WHERE state = 'running';
CREATE INDEX senpuki_tasks_execution ON senpuki_tasks (execution_id, created_at);
CREATE INDEX senpuki_tasks_parent ON senpuki_tasks (parent_task_id);
CREATE INDEX senpuki_tasks_change_seq ON senpuki_tasks (change_seq);
CREATE TRIGGER senpuki_tasks_version BEFORE INSERT OR UPDATE ON senpuki_tasks
  FOR EACH ROW EXECUTE FUNCTION senpuki_bump_version();

CREATE TABLE senpuki_dead_letters (
  id            uuid PRIMARY KEY,
  task_id       uuid NOT NULL,
  execution_id  uuid NOT NULL,
  function_name text NOT NULL,
  args          jsonb NOT NULL,
  error         jsonb NOT NULL,
  attempts      integer NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX senpuki_dead_letters_created ON senpuki_dead_letters (created_at DESC, id DESC);
