-- Claims, due-time lookups and limited-function checks walk these in order and stop at the first
-- rows they can use, so their cost does not grow with the number of pending tasks.
-- Claims of a function with a concurrency limit: its best rows first, whatever their queue.
CREATE INDEX senpuki_tasks_claim_function ON senpuki_tasks (function_name, priority DESC, scheduled_for, id)
  WHERE state = 'pending';
-- An idle worker's "when is the next task of my queues due": the earliest row per queue.
CREATE INDEX senpuki_tasks_due ON senpuki_tasks (queue, scheduled_for) WHERE state = 'pending';

-- The version trigger, as in 006, with a cheap first test: a write that changes a task's state or
-- lease owner (claims, completions, every hot-path write) is a change whatever else it does, so
-- the whole-row comparison that recognises a bare lease renewal runs only for the others.
CREATE OR REPLACE FUNCTION senpuki_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    -- Nested, not ANDed: NEW.state and NEW.lease_owner exist only on senpuki_tasks.
    IF TG_TABLE_NAME = 'senpuki_tasks' THEN
      IF NEW.state = OLD.state AND NEW.lease_owner IS NOT DISTINCT FROM OLD.lease_owner
         AND to_jsonb(NEW) - 'lease_expires_at' - 'version' - 'change_seq'
             = to_jsonb(OLD) - 'lease_expires_at' - 'version' - 'change_seq' THEN
        NEW.version := OLD.version;
        NEW.change_seq := OLD.change_seq;
        RETURN NEW;
      END IF;
    END IF;
    NEW.version := OLD.version + 1;
  ELSE
    NEW.version := 1;
  END IF;
  NEW.change_seq := nextval('senpuki_change_seq');
  RETURN NEW;
END
$$;
