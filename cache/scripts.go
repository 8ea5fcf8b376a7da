package cache

import (
	_ "embed"
	"strings"

	"github.com/redis/go-redis/v9"
)

// compareLua compares two S3 sequencers: right-pad the shorter with '0's, then compare
// byte by byte (upper-cased hex). Lua's own string '<' follows the server's locale, so it
// is not used. The first byte that differs is found by halving the span it lies in:
// Lua's interpreter, stepping through every byte, took more of the script's time than
// all its Redis calls.
var compareLua = `
local function cmp(a, b)
  a = string.upper(a)
  b = string.upper(b)
  if #a < #b then a = a .. string.rep('0', #b - #a) elseif #b < #a then b = b .. string.rep('0', #a - #b) end
  if a == b then return 0 end
  local i, j = 1, #a -- the first difference lies in a[i..j]
  while i < j do
    local m = math.floor((i + j) / 2)
    if string.sub(a, i, m) == string.sub(b, i, m) then i = m + 1 else j = m end
  end
  if string.byte(a, i) < string.byte(b, i) then return -1 end
  return 1
end

-- newer reports whether an event with sequencer seq (a removal, or a creation) may
-- replace the entry at key. An event without a sequencer replaces only entries without
-- one (lazy fills). An equal sequencer is the same event again, except between a removal
-- and a creation: S3 never gives two events one sequencer, so a source that does
-- (LocalStack gives every event the same) has no order, and arrival order stands.
local function newer(key, seq, removal)
  local cur = redis.call('HGET', key, 'seq')
  if not cur then return true end
  local c = cmp(seq, cur)
  if c ~= 0 then return c > 0 end
  if cur == '' then return true end
  return (redis.call('HGET', key, 'deleted') == '1') ~= removal
end
` + foreignLua

// fillLua is the fill script, a file of its own so that readers in other languages run
// exactly what Store.Fill runs (examples/python).
//
//go:embed fill.lua
var fillLua string

// foreignLua is the start of fill.lua, its helpers: clearForeign, which clears a value of
// another Redis type at the entry's key; put, declined and expire, which take a
// staged entry (staged.go) into account; and applied, a script's answer. The event
// scripts start with them too, so that they are written once.
var foreignLua = helpersOf(fillLua)

// helpersOf returns fill.lua up to the line that starts the fill itself. The file is
// embedded, so a missing line is a mistake in this package, found by any of its tests.
func helpersOf(fill string) string {
	helpers, _, ok := strings.Cut(fill, "\n-- The fill.")
	if !ok {
		panic(`cache: fill.lua has no "-- The fill." line to end the helpers the event scripts share`)
	}
	return helpers
}

// The scripts answer 0 (not applied), 1 (applied) or 2 (applied, in place of a value
// of another type).

// putScript writes an object body and its metadata.
// KEYS[1] entry, KEYS[2] the staged entry if any; ARGV[1] seq; ARGV[2] TTL in ms (0:
// none); ARGV[3..] field, value pairs (none when staged).
var putScript = redis.NewScript(compareLua + `
local replaced = clearForeign(KEYS[1])
if not newer(KEYS[1], ARGV[1], false) then return declined() end
put(KEYS[1], ARGV[1], 3)
expire(KEYS[1], ARGV[2])
return applied(replaced)
`)

// evictScript replaces the entry with a tombstone.
// KEYS[1] entry; ARGV[1] seq; ARGV[2] tombstone TTL in ms.
var evictScript = redis.NewScript(compareLua + `
local replaced = clearForeign(KEYS[1])
if not newer(KEYS[1], ARGV[1], true) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'deleted', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return applied(replaced)
`)

// fillScript writes an object only where there is neither an entry nor a tombstone.
var fillScript = redis.NewScript(fillLua)

// removeEntryScript removes KEYS[1] if it holds a hash: s3cache writes nothing else, so
// a key of another type there (a string the AWS sample's scripts wrote, anything another
// program put under the bucket's prefix) is not s3cache's to remove. TYPE and UNLINK run
// in one script so that a value written between them is not removed with it.
// KEYS[1] the Redis key. Answers 1 (removed), 0 (no such key) or -1 (another type, left).
var removeEntryScript = redis.NewScript(`
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return 0 end
if t ~= 'hash' then return -1 end
return redis.call('UNLINK', KEYS[1])
`)
