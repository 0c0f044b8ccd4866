//! The fake manager: it counts every call, can be told how each step behaves, and tracks how
//! many connections are alive at once, in total and per key.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::pool::{Manager, Pool, PoolConfig};
use crate::ports::{PortAllocator, PortLease, PortRange, PortsConfig};

pub(super) type Key = u32;

/// How long a `Slow` step sleeps.
pub(super) const SLOW: Duration = Duration::from_millis(50);

/// A manager method the test can script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Step {
    Create,
    Check,
    Destroy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Behaviour {
    Ok,
    Error,
    /// Sleeps [`SLOW`], then succeeds.
    Slow,
    /// Never finishes.
    Never,
    /// Panics with "`step` panicked", e.g. "Create panicked".
    Panic,
}

pub(super) const BEHAVIOURS: [Behaviour; 4] =
    [Behaviour::Ok, Behaviour::Error, Behaviour::Slow, Behaviour::Never];

#[derive(Debug, PartialEq, Eq)]
pub(super) struct FakeError(pub(super) Step);

impl std::fmt::Display for FakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} failed", self.0)
    }
}

/// What the test reads and scripts; shared with the manager.
#[derive(Debug, Default)]
pub(super) struct Probe {
    pub(super) create_calls: AtomicUsize,
    pub(super) created: AtomicUsize,
    pub(super) checks: AtomicUsize,
    pub(super) destroyed: AtomicUsize,
    destroyed_ids: Mutex<Vec<usize>>,
    live: Mutex<Live>,
    /// Each step's behaviour from now on (absent: `Ok`).
    behaviour: Mutex<HashMap<Step, Behaviour>>,
    /// Behaviours for the next calls only, before `behaviour` applies again.
    once: Mutex<HashMap<Step, VecDeque<Behaviour>>>,
    /// Connections (by id) whose `is_broken` says `true`.
    broken: Mutex<Vec<usize>>,
    /// `is_broken` and `process_group` panic.
    pub(super) sync_calls_panic: std::sync::atomic::AtomicBool,
    /// Calls of `is_broken`.
    pub(super) broken_asked: AtomicUsize,
    /// Resident memory by process group, as the pool's reader sees it.
    memory: Mutex<HashMap<u32, u64>>,
}

/// Connections alive now and the most ever alive at once.
#[derive(Debug, Default, Clone)]
pub(super) struct Live {
    pub(super) total: usize,
    pub(super) max_total: usize,
    pub(super) per_key: HashMap<Key, usize>,
    pub(super) max_per_key: usize,
}

pub(super) struct Fake(pub(super) Arc<Probe>);

#[derive(Debug)]
pub(super) struct FakeConn {
    pub(super) id: usize,
    pub(super) key: Key,
    pub(super) ports: Vec<u16>,
    probe: Arc<Probe>,
}

impl Manager for Fake {
    type Key = Key;
    type Connection = FakeConn;
    type Error = FakeError;

    async fn create(&self, key: &Key, ports: &[PortLease]) -> Result<FakeConn, FakeError> {
        self.0.create_calls.fetch_add(1, Ordering::SeqCst);
        self.0.act(Step::Create).await?;
        let id = self.0.created.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.live.lock().add(*key);
        let ports = ports.iter().map(PortLease::port).collect();
        Ok(FakeConn { id, key: *key, ports, probe: Arc::clone(&self.0) })
    }

    async fn check(&self, _conn: &mut FakeConn) -> Result<(), FakeError> {
        self.0.checks.fetch_add(1, Ordering::SeqCst);
        self.0.act(Step::Check).await
    }

    async fn destroy(&self, conn: FakeConn) {
        let _ = self.0.act(Step::Destroy).await;
        self.0.destroyed_ids.lock().push(conn.id);
        self.0.destroyed.fetch_add(1, Ordering::SeqCst);
    }

    fn is_broken(&self, conn: &FakeConn) -> bool {
        self.0.broken_asked.fetch_add(1, Ordering::SeqCst);
        assert!(!self.0.sync_calls_panic.load(Ordering::SeqCst), "is_broken panicked");
        self.0.broken.lock().contains(&conn.id)
    }

    /// Connection `n` runs in process group `GROUPS + n`.
    fn process_group(&self, conn: &FakeConn) -> Option<u32> {
        assert!(!self.0.sync_calls_panic.load(Ordering::SeqCst), "process_group panicked");
        Some(GROUPS + conn.id as u32)
    }
}

/// The process group of the fake's connection 0 (none has that id: ids start at 1).
pub(super) const GROUPS: u32 = 1000;

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.probe.live.lock().remove(self.key);
    }
}

impl Live {
    fn add(&mut self, key: Key) {
        self.total += 1;
        self.max_total = self.max_total.max(self.total);
        let of_key = self.per_key.entry(key).or_default();
        *of_key += 1;
        self.max_per_key = self.max_per_key.max(*of_key);
    }

