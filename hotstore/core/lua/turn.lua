-- turn: the exit of bot.turn(): what the handler changed in the session's documents (top-level keys set or
-- deleted, explicit increments) and its XP award (user total, bot XP, level, three boards), in one atomic step.
-- KEYS[1] user hash, KEYS[2] session hash, KEYS[3] dirty users zset, KEYS[4] dirty sessions zset,
-- KEYS[5] global board, KEYS[6] bot board, KEYS[7] weekly board
-- ARGV     prelude head, then: user member, session member, board member, max encoded bytes per document,
--          the patch (as patch_session: n sets, m increments, k deletes), award ('1' | '0'), amount,
--          weekly board TTL ms, n, then n pairs (min_xp, level) sorted by min_xp (n = 0: default formula)
-- Reply    {'OK', session version, {field, new value, ...} of the increments, old level, new level, total xp,
--          bot xp} | {'MISS'}
--          | {'ERR', 'not_integer' | 'out_of_range' | 'too_large' | 'negative', field, prefix or 'xp'}
--          (nothing written)
load_blocks()
local user, session = KEYS[1], KEYS[2]
if absent(user, session) then return {'MISS'} end
local user_member, session_member, board_member = next_arg(), next_arg(), next_arg()
local max_bytes = tonumber(next_arg())
local plan, code, detail = plan_patch(session, max_bytes)
if plan == nil then return {'ERR', code, detail} end
local award = next_arg() == '1'
local amount = tonumber(next_arg())
local weekly_ttl = tonumber(next_arg())

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

local old_level, new_level, total, bot_xp = 1, 1, 0, 0
if award then  -- checked before anything is written
  local user_xp_level = redis.call('HMGET', user, F.USER_XP, F.USER_LEVEL)
  total = tonumber(user_xp_level[1] or '0') + amount
  bot_xp = tonumber(redis.call('HGET', session, F.SESSION_XP) or '0') + amount
  if total < 0 or bot_xp < 0 then return {'ERR', 'negative', 'xp'} end
  if total >= EXACT_INT or bot_xp >= EXACT_INT then return {'ERR', 'out_of_range', 'xp'} end
  old_level = tonumber(user_xp_level[2] or '1')
  new_level = math.max(old_level, level_for(total))
end

local changed = #plan[1] > 0 or #plan[2] > 0
if changed then write_patch(session, plan) end
if award then
  redis.call('HINCRBY', user, F.USER_XP, int_text(amount))
  redis.call('HINCRBY', session, F.SESSION_XP, int_text(amount))
  if new_level ~= old_level then redis.call('HSET', user, F.USER_LEVEL, int_text(new_level)) end
  if not changed then redis.call('HSET', session, F.SESSION_UPDATED_MS, int_text(NOW)) end
  mark_dirty(user, KEYS[3], user_member)
  redis.call('ZADD', KEYS[5], int_text(total), board_member)
  redis.call('ZADD', KEYS[6], int_text(bot_xp), board_member)
  redis.call('ZINCRBY', KEYS[7], int_text(amount), board_member)
  redis.call('PEXPIRE', KEYS[7], int_text(weekly_ttl))
end
local version
if changed or award then
  version = mark_dirty(session, KEYS[4], session_member)
else
  version = tonumber(redis.call('HGET', session, F.VERSION) or '0')
  refresh(session)
end
return {'OK', version, plan[3], old_level, new_level, total, bot_xp}
