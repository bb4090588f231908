-- A lease renewal (a heartbeat moving only lease_expires_at) is bookkeeping, not a change anyone
-- watches: it keeps the row's version and change_seq, so subscribers do not get an identical
-- task every heartbeat. Every other write still bumps both.
CREATE OR REPLACE FUNCTION senpuki_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF TG_TABLE_NAME = 'senpuki_tasks'
       AND to_jsonb(NEW) - 'lease_expires_at' - 'version' - 'change_seq'
           = to_jsonb(OLD) - 'lease_expires_at' - 'version' - 'change_seq' THEN
      NEW.version := OLD.version;
      NEW.change_seq := OLD.change_seq;
      RETURN NEW;
    END IF;
    NEW.version := OLD.version + 1;
  ELSE
    NEW.version := 1;
  END IF;
  NEW.change_seq := nextval('senpuki_change_seq');
  RETURN NEW;
END
$$;
