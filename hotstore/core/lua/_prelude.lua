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

-- Document patches (patch_session, turn). A value longer than 64 bytes is stored chunked (hotstore/core/codec.py):
-- its head field '<field>' holds 'c<n>:' and the first part, fields '<field>\0<i>' (i = 1 .. n-1) the rest.
local function chunk_count(value)
  if value ~= nil and string.sub(value, 1, 1) == 'c' then return tonumber(string.match(value, '^c(%d+):')) or 1 end
  return 1
end

-- Reads the patch arguments: n, n pairs (field, encoded value) to set, a chunked value as its head then its
-- parts; m, m pairs (field, integer delta) to increment; k, k fields to delete. Checks them against the
-- session hash (``flat``: its HGETALL, which the caller read to see it exists) and the size limit without writing.
-- Returns {writes, deletes, increments, the hash as planned}, or nil, code, field. The plan changes only the
-- prefixed document fields: the metadata fields of the last table (version, bot XP) are as read.
local function plan_patch(flat, max_bytes)
  local doc = {}
  local total = 0  -- bytes of every field of the hash (names and values), kept up to date as the plan changes it
  for i = 1, #flat, 2 do
    doc[flat[i]] = flat[i + 1]
    total = total + #flat[i] + #flat[i + 1]
  end
  local writes, increments, gone = {}, {}, {}
  local function put(field, value)
    local old = doc[field]
    if old ~= nil then total = total - #field - #old end
    if value ~= nil then total = total + #field + #value end
    doc[field] = value
  end
  local function drop(field)  -- a top-level key's value and the parts of its old chunked value
    for i = 1, chunk_count(doc[field]) - 1 do
      local part = field .. '\0' .. i
      if doc[part] ~= nil then put(part, nil); gone[part] = true end
    end
    if doc[field] ~= nil then put(field, nil); gone[field] = true end
  end
  for _ = 1, tonumber(next_arg()) do
    local field, value = next_arg(), next_arg()
    if not string.find(field, '\0', 1, true) then drop(field) end
    put(field, value); gone[field] = nil
    writes[#writes + 1] = field; writes[#writes + 1] = value
  end
  for _ = 1, tonumber(next_arg()) do
    local field, delta = next_arg(), tonumber(next_arg())
    local current = doc[field]
    if current ~= nil and string.sub(current, 1, 1) ~= 'i' then return nil, 'not_integer', field end
    local value = (current and tonumber(string.sub(current, 2)) or 0) + delta
    -- beyond 2^53 doubles round: refuse before the sum can be inexact
    if math.abs(value) >= EXACT_INT then return nil, 'out_of_range', field end
    put(field, 'i' .. int_text(value))
    writes[#writes + 1] = field; writes[#writes + 1] = doc[field]
    increments[#increments + 1] = field; increments[#increments + 1] = int_text(value)
  end
  for _ = 1, tonumber(next_arg()) do drop(next_arg()) end
  -- The size limit applies to each document as it will be after the patch. The whole hash within the limit
  -- bounds both documents (most patches); only a hash above it is measured per document.
  if total > max_bytes then
    local sizes = {[F.SESSION_FIELD_PREFIX] = 0, [F.STATS_FIELD_PREFIX] = 0}
    for name, value in pairs(doc) do
      local prefix = string.sub(name, 1, 2)
      if sizes[prefix] then sizes[prefix] = sizes[prefix] + #name + #value end
    end
    for prefix, size in pairs(sizes) do
      if size > max_bytes then return nil, 'too_large', prefix end
    end
  end
  local deletes = {}
  for name, flag in pairs(gone) do
    if flag then deletes[#deletes + 1] = name end
  end
  return {writes, deletes, increments, doc}
end

-- Writes a plan of plan_patch and the update time, with ``extra`` (field, value, ... of the caller's own: the
-- version, the bot XP) in the same HSET (the caller marks the session dirty).
local function write_patch(session, plan, extra)
  local writes = plan[1]
  writes[#writes + 1] = F.SESSION_UPDATED_MS; writes[#writes + 1] = int_text(NOW)
  for i = 1, #(extra or {}) do writes[#writes + 1] = extra[i] end
  hset_pairs(session, writes)
  local deletes = plan[2]
  for i = 1, #deletes, HSET_CHUNK do
    redis.call('HDEL', session, unpack(deletes, i, math.min(i + HSET_CHUNK - 1, #deletes)))
  end
end

-- Marks dirty an entity whose new version the caller wrote itself (in its own HSET): as mark_dirty otherwise.
local function mark_written(key, dirty_set, member)
  redis.call('ZADD', dirty_set, 'NX', int_text(NOW), member)
  redis.call('PERSIST', key)
end

-- XP awards (add_xp, turn). The levels table follows the script's own arguments at POS: n, then n pairs
-- (min_xp, level) sorted by min_xp (n = 0: v4's formula min(xp // 100 + 1, 100)).
local function level_for(xp)
  local n = tonumber(ARGV[POS])
  if n == 0 then return math.min(math.floor(xp / F.DEFAULT_XP_PER_LEVEL) + 1, F.DEFAULT_MAX_LEVEL) end
  local level = nil
  for i = 0, n - 1 do
    local min_xp, lvl = tonumber(ARGV[POS + 1 + 2 * i]), tonumber(ARGV[POS + 2 + 2 * i])
    if xp >= min_xp and (level == nil or lvl > level) then level = lvl end
  end
  return level or 1
end

-- Checks an award of ``amount`` in ISO ``week`` without writing: {old level, new level, total, bot xp, week xp,
-- user's next version}, or nil and an error code. ``session_fields`` (the session hash as read, when the caller
-- read it) gives the bot XP; else it is read here.
local function plan_award(user, session, amount, week, session_fields)
  local read = redis.call('HMGET', user, F.USER_XP, F.USER_LEVEL, F.USER_WEEK, F.USER_WEEK_XP, F.VERSION)
  local total = tonumber(read[1] or '0') + amount
  local bot_xp_text
  if session_fields then bot_xp_text = session_fields[F.SESSION_XP] else
    bot_xp_text = redis.call('HGET', session, F.SESSION_XP) end
  local bot_xp = tonumber(bot_xp_text or '0') + amount
  if total < 0 or bot_xp < 0 then return nil, 'negative' end
  if total >= EXACT_INT or bot_xp >= EXACT_INT then return nil, 'out_of_range' end
  local old_level = tonumber(read[2] or '1')
  local week_xp = amount
  if read[3] == week then week_xp = tonumber(read[4] or '0') + amount end
  return {old_level, math.max(old_level, level_for(total)), total, bot_xp, week_xp, tonumber(read[5] or '0') + 1}
end

-- Writes a planned award to the user hash in one HSET: total XP, level, the week and its XP, and the next version
-- (the caller writes the bot XP to the session and marks both dirty, the user with mark_written). Every board
-- score is an absolute value an entity holds (total, bot XP, week XP), so a board can always be brought back in
-- line from the entities. ``boards`` (global, bot, weekly board keys) is given only when the boards share the
-- script's node (a single Redis): they are written here, atomically with the XP. On a Redis Cluster each board is
-- its own slot, and the client writes the returned scores to them.
-- No TTL on the weekly board: the write-behind sweep deletes old weeks (hotstore.writebehind.weekly_boards).
-- A take-back (amount < 0) also puts ``recheck_member`` ("<bot>:<tg>", score now) in ``recheck``, the shard's
-- board recheck set: a board written out of order, or raised again by the flush's ZADD GT repair from a value read
-- before the take-back, is left too high, and only a plain rewrite lowers it (hotstore.writebehind.board_recheck).
local function write_award(user, amount, award, week, member, boards, recheck, recheck_member)
  local fields = {F.USER_XP, int_text(award[3]), F.USER_WEEK, week, F.USER_WEEK_XP, int_text(award[5]),
                  F.VERSION, int_text(award[6])}
  if award[2] ~= award[1] then fields[9] = F.USER_LEVEL; fields[10] = int_text(award[2]) end
  redis.call('HSET', user, unpack(fields))
  if amount < 0 then redis.call('ZADD', recheck, int_text(NOW), recheck_member) end
  if boards then
    redis.call('ZADD', boards[1], int_text(award[3]), member)
    redis.call('ZADD', boards[2], int_text(award[4]), member)
    redis.call('ZADD', boards[3], int_text(award[5]), member)
  end
end
