-- The cache-aside fill, whole: cache.Store.Fill runs this file as it is, and so does any
-- reader in another language (examples/python/s3cache_reader.py). It writes an object
-- only where there is neither an entry nor a tombstone, so that a reader's copy, fetched
-- before an event was applied, never replaces what the event wrote (a newer object, or a
-- tombstone).
--
-- KEYS[1] the entry's key; ARGV[1] TTL in ms (0: none); ARGV[2..] field, value pairs
-- (body, size, etag, content_type, last_modified, version_id).
-- Answers 0 (an entry or tombstone is there: not written), 1 (written) or 2 (written in
-- place of a value of another type).

-- clearForeign clears a value of another Redis type at the entry's key: the original
-- sample's scripts wrote plain strings at exactly these keys. The entry or tombstone
-- written next replaces it in the same script, so a reader never sees the key empty.
local function clearForeign(key)
  local t = redis.call('TYPE', key).ok
  if t == 'none' or t == 'hash' then return false end
  redis.call('DEL', key)
  return true
end

-- applied is a script's answer: 1, or 2 when it replaced a value of another type.
local function applied(replaced)
  if replaced then return 2 end
  return 1
end

-- The fill. (The event scripts in cache/scripts.go start with the two functions above,
-- the part of this file before this line.)
local replaced = clearForeign(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'seq', '', unpack(ARGV, 2))
if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return applied(replaced)
