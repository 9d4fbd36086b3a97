-- add_xp: award (or take back) XP in one bot: user total, session (bot) XP, level, and the three boards.
-- The level is computed here, so concurrent awards each see the level they produced: every threshold
-- is reported crossed exactly once. Levels never go down.
-- KEYS[1] user hash, KEYS[2] session hash, KEYS[3] dirty users zset, KEYS[4] dirty sessions zset,
-- KEYS[5] global board, KEYS[6] bot board, KEYS[7] weekly board
-- ARGV     prelude head, then: user member, session member, board member, amount,
--          n, then n pairs (min_xp, level) sorted by min_xp (n = 0: default formula)
-- Reply    {'OK', old level, new level, total xp, bot xp} | {'MISS'}
--          | {'ERR', 'negative' | 'out_of_range', 'xp'}  (nothing written)
load_blocks()
local user, session = KEYS[1], KEYS[2]
if absent(user, session) then return {'MISS'} end
local user_member, session_member, board_member = next_arg(), next_arg(), next_arg()
local amount = tonumber(next_arg())

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

local user_xp_level = redis.call('HMGET', user, F.USER_XP, F.USER_LEVEL)
local total = tonumber(user_xp_level[1] or '0') + amount
local bot_xp = tonumber(redis.call('HGET', session, F.SESSION_XP) or '0') + amount
if total < 0 or bot_xp < 0 then return {'ERR', 'negative', 'xp'} end
if total >= EXACT_INT or bot_xp >= EXACT_INT then return {'ERR', 'out_of_range', 'xp'} end

redis.call('HINCRBY', user, F.USER_XP, int_text(amount))
redis.call('HINCRBY', session, F.SESSION_XP, int_text(amount))
local old_level = tonumber(user_xp_level[2] or '1')
local new_level = math.max(old_level, level_for(total))
if new_level ~= old_level then redis.call('HSET', user, F.USER_LEVEL, int_text(new_level)) end
redis.call('HSET', session, F.SESSION_UPDATED_MS, int_text(NOW))
mark_dirty(user, KEYS[3], user_member)
mark_dirty(session, KEYS[4], session_member)

redis.call('ZADD', KEYS[5], int_text(total), board_member)
redis.call('ZADD', KEYS[6], int_text(bot_xp), board_member)
-- No TTL on the weekly board: under a volatile-* policy Redis could evict a keyed-to-expire board at any time.
-- The write-behind sweep deletes boards older than HOTSTORE_WEEKLY_BOARD_WEEKS (hotstore.writebehind.weekly_boards).
redis.call('ZINCRBY', KEYS[7], int_text(amount), board_member)
return {'OK', old_level, new_level, total, bot_xp}
