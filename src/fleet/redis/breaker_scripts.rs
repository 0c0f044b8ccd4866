//! The Lua scripts of the fleet-wide breakers, one per operation, each reading the time from
//! the server's `TIME` (see `scripts.rs`).
//!
//! Keys of one breaker, beside its resource's under the same hash tag,
//! `bursar:{<resource>}:breaker:<key>:`: `votes` (a sorted set of instance ids scored by their
//! vote's expiry, in ms of server time), `state` (a hash: `until`, the end of the open time,
//! absent while closed; `epoch`) and `probe` (the probe lease: the holder's id, `SET NX PX`).
//!
//! Each returns `{votes, open, epoch, ms of open time left, whether the asker holds the probe}`.
//!
//! Each key expires: `votes` with the latest vote's window, `probe` with its lease, and `state`
//! [`STATE_KEPT`] after the end of its open time or of a probe lease granted with it, counted
//! from its last change. A breaker nobody has opened or probed for that long is closed, and its
//! next epoch, raised to the server's time, is still above every earlier one.

use std::time::Duration;

use super::scripts::NOW;

/// How long a breaker's `state` outlives the end of its open time (or probe lease) after its
/// last change.
const STATE_KEPT: Duration = Duration::from_secs(3_600);

/// The breaker as the asker `ARGV[1]` sees it; `next_epoch`: the epoch raised to the server's
/// time in ms × 1024 if it is below (so epochs only grow, also across a restart that lost the
/// data, or a state that expired), then by one; and `changed(busy)`, which sets the state's
/// expiry after each change (every change leaves at least the epoch in it): `kept` (the ms of [`STATE_KEPT`], defined before it) after the
/// later of the open time's end and `busy` ms from now (a probe lease's).
const VIEW: &str = r"
local function open_until()
  return tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
end
local function view()
  local votes = redis.call('ZCARD', KEYS[1])
  local epoch = tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0')
  local ends = open_until()
  if ends == 0 then
    return {votes, 0, epoch, 0, 0}
  end
  local mine = 0
  if redis.call('GET', KEYS[3]) == ARGV[1] then
    mine = 1
  end
  return {votes, 1, epoch, math.max(ends - now, 0), mine}
end
local function next_epoch()
  local epoch = math.max(tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0'), now * 1024) + 1
  redis.call('HSET', KEYS[2], 'epoch', string.format('%.0f', epoch))
end
local function changed(busy)
  redis.call('PEXPIRE', KEYS[2], math.max(open_until() - now, busy, 0) + kept)
end
local function open_for(ms)
  next_epoch()
  redis.call('HSET', KEYS[2], 'until', string.format('%.0f', now + ms))
  redis.call('DEL', KEYS[3])
  changed(0)
end
";

/// The time and the helpers every breaker script starts with.
fn prelude() -> String {
    format!("{NOW}local kept = {}\n{VIEW}", STATE_KEPT.as_millis())
}

/// KEYS: votes, state, probe. ARGV: instance, vote window in ms, quorum, open time in ms.
/// The vote counts for its window; a closed breaker with `quorum` live votes opens.
pub(super) fn vote() -> String {
    format!(
        "{prelude}
local window = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + window, ARGV[1])
keep(KEYS[1], window)
if open_until() == 0 and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  open_for(tonumber(ARGV[4]))
end
return view()
",
        prelude = prelude()
    )
}

/// KEYS: votes, state, probe. ARGV: instance, probe lease in ms.
/// An open breaker whose open time is over grants a free probe lease to the asker, with a
/// new epoch.
pub(super) fn sync() -> String {
    format!(
        "{prelude}
local ends = open_until()
if ends ~= 0 and ends <= now and redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then
  next_epoch()
  changed(tonumber(ARGV[2]))
end
return view()
",
        prelude = prelude()
    )
}

/// KEYS: votes, state, probe. ARGV: instance, the probe's epoch, 1 if it succeeded, open time
/// in ms. Only an outcome of the current epoch changes the breaker: a success closes it and
/// clears its votes, a failure opens it again with a new epoch.
pub(super) fn probe_ended() -> String {
    format!(
        "{prelude}
local current = tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0')
if open_until() ~= 0 and current == tonumber(ARGV[2]) then
  if ARGV[3] == '1' then
    redis.call('HDEL', KEYS[2], 'until')
    redis.call('DEL', KEYS[1], KEYS[3])
    changed(0)
  else
    open_for(tonumber(ARGV[4]))
  end
end
return view()
",
        prelude = prelude()
    )
}
