-- read_user: a user's hash, refreshing the idle TTL of a clean user (read-through: MISS when absent).
-- KEYS[1] user hash
-- ARGV     prelude head only (now, idle TTL, load blocks)
-- Reply    {'OK', user fields flat} | {'MISS'}
load_blocks()
local user = KEYS[1]
if absent(user) then return {'MISS'} end
refresh(user)
return {'OK', redis.call('HGETALL', user)}
