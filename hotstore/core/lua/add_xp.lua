-- add_xp: award (or take back) XP in one bot: user total, session (bot) XP, level, the user's week XP, and (on a
-- single Redis) the three boards. The level is computed here, so concurrent awards each see the level they
-- produced: every threshold is reported crossed exactly once. Levels never go down.
-- KEYS[1] user hash, KEYS[2] session hash, KEYS[3] dirty users zset, KEYS[4] dirty sessions zset,
--         KEYS[5] board recheck zset (one shard: written on a take-back);
--         KEYS[6] global board, KEYS[7] bot board, KEYS[8] weekly board: only when they share the node
-- ARGV     prelude head, then: user member, session member, board member, ISO week, amount,
--          n, then n pairs (min_xp, level) sorted by min_xp (n = 0: default formula)
-- Reply    {'OK', old level, new level, total xp, bot xp, week xp} | {'MISS'}
--          | {'ERR', 'negative' | 'out_of_range', 'xp'}  (nothing written)
load_blocks()
local user, session = KEYS[1], KEYS[2]
if absent(user, session) then return {'MISS'} end
local user_member, session_member, board_member, week = next_arg(), next_arg(), next_arg(), next_arg()
local amount = tonumber(next_arg())

local award, code = plan_award(user, session, amount, week)
if award == nil then return {'ERR', code, 'xp'} end
local boards = nil
if #KEYS >= 8 then boards = {KEYS[6], KEYS[7], KEYS[8]} end
write_award(user, amount, award, week, board_member, boards, KEYS[5], session_member)
redis.call('HSET', session, F.SESSION_XP, int_text(award[4]), F.SESSION_UPDATED_MS, int_text(NOW))
mark_written(user, KEYS[3], user_member)
mark_dirty(session, KEYS[4], session_member)
return {'OK', award[1], award[2], award[3], award[4], award[5]}
