-- touch_session: the per-message read of a bot session: touch the user as touch_user does, refresh
-- the session's idle TTL, return both hashes.
-- KEYS[1] user hash, KEYS[2] session hash, KEYS[3] dirty users zset
-- ARGV     prelude head, then: user member, username op, first_name op, last_name op, activity resolution ms
-- Reply    {'OK', user fields flat, session fields flat} | {'MISS'}
load_blocks()
local user, session, dirty_users = KEYS[1], KEYS[2], KEYS[3]
local session_fields = redis.call('HGETALL', session)  -- a read only refreshes the session's TTL: read it first
if #session_fields == 0 or redis.call('EXISTS', user) == 0 then return {'MISS'} end
local member = next_arg()
if touch_user(user) then mark_dirty(user, dirty_users, member) else refresh(user) end
refresh(session)
return {'OK', redis.call('HGETALL', user), session_fields}
