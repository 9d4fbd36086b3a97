-- Shared prelude of every hot-path script (hotstore/scripts.py prepends it). F.<NAME> stands for a hash
-- field name of hotstore/constants.py: hotstore/scripts.py replaces each with its literal before loading
-- (no table is built per call).
--
-- ARGV common head, read by the prelude:
--   ARGV[1]  now, epoch ms (the client's clock: all writers of a namespace use the same convention)
--   ARGV[2]  idle TTL of clean entities, ms
--   ARGV[3]  number of load blocks B, then B blocks of: key index k, pair count n, n field/value pairs
--            (read-through: KEYS[k] is written from SQL only if it is still absent, invariant 6)
-- The script's own arguments start at ARGV[POS] after load_blocks() ran.
-- Replies are tables whose first element is 'OK', 'MISS' (a needed hash is absent; nothing written)
-- or 'ERR' followed by a code and a detail (nothing written).

-- Numbers handed to redis.call go through int_text: Lua would format large ones as 1.7e+12.
local function int_text(n) return string.format('%.0f', n) end
local NOW = tonumber(ARGV[1])
local IDLE_TTL = tonumber(ARGV[2])
local POS = 3
local HSET_CHUNK = 200  -- pairs per HSET: unpack() is bounded by Lua's C stack

local function hset_pairs(key, pairs)
  local i = 1
  while i <= #pairs do
    local last = math.min(i + 2 * HSET_CHUNK - 1, #pairs)
    redis.call('HSET', key, unpack(pairs, i, last))
    i = last + 1
  end
end

local function load_blocks()
  local blocks = tonumber(ARGV[POS]); POS = POS + 1
  for _ = 1, blocks do
    local key = KEYS[tonumber(ARGV[POS])]
    local n = tonumber(ARGV[POS + 1])
    POS = POS + 2
    if n > 0 and redis.call('EXISTS', key) == 0 then
      local pairs = {}
      for i = 0, 2 * n - 1 do pairs[#pairs + 1] = ARGV[POS + i] end
      hset_pairs(key, pairs)
      redis.call('PEXPIRE', key, int_text(IDLE_TTL))  -- loaded entities are clean: they start with the idle TTL
    end
    POS = POS + 2 * n
  end
end

local function next_arg()
  local value = ARGV[POS]; POS = POS + 1
  return value
end

-- True when any of the given keys is absent (the script then replies MISS, writing nothing).
local function absent(...)
  for _, key in ipairs({...}) do
    if redis.call('EXISTS', key) == 0 then return true end
  end
  return false
end

-- A write: bump the version, mark dirty (keeping the first-dirty time), drop the idle TTL (invariant 4).
local function mark_dirty(key, dirty_set, member)
  local version = redis.call('HINCRBY', key, F.VERSION, 1)
  redis.call('ZADD', dirty_set, 'NX', int_text(NOW), member)
  redis.call('PERSIST', key)
  return version
end

-- A read: clean entities (they have a TTL) get their idle TTL back; dirty ones have none and keep none.
local function refresh(key)
  if redis.call('PTTL', key) > 0 then redis.call('PEXPIRE', key, int_text(IDLE_TTL)) end
end

-- Profile and activity update of a user, as v4's get_or_create did it, without dirtying unchanged users.
-- Reads 4 arguments: username, first_name, last_name ops ('-' keep, 'x' clear, '=<text>' set) and the
-- activity resolution in ms. Returns true when something changed (the caller marks the user dirty).
local function touch_user(key)
  local changed = false
  for _, field in ipairs({F.USER_USERNAME, F.USER_FIRST_NAME, F.USER_LAST_NAME}) do
    local op = next_arg()
    local kind = string.sub(op, 1, 1)
    if kind == '=' then
      local value = string.sub(op, 2)
      if redis.call('HGET', key, field) ~= value then
        redis.call('HSET', key, field, value); changed = true
      end
    elseif kind == 'x' and redis.call('HEXISTS', key, field) == 1 then
      redis.call('HDEL', key, field); changed = true
    end
  end
  local resolution = tonumber(next_arg())
  local last = tonumber(redis.call('HGET', key, F.USER_LAST_ACTIVITY_MS) or '0')
  -- last_activity moves only when it is older than the resolution: most messages then write nothing.
  if NOW > last and NOW - last >= resolution then
    redis.call('HSET', key, F.USER_LAST_ACTIVITY_MS, int_text(NOW)); changed = true
  end
  return changed
end
