-- Streams: output a running function writes with ctx.stream(name), read live by clients after a
-- sequence number. One writer per stream (the task that opened it); chunks are numbered 1, 2, ...
-- per stream and never change once written. A stream goes with its execution (retention).
CREATE TABLE senpuki_streams (
  execution_id uuid NOT NULL REFERENCES senpuki_executions (id) ON DELETE CASCADE,
  name         text NOT NULL,
  -- The task that writes it; no other task may.
  task_id      uuid NOT NULL,
  -- seq of the last chunk written (0 while empty).
  length       integer NOT NULL DEFAULT 0,
  -- A re-run of the task (a retry, a resume elsewhere) whose output differs from what the stream
  -- holds starts the next run: the chunks from run_start on are the current run's whole output.
  run          integer NOT NULL DEFAULT 1,
  run_start    integer NOT NULL DEFAULT 1,
  -- Set by close(). Readers also take a stream as closed once its task or execution is finished.
  closed_at    timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (execution_id, name)
);

-- One row per batch of chunks a writer committed at once (a tight loop of writes costs a few
-- rows, not one per chunk): `chunks` is the JSON array of chunks first_seq..last_seq.
CREATE TABLE senpuki_stream_chunks (
  execution_id uuid NOT NULL,
  name         text NOT NULL,
  first_seq    integer NOT NULL,
  last_seq     integer NOT NULL,
  run          integer NOT NULL,
  -- Size of `chunks` as the writer sent it, so readers can cut their events without measuring.
  bytes        integer NOT NULL,
  chunks       jsonb NOT NULL,
  -- Readers ask for the batches ending after the last seq they have: a range scan of this key.
  PRIMARY KEY (execution_id, name, last_seq),
  FOREIGN KEY (execution_id, name) REFERENCES senpuki_streams (execution_id, name) ON DELETE CASCADE
);
