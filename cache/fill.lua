-- The cache-aside fill, whole: cache.Store.Fill runs this file as it is, and so does any
-- reader in another language (examples/python/s3cache_reader.py). It writes an object
-- only where there is neither an entry nor a tombstone, so that a reader's copy, fetched
-- before an event was applied, never replaces what the event wrote (a newer object, or a
-- tombstone).
--
-- KEYS[1] the entry's key; ARGV[1] TTL in ms (0: none); ARGV[2..] field, value pairs
-- (body, size, etag, content_type, last_modified, version_id). cache.Store passes a
-- large body staged instead (KEYS[2], see replace below); a reader may always pass it in
-- ARGV.
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

-- A large body comes staged: cache.Store writes it to KEYS[2], a hash of its own in the
-- entry's hash slot, with a TTL, in the same MULTI … EXEC that runs the script, and
-- leaves it out of ARGV. The script then moves it into the entry by RENAME: Redis does
-- not copy it, as it copies every argument that goes through Lua into HSET. A staged
-- body is moved or dropped whatever the script decides; its TTL removes it should the
-- script fail before either.

-- replace empties the entry's key for the fields written next: it deletes what is
-- there, or puts the staged body there in its place.
local function replace(key)
  if KEYS[2] then
    redis.call('RENAME', KEYS[2], key)
  else
    redis.call('DEL', key)
  end
end

-- declined is a script's answer when it writes nothing: 0, the staged body dropped.
local function declined()
  if KEYS[2] then redis.call('DEL', KEYS[2]) end
  return 0
end

-- expire gives the entry its TTL in ms (0: none, where a staged body's TTL is removed).
local function expire(key, ms)
  if tonumber(ms) > 0 then
    redis.call('PEXPIRE', key, ms)
  elseif KEYS[2] then
    redis.call('PERSIST', key)
  end
end

-- The fill. (The event scripts in cache/scripts.go start with the functions above, the
-- part of this file before this line.)
local replaced = clearForeign(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 1 then return declined() end
if KEYS[2] then replace(KEYS[1]) end
redis.call('HSET', KEYS[1], 'seq', '', unpack(ARGV, 2))
expire(KEYS[1], ARGV[1])
return applied(replaced)
