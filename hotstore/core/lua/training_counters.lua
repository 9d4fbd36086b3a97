-- training_counters: add to a user's legacy counters (total_trainings, total_score) in one step; no XP.
-- Used by the v4 facade's update_user_stats_after_training (hotstore/compat.py).
-- KEYS[1] user hash, KEYS[2] dirty users zset
-- ARGV     prelude head, then: user member (telegram id), trainings to add, score to add
-- Reply    {'OK', total_trainings, total_score} | {'MISS'}
load_blocks()
local user = KEYS[1]
if absent(user) then return {'MISS'} end
local member = next_arg()
local trainings = redis.call('HINCRBY', user, F.USER_TOTAL_TRAININGS, next_arg())
local score = redis.call('HINCRBY', user, F.USER_TOTAL_SCORE, next_arg())
mark_dirty(user, KEYS[2], member)
return {'OK', trainings, score}
