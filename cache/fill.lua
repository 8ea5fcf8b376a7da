-- The cache-aside fill, whole: cache.Store.Fill runs this file as it is, and so does any
-- reader in another language (examples/python/s3cache_reader.py). It writes an object
-- only where there is neither an entry nor a tombstone, so that a reader's copy, fetched
-- before an event was applied, never replaces what the event wrote (a newer object, or a
-- tombstone).
--
-- KEYS[1] the entry's key; ARGV[1] TTL in ms (0: none); ARGV[2..] field, value pairs
-- (body, size, etag, content_type, last_modified, version_id). For a large body,
-- cache.Store passes the whole entry staged instead (KEYS[2], see put below) and no
-- fields; a reader may always pass them in ARGV.
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

-- A large body comes staged: cache.Store writes the whole new entry (body, the other
-- fields and seq) to KEYS[2], a hash of its own in the entry's hash slot, with a TTL, in
-- the same MULTI … EXEC that runs the script, and leaves the fields out of ARGV. The
-- script then moves it into place by RENAME: Redis does not copy the body, as it copies
-- every argument that goes through Lua into HSET, and the script runs no HSET (a command
-- from Lua costs several times what the same command costs sent directly). A staged
-- entry is moved or dropped whatever the script decides; its TTL removes it should the
-- script fail before either.

-- put writes the entry at key in place of what is there: the staged entry, or sequencer
-- seq and the field, value pairs ARGV[first], ARGV[first+1], ….
local function put(key, seq, first)
  if KEYS[2] then
    redis.call('RENAME', KEYS[2], key)
  else
    redis.call('DEL', key)
    redis.call('HSET', key, 'seq', seq, unpack(ARGV, first))
  end
end

-- declined is a script's answer when it writes nothing: 0, the staged entry dropped.
local function declined()
  if KEYS[2] then redis.call('DEL', KEYS[2]) end
  return 0
end

-- expire gives the entry its TTL in ms (0: none, where a staged entry's TTL is removed).
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
put(KEYS[1], '', 2)
expire(KEYS[1], ARGV[1])
return applied(replaced)
