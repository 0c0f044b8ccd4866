//! The Lua scripts of the Redis backend: one per operation, each reading the time from the
//! server's `TIME` (Redis 7 replicates scripts by their effects, so `TIME` is safe inside one).
//!
//! Keys of a resource share one hash tag, `bursar:{<resource>}:`, so they live on one slot of
//! a cluster: `leases` (a sorted set of lease ids scored by expiry, in ms of server time),
//! `instances` (a sorted set of instance ids scored by expiry), `fence` (the token counter)
//! and one port plan per host, `ports:<host>` (a hash of port to the claim that holds it,
//! `"<instance>:<n>"`).
//!
//! Every key but `fence` expires once nothing in it can count any more: `leases` with the
//! latest lease's expiry, `instances` with the latest instance's, and a port plan
//! [`PLAN_KEPT`] after the latest expiry of an instance that claimed on it. A claim counts only
//! while its instance is live, but an instance that comes back after an outage longer than its
//! TTL (its leases and heartbeats refused meanwhile) still holds its ports: the plan outlives
//! it so that its claims count again at its next heartbeat. So the keys of a resource, a host
//! or an instance that is gone leave the server on their own.

use std::time::Duration;

/// How long a host's port plan outlives the latest instance that claimed on it: the longest
/// outage after which its claims still count.
const PLAN_KEPT: Duration = Duration::from_secs(24 * 3_600);

/// The server's time in milliseconds, then every expired member of `KEYS[1]` (leases, or
/// instances) removed; and `keep(key, ms)`, which makes `key`, if it exists, live at least `ms`
/// more (it never shortens an expiry a longer-lived member set: the key's other members may
/// need it; a key with no expiry gets this one).
pub(super) const NOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)

local function keep(key, ms)
  local left = redis.call('PTTL', key)
  if left ~= -2 and left < ms then
    redis.call('PEXPIRE', key, ms)
  end
end
";

/// `live` counts the live instances (`KEYS[2]`), kept by their heartbeats.
const INSTANCE: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local live = redis.call('ZCARD', KEYS[2])
";

/// KEYS: leases, instances, fence. ARGV: lease id, TTL in ms, cap.
/// Returns `{1, token, live}` or `{0, ms until the earliest expiry, live}`.
///
/// The token is `INCR fence` after raising `fence` to `now * 1024` if it is below: so tokens
/// grow with the server's clock (1024 a millisecond at most before they run ahead of it), and
/// a server that lost `fence` (restarted without persistence) still gives larger ones than
/// before, unless its clock went back. `now * 1024` stays below 2^53, exact in Lua's numbers.
pub(super) fn acquire() -> String {
    format!(
        "{NOW}{INSTANCE}
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[3]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {{0, tonumber(first[2]) - now, live}}
end
local floor = now * 1024
local fence = tonumber(redis.call('GET', KEYS[3]) or '0')
if fence < floor then
  redis.call('SET', KEYS[3], string.format('%.0f', floor))
end
local token = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
keep(KEYS[1], tonumber(ARGV[2]))
return {{1, token, live}}
"
    )
}

/// KEYS: leases, instances. ARGV: lease id, TTL in ms.
/// Returns `{1, live}` if the lease was live and now expires one TTL from now, `{0, live}` if
/// it was gone.
pub(super) fn renew() -> String {
    format!(
        "{NOW}{INSTANCE}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return {{0, live}}
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
keep(KEYS[1], tonumber(ARGV[2]))
return {{1, live}}
"
    )
}

/// KEYS: leases. ARGV: lease id. Returns 1 if the lease was live.
pub(super) fn release() -> String {
    format!("{NOW}return redis.call('ZREM', KEYS[1], ARGV[1])")
}

/// KEYS: leases. Returns the number of live leases.
pub(super) fn count() -> String {
    format!("{NOW}return redis.call('ZCARD', KEYS[1])")
}

/// KEYS: instances, then the port plans the instance has claimed on. ARGV: instance, its time
/// to live in ms. Keeps the instance live that long, and its port plans [`PLAN_KEPT`] longer;
/// returns the number of live instances, this one included.
pub(super) fn heartbeat() -> String {
    format!(
        "{NOW}local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
keep(KEYS[1], ttl)
for i = 2, #KEYS do
  keep(KEYS[i], ttl + {plan_kept})
end
return redis.call('ZCARD', KEYS[1])",
        plan_kept = PLAN_KEPT.as_millis()
    )
}

/// KEYS: instances. ARGV: instance. Returns 1 if the instance was live.
pub(super) fn leave() -> String {
    format!("{NOW}return redis.call('ZREM', KEYS[1], ARGV[1])")
}

/// KEYS: instances, the host's port plan. ARGV: instance, claim id, the instance's time to live
/// in ms, then the candidate ports. Keeps the instance live (a claim proves it alive), then
/// claims the first candidate held by no other live instance, the plan kept [`PLAN_KEPT`]
/// longer than the instance. Returns its index from 0, or -1 if every candidate is held.
pub(super) fn claim_port() -> String {
    format!(
        "{NOW}local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
keep(KEYS[1], ttl)
for i = 4, #ARGV do
  local claim = redis.call('HGET', KEYS[2], ARGV[i])
  local holder = claim and string.match(claim, '^(.*):%d+$')
  if not holder or holder == ARGV[1] or not redis.call('ZSCORE', KEYS[1], holder) then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[2])
    keep(KEYS[2], ttl + {plan_kept})
    return i - 4
  end
end
return -1",
        plan_kept = PLAN_KEPT.as_millis()
    )
}

/// KEYS: the host's port plan. ARGV: claim id, then ports. Removes each port the claim still
/// holds; returns how many.
pub(super) const RELEASE_PORTS: &str = r"
local released = 0
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    released = released + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return released
";