    fn remove(&mut self, key: Key) {
        self.total -= 1;
        *self.per_key.get_mut(&key).expect("a live key") -= 1;
    }
}

impl Probe {
    async fn act(&self, step: Step) -> Result<(), FakeError> {
        let scripted = self.once.lock().get_mut(&step).and_then(VecDeque::pop_front);
        let behaviour =
            scripted.unwrap_or_else(|| self.behaviour.lock().get(&step).copied().unwrap_or(Behaviour::Ok));
        match behaviour {
            Behaviour::Ok => Ok(()),
            Behaviour::Error => Err(FakeError(step)),
            Behaviour::Slow => {
                tokio::time::sleep(SLOW).await;
                Ok(())
            }
            Behaviour::Never => std::future::pending().await,
            Behaviour::Panic => panic!("{step:?} panicked"),
        }
    }

    /// `step` behaves so from now on.
    pub(super) fn set(&self, step: Step, behaviour: Behaviour) {
        self.behaviour.lock().insert(step, behaviour);
    }

    /// `step` behaves so on its next call only.
    pub(super) fn once(&self, step: Step, behaviour: Behaviour) {
        self.once.lock().entry(step).or_default().push_back(behaviour);
    }

    pub(super) fn count(&self, counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    /// `(create calls, created, checks, destroyed)`.
    pub(super) fn calls(&self) -> (usize, usize, usize, usize) {
        let count = |counter: &AtomicUsize| counter.load(Ordering::SeqCst);
        (count(&self.create_calls), count(&self.created), count(&self.checks), count(&self.destroyed))
    }

    pub(super) fn destroyed_ids(&self) -> Vec<usize> {
        self.destroyed_ids.lock().clone()
    }

    pub(super) fn live(&self) -> Live {
        self.live.lock().clone()
    }

    /// Connection `id`'s `is_broken` says `true` from now on (its process died).
    pub(super) fn break_connection(&self, id: usize) {
        self.broken.lock().push(id);
    }

    /// Connection `id`'s process group holds `bytes` from now on.
    pub(super) fn set_memory(&self, id: usize, bytes: u64) {
        self.memory.lock().insert(GROUPS + id as u32, bytes);
    }

    /// What the pool reads: the memory set for each group asked for.
    pub(super) fn read_memory(&self, groups: &[u32]) -> HashMap<u32, u64> {
        let memory = self.memory.lock();
        groups.iter().filter_map(|group| Some((*group, *memory.get(group)?))).collect()
    }
}

/// A configuration with these caps and otherwise the defaults.
pub(super) fn config(max_total: usize, max_per_key: usize) -> PoolConfig {
    PoolConfig { max_total, max_per_key, ..PoolConfig::default() }
}

/// A pool over a fresh fake manager, without ports; it reads its connections' memory from
/// the probe.
pub(super) fn pool(config: PoolConfig) -> (Pool<Fake>, Arc<Probe>) {
    let probe = Arc::new(Probe::default());
    let reader = Arc::clone(&probe);
    let builder = Pool::builder(Fake(Arc::clone(&probe))).config(config);
    let pool = builder.read_memory(Arc::new(move |groups| reader.read_memory(groups))).build();
    (pool.expect("a valid test pool"), probe)
}

/// How long a released port rests in the tests' allocators.
pub(super) const QUARANTINE: Duration = Duration::from_secs(1);

/// An allocator over `"vnc"` 5900–5999 and `"ws"` 6900–6999, without the host check.
pub(super) fn allocator() -> Arc<PortAllocator> {
    let ranges = vec![PortRange::new("vnc", 5900..=5999), PortRange::new("ws", 6900..=6999)];
    let config = PortsConfig { ranges, quarantine: QUARANTINE, host_check: false };
    Arc::new(PortAllocator::new(&config).expect("a valid test allocator"))
}

/// A pool whose connections each lease a `"vnc"` and a `"ws"` port from [`allocator`].
pub(super) fn pool_with_ports(mut config: PoolConfig) -> (Pool<Fake>, Arc<Probe>, Arc<PortAllocator>) {
    let (probe, allocator) = (Arc::new(Probe::default()), allocator());
    config.ports = vec!["vnc".to_owned(), "ws".to_owned()];
    let builder = Pool::builder(Fake(Arc::clone(&probe))).config(config).ports(Arc::clone(&allocator));
    (builder.build().expect("a valid test pool"), probe, allocator)
}

/// `(leased, free, quarantined)` summed over both test ranges.
pub(super) fn ports(allocator: &PortAllocator) -> (usize, usize, usize) {
    let status = allocator.status();
    status
        .values()
        .fold((0, 0, 0), |(l, f, q), range| (l + range.leased, f + range.free, q + range.quarantined))
}

/// Lets every task that is ready run (destroys, the reaper, woken `get`s) without moving
/// the clock.
pub(super) async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}
