-- Results of functions declared with `cache: { ttlMs }`, by function and a hash of their JSON
-- arguments. One row per key (overwritten), removed by retention once expired.
CREATE TABLE senpuki_result_cache (
  function_name text NOT NULL,
  args_hash     text NOT NULL,
  result        jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (function_name, args_hash)
);
CREATE INDEX senpuki_result_cache_expires ON senpuki_result_cache (expires_at);
