-- Helpers of the scripts that write an entry (cache/scripts.go; fill.lua follows this
-- file in the fill script, in Go and in examples/python/s3cache_reader.py alike).

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
