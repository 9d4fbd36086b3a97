-- json_import_evict: after a JSON import wrote users to SQL, drop their clean hot copies in one shard so that the
-- next read loads the imported values from SQL. A user or session that is dirty (written in Redis, not flushed
-- yet) is left alone and reported: evicting it would lose acknowledged writes (invariant 1). The caller puts the
-- evicted users' imported XP on the boards (other slots) if they are already built.
-- KEYS[1] dirty users zset, KEYS[2] dirty sessions zset (one shard),
--   then per user i = 0..n-1: KEYS[3+2i] user hash, KEYS[4+2i] session hash (this bot)
-- ARGV per user i: ARGV[1+2i] dirty-users member, ARGV[2+2i] dirty-sessions member
-- Reply    the dirty-users members left alone
local conflicts = {}
local n = (#KEYS - 2) / 2
for i = 0, n - 1 do
  local user_member, session_member = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  if redis.call('ZSCORE', KEYS[1], user_member) or redis.call('ZSCORE', KEYS[2], session_member) then
    conflicts[#conflicts + 1] = user_member
  else
    redis.call('DEL', KEYS[3 + 2 * i], KEYS[4 + 2 * i])
  end
end
return conflicts
