-- board_competition_rank: v4's rank: 1 + the number of members with a strictly greater score.
-- KEYS[1] board zset
-- ARGV[1] member
-- Reply    rank | nil when the member is not on the board
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return nil end
return redis.call('ZCOUNT', KEYS[1], '(' .. score, '+inf') + 1
