-- record_training: add one finished training to the user's hot counters, exactly once per history id.
-- total_trainings += 1 and total_score += score (no XP). History id 0 means "no history row" (the v4
-- facade's update_user_stats_after_training): the training is counted every time and no mark is kept. Applied ids are remembered in the user hash:
-- F_LT holds the highest applied id and F_LR the last RECENT applied ids (space-separated), so that two
-- trainings of one user committed in one order and recorded here in the other both count, and a repeat
-- of an id already applied counts nothing. The flush writes both marks with the counters (users.training_marks)
-- and the read-through loads them back, so they survive an eviction or a Redis loss (hotstore.codec).
-- KEYS[1] user hash, KEYS[2] dirty users zset
-- ARGV     prelude head (no load blocks are sent), then: user member (telegram id), history id, score,
--          last-training field name, recent-trainings field name, RECENT (how many ids to remember)
-- Reply    {'OK', 1 | 0 (applied | already applied), total_trainings, total_score} | {'MISS'}
load_blocks()
local user = KEYS[1]
if absent(user) then return {'MISS'} end
local member = next_arg()
local id = tonumber(next_arg())
local score = tonumber(next_arg())
local f_last, f_recent = next_arg(), next_arg()
local keep = tonumber(next_arg())

if id == 0 then
  local trainings = redis.call('HINCRBY', user, F.USER_TOTAL_TRAININGS, 1)
  local total = redis.call('HINCRBY', user, F.USER_TOTAL_SCORE, int_text(score))
  mark_dirty(user, KEYS[2], member)
  return {'OK', 1, trainings, total}
end

local recent = {}
local seen = false
for text in string.gmatch(redis.call('HGET', user, f_recent) or '', '%S+') do
  local applied = tonumber(text)
  if applied == id then seen = true end
  recent[#recent + 1] = applied
end
local last = tonumber(redis.call('HGET', user, f_last) or '0')
-- Below every remembered id of a full window means "older than anything in flight": already applied.
local too_old = #recent >= keep and id < recent[1] and id <= last
if seen or too_old then
  return {'OK', 0, tonumber(redis.call('HGET', user, F.USER_TOTAL_TRAININGS) or '0'),
          tonumber(redis.call('HGET', user, F.USER_TOTAL_SCORE) or '0')}
end

local trainings = redis.call('HINCRBY', user, F.USER_TOTAL_TRAININGS, 1)
local total = redis.call('HINCRBY', user, F.USER_TOTAL_SCORE, int_text(score))
recent[#recent + 1] = id
table.sort(recent)
while #recent > keep do table.remove(recent, 1) end
local parts = {}
for i, applied in ipairs(recent) do parts[i] = int_text(applied) end
redis.call('HSET', user, f_recent, table.concat(parts, ' '))
if id > last then redis.call('HSET', user, f_last, int_text(id)) end
mark_dirty(user, KEYS[2], member)
return {'OK', 1, trainings, total}
