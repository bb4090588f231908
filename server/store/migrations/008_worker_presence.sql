-- Workers record themselves, so a worker that died (its process killed) is noticed in seconds
-- rather than when each of its leases runs out: every worker holds a session advisory lock
-- (classid = the namespace below, objid = lock_key) on a connection of its own and refreshes
-- last_seen_at every second. Postgres drops the lock the moment the dead process's connection
-- closes; a worker whose lock is gone and whose last_seen_at is stale is dead, and its tasks are
-- taken back at once. A live worker whose lock connection was merely cut keeps last_seen_at fresh
-- and takes its lock again, so it is never mistaken for dead.
CREATE TABLE senpuki_workers (
  id            text PRIMARY KEY,
  host          text NOT NULL,
  pid           integer NOT NULL,
  queues        text[] NOT NULL,
  tags          text[],
  concurrency   integer NOT NULL,
  running       integer NOT NULL DEFAULT 0,
  lock_key      integer NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX senpuki_workers_last_seen ON senpuki_workers (last_seen_at);

-- Times a task was taken back from a worker that died while running it. Counted apart from
-- `attempt` (which decides which failed children a retried orchestrator runs again, and must not
-- move on a replay); a task that keeps killing its workers fails for good past the limit.
ALTER TABLE senpuki_tasks ADD COLUMN lease_losses integer NOT NULL DEFAULT 0;
