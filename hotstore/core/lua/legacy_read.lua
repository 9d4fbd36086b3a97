-- legacy_read: the single-tag copies of some entities, read at once (hotstore/core/legacy_layout.py). All keys
-- share the namespace tag {ns}, so this is one slot.
-- KEYS[1] the layout marker, KEYS[2] the single-tag board of the current week, KEYS[3..5] the single-tag dirty
--         sets of users, sessions, documents; KEYS[6..] the single-tag hashes
-- ARGV[1] the marker's value; then per hash: kind ('u' | 's' | 'd'), dirty member, board member ('' if none)
-- Reply   {1} when the marker is set (the upgrade is over: nothing single-tag is left), else
--         {0, {fields, dirty score | '', week score | ''}, ...} in KEYS order (fields: HGETALL's flat list)
if redis.call('GET', KEYS[1]) == ARGV[1] then return {1} end
local dirty = {u = KEYS[3], s = KEYS[4], d = KEYS[5]}
local reply = {0}
for i = 6, #KEYS do
  local at = 2 + (i - 6) * 3
  local kind, member, board_member = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local fields = redis.call('HGETALL', KEYS[i])
  local score, week = '', ''
  if #fields > 0 then score = redis.call('ZSCORE', dirty[kind], member) or '' end
  -- also for an absent hash: a user loaded from SQL while the upgrade runs continues the week from the board
  if board_member ~= '' then week = redis.call('ZSCORE', KEYS[2], board_member) or '' end
  reply[#reply + 1] = {fields, score, week}
end
return reply
