-- rebuild_swap: put a fully built board in place of the live one, in one atomic step.
-- Hot awards may have recreated the live board since Redis lost it; its scores are absolute totals
-- written after the rebuild read them, so the two are merged by MAX (XP only grows) before the rename.
-- Readers see either the old board or the complete new one, never a half-built board.
-- The temporary board has a TTL (a crashed rebuild leaves nothing behind), so a volatile-* maxmemory-policy may
-- evict it mid-rebuild: a board with fewer members than were written is dropped, never swapped in.
-- KEYS[1]   the temporary board
-- KEYS[2]   the live board
-- ARGV[1]   members written to the temporary board (optional)
-- Reply     1 if the board was replaced, 0 if there was nothing to put in place, -1 if it was incomplete
local temp, live = KEYS[1], KEYS[2]
local expected = tonumber(ARGV[1] or '0')
if redis.call('ZCARD', temp) < expected then
  redis.call('DEL', temp)
  return -1
end
if redis.call('EXISTS', temp) == 0 then return 0 end
if redis.call('EXISTS', live) == 1 then
  redis.call('ZUNIONSTORE', temp, 2, temp, live, 'AGGREGATE', 'MAX')
end
redis.call('RENAME', temp, live)
redis.call('PERSIST', live)
return 1
