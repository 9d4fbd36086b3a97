-- rebuild_swap: put a fully built board in place of the live one, in one atomic step.
-- Hot awards may have recreated the live board since Redis lost it; its scores are absolute totals
-- written after the rebuild read them, so the two are merged by MAX (XP only grows) before the rename.
-- Readers see either the old board or the complete new one, never a half-built board.
-- KEYS[1]   the temporary board
-- KEYS[2]   the live board
-- ARGV      none
-- Reply     1 if the board was replaced, 0 if there was nothing to put in place
local temp, live = KEYS[1], KEYS[2]
if redis.call('EXISTS', temp) == 0 then return 0 end
if redis.call('EXISTS', live) == 1 then
  redis.call('ZUNIONSTORE', temp, 2, temp, live, 'AGGREGATE', 'MAX')
end
redis.call('RENAME', temp, live)
redis.call('PERSIST', live)
return 1
