-- The cache-aside fill: write an object only where there is neither an entry nor a
-- tombstone, so that a reader's copy, fetched before an event was applied, never
-- replaces what the event wrote (a newer object, or a tombstone). Run it as foreign.lua
-- followed by this file: cache.Store.Fill does, and so does
-- examples/python/s3cache_reader.py.
--
-- KEYS[1] the entry's key; ARGV[1] TTL in ms (0: none); ARGV[2..] field, value pairs
-- (body, size, etag, content_type, last_modified, version_id).
-- Answers 0 (an entry or tombstone is there: not written), 1 (written) or 2 (written in
-- place of a value of another type).
local replaced = clearForeign(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'seq', '', unpack(ARGV, 2))
if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return applied(replaced)
