-- What a worker can run and how busy it is, so an operator can tell why work waits: a queue,
-- tag or function that no live worker serves; every slot taken.
ALTER TABLE senpuki_workers ADD COLUMN functions text[] NOT NULL DEFAULT '{}';
ALTER TABLE senpuki_workers ADD COLUMN suspended integer NOT NULL DEFAULT 0;
