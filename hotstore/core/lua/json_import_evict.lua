-- json_import_evict: after a JSON import wrote users to SQL, drop their clean hot copies so that the next
-- read loads the imported values from SQL, and put the imported XP on the boards if they are already built
-- (otherwise the rebuild from SQL will). A user or session that is dirty (written in Redis, not flushed
-- yet) is left alone and reported: evicting it would lose acknowledged writes (invariant 1).
-- KEYS[1] dirty users zset, KEYS[2] dirty sessions zset, KEYS[3] boards-built marker, KEYS[4] global board,
--   KEYS[5] bot board, then per user i = 0..n-1: KEYS[6+2i] user hash, KEYS[7+2i] session hash (this bot)
-- ARGV per user i: ARGV[1+5i] dirty-users member, ARGV[2+5i] dirty-sessions member, ARGV[3+5i] board
--   member, ARGV[4+5i] total xp, ARGV[5+5i] xp earned in this bot
-- Reply    the dirty-users members left alone
local conflicts = {}
local boards = redis.call('EXISTS', KEYS[3]) == 1
local n = (#KEYS - 5) / 2

local function set_score(board, score, member)
  if tonumber(score) > 0 then
    redis.call('ZADD', board, score, member)
  else
    redis.call('ZREM', board, member)
  end
end

for i = 0, n - 1 do
  local user_member, session_member, board_member = ARGV[1 + 5 * i], ARGV[2 + 5 * i], ARGV[3 + 5 * i]
  if redis.call('ZSCORE', KEYS[1], user_member) or redis.call('ZSCORE', KEYS[2], session_member) then
    conflicts[#conflicts + 1] = user_member
  else
    redis.call('DEL', KEYS[6 + 2 * i], KEYS[7 + 2 * i])
    if boards then
      set_score(KEYS[4], ARGV[4 + 5 * i], board_member)
      set_score(KEYS[5], ARGV[5 + 5 * i], board_member)
    end
  end
end
return conflicts
