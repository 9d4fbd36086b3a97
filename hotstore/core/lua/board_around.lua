-- board_around: the members ranked within `radius` places of a member, best first.
-- KEYS[1] board zset
-- ARGV[1] member, ARGV[2] radius
-- Reply    {first 0-based rank, {member, score, member, score, ...}} | {} when the member is not on the board
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not rank then return {} end
local radius = tonumber(ARGV[2])
local first = math.max(0, rank - radius)
return {first, redis.call('ZREVRANGE', KEYS[1], first, rank + radius, 'WITHSCORES')}
