-- The W3C trace context (traceparent, tracestate) of the span that made a task: a dispatch or a
-- ctx.call. The worker that runs the task continues that trace, so one trace spans the API
-- server and every worker. NULL when nothing was traced.
ALTER TABLE senpuki_tasks ADD COLUMN trace_context jsonb;

-- Every finished run of a task, oldest first: its attempt, when it ran, how it ended (completed,
-- retried, failed, released at shutdown, lost with its worker, cancelled) and the error if any,
-- for the dashboard's timeline and attempt history. `started_at` keeps the first run's start;
-- `run_started_at` is the current run's. Bounded to the last 50 runs.
ALTER TABLE senpuki_tasks ADD COLUMN runs jsonb NOT NULL DEFAULT '[]';
ALTER TABLE senpuki_tasks ADD COLUMN run_started_at timestamptz;

CREATE FUNCTION senpuki_append_run(runs jsonb, run jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_array_length(runs) >= 50 THEN (runs - 0) || jsonb_build_array(run) ELSE runs || jsonb_build_array(run) END
$$;
