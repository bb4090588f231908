-- Signals sent to an execution. Each one is consumed by exactly one `ctx.waitForSignal` wait (a
-- task of kind 'signal'); until a wait takes it, it stays here, buffered. `seq` orders the sends.
CREATE TABLE senpuki_signals (
  id           uuid PRIMARY KEY,
  execution_id uuid NOT NULL REFERENCES senpuki_executions (id) ON DELETE CASCADE,
  name         text NOT NULL,
  payload      jsonb NOT NULL,
  seq          bigserial NOT NULL,
  -- The wait task that received it; NULL while buffered.
  consumed_by  uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  consumed_at  timestamptz
);
CREATE INDEX senpuki_signals_by_name ON senpuki_signals (execution_id, name, seq);

-- The waits of one execution and name, oldest first: a waiting wait is written once (at insert),
-- so its change_seq is the order in which the waits started.
CREATE INDEX senpuki_tasks_signal_waits ON senpuki_tasks (execution_id, function_name, change_seq)
  WHERE kind = 'signal' AND state = 'waiting';
