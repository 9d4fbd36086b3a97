-- board_recheck_settle: take rechecked take-backs out of a shard's board recheck set, each only if its score is
-- still the one the recheck read (a take-back since then re-scored it: it stays for the next recheck).
-- KEYS[1]   the shard's board recheck zset
-- ARGV      n pairs: member ("<bot>:<telegram id>"), score read (ms)
-- Reply     number of members removed
local recheck = KEYS[1]
local removed = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', recheck, ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', recheck, ARGV[i])
  end
end
return removed
