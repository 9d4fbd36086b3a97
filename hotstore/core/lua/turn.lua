-- turn: the exit of bot.turn(): what the handler changed in the session's documents (top-level keys set or
-- deleted, explicit increments) and its XP award (user total, bot XP, level, week XP; on a single Redis the three
-- boards), in one atomic step.
-- KEYS[1] user hash, KEYS[2] session hash, KEYS[3] dirty users zset, KEYS[4] dirty sessions zset,
--         KEYS[5] board recheck zset (one shard: written on a take-back);
--         KEYS[6] global board, KEYS[7] bot board, KEYS[8] weekly board: only when they share the node
-- ARGV     prelude head, then: user member, session member, board member, ISO week, max encoded bytes per document,
--          the patch (as patch_session: n sets, m increments, k deletes), award ('1' | '0'), amount,
--          n, then n pairs (min_xp, level) sorted by min_xp (n = 0: default formula)
-- Reply    {'OK', session version, {field, new value, ...} of the increments, old level, new level, total xp,
--          bot xp, week xp} | {'MISS'}
--          | {'ERR', 'not_integer' | 'out_of_range' | 'too_large' | 'negative', field, prefix or 'xp'}
--          (nothing written)
load_blocks()
local user, session = KEYS[1], KEYS[2]
local flat = redis.call('HGETALL', session)  -- read once: the patch's plan, the bot XP and the version
if #flat == 0 or redis.call('EXISTS', user) == 0 then return {'MISS'} end
local user_member, session_member, board_member, week = next_arg(), next_arg(), next_arg(), next_arg()
local max_bytes = tonumber(next_arg())
local plan, code, detail = plan_patch(flat, max_bytes)
if plan == nil then return {'ERR', code, detail} end
local award = next_arg() == '1'
local amount = tonumber(next_arg())
local read = plan[4]  -- the session's fields; its metadata (bot XP, version) as read: a patch changes only documents

local planned = {1, 1, 0, 0, 0}  -- old level, new level, total xp, bot xp, week xp
if award then  -- checked before anything is written
  local code
  planned, code = plan_award(user, session, amount, week, read)
  if planned == nil then return {'ERR', code, 'xp'} end
end

if #plan[1] == 0 and #plan[2] == 0 and not award then  -- nothing to write: a read
  refresh(session)
  return {'OK', tonumber(read[F.VERSION] or '0'), plan[3], 1, 1, 0, 0, 0}
end
-- one HSET of the session: the patch, the update time, the next version and (an award) the bot XP
local version = tonumber(read[F.VERSION] or '0') + 1
local extra = {F.VERSION, int_text(version)}
if award then extra[3] = F.SESSION_XP; extra[4] = int_text(planned[4]) end
write_patch(session, plan, extra)
if award then
  local boards = nil
  if #KEYS >= 8 then boards = {KEYS[6], KEYS[7], KEYS[8]} end
  write_award(user, amount, planned, week, board_member, boards, KEYS[5], session_member)
  mark_written(user, KEYS[3], user_member)
end
mark_written(session, KEYS[4], session_member)
return {'OK', version, plan[3], planned[1], planned[2], planned[3], planned[4], planned[5]}
