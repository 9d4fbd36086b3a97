-- touch_user: first contact of a user: update profile names and last_activity (v4 get_or_create),
-- marking the user dirty only when something changed.
-- KEYS[1] user hash, KEYS[2] dirty users zset
-- ARGV     prelude head, then: user member (telegram id), username op, first_name op, last_name op
--          ('-' keep, 'x' clear, '=<text>' set), activity resolution ms
-- Reply    {'OK', user fields flat} | {'MISS'}
load_blocks()
local user, dirty_users = KEYS[1], KEYS[2]
if absent(user) then return {'MISS'} end
local member = next_arg()
if touch_user(user) then mark_dirty(user, dirty_users, member) else refresh(user) end
return {'OK', redis.call('HGETALL', user)}
