//! Leases taken and dropped in any order, with time passing in between, leave every count
//! exactly where a simple model says — and every port free once the quarantine has passed.
//! Dropping a lease at an arbitrary point is what cancelling its holder does.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;

use super::support::allocator;
use crate::ports::{PortAllocator, PortError, PortLease};

const QUARANTINE_MS: u64 = 1_000;
const RANGES: [(&str, u16, u16); 2] = [("vnc", 5900, 5902), ("ws", 6900, 6901)];

#[derive(Debug, Clone)]
enum Step {
    Allocate(usize),
    Drop(Index),
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..RANGES.len()).prop_map(Step::Allocate),
        3 => any::<Index>().prop_map(Step::Drop),
        1 => (0..=2 * QUARANTINE_MS).prop_map(Step::Wait),
    ]
}

/// One range as the model sees it. Times are milliseconds since the test began.
#[derive(Debug)]
struct Model {
    size: usize,
    never_leased: usize,
    leased: usize,
    /// When each released port is due again, earliest first.
    due: VecDeque<u64>,
}

impl Model {
    fn new(size: usize) -> Self {
        Model { size, never_leased: size, leased: 0, due: VecDeque::new() }
    }

    /// `(leased, free, quarantined)` at `now`.
    fn counts(&self, now: u64) -> (usize, usize, usize) {
        let quarantined = self.due.iter().filter(|&&due| due > now).count();
        (self.leased, self.never_leased + self.due.len() - quarantined, quarantined)
    }

    /// Whether a port can be leased at `now` and, if not, how long until one can.
    fn allocate(&mut self, now: u64) -> Result<(), Option<Duration>> {
        if self.never_leased > 0 {
            self.never_leased -= 1;
        } else {
            match self.due.front() {
                Some(&due) if due <= now => drop(self.due.pop_front()),
                Some(&due) => return Err(Some(Duration::from_millis(due - now))),
                None => return Err(None),
            }
        }
        self.leased += 1;
        Ok(())
    }

    fn release(&mut self, now: u64) {
        self.leased -= 1;
        self.due.push_back(now + QUARANTINE_MS);
    }
}

/// The allocator, its model, and the leases held, tracked together.
struct Run {
    allocator: PortAllocator,
    models: Vec<Model>,
    held: Vec<(usize, PortLease)>,
    now: u64,
}

impl Run {
    fn new() -> Self {
        let ranges: Vec<_> = RANGES.iter().map(|&(name, first, last)| (name, first..=last)).collect();
        let allocator = allocator(&ranges, Duration::from_millis(QUARANTINE_MS));
        let models =
            RANGES.iter().map(|&(_, first, last)| Model::new(usize::from(last - first) + 1)).collect();
        Run { allocator, models, held: Vec::new(), now: 0 }
    }

    async fn apply(&mut self, step: Step) -> Result<(), TestCaseError> {
        match step {
            Step::Allocate(range) => self.allocate(range)?,
            Step::Drop(index) if !self.held.is_empty() => self.drop_lease(index.index(self.held.len())),
            Step::Drop(_) => {}
            Step::Wait(ms) => {
                tokio::time::advance(Duration::from_millis(ms)).await;
                self.now += ms;
            }
        }
        self.check_counts()
    }

    fn allocate(&mut self, range: usize) -> Result<(), TestCaseError> {
        let (name, first, last) = RANGES[range];
        match (self.allocator.allocate(name), self.models[range].allocate(self.now)) {
            (Ok(lease), Ok(())) => {
                prop_assert!((first..=last).contains(&lease.port()));
                self.held.push((range, lease));
                let ports: HashSet<u16> = self.held.iter().map(|(_, lease)| lease.port()).collect();
                prop_assert_eq!(ports.len(), self.held.len(), "a port is leased twice");
            }
            (Err(error), Err(retry_after)) => {
                let expected = PortError::Exhausted {
                    range: name.to_owned(),
                    size: self.models[range].size,
                    retry_after,
                };
                prop_assert_eq!(error, expected);
            }
            (actual, expected) => prop_assert!(false, "allocated {actual:?}, the model says {expected:?}"),
        }
        Ok(())
    }

    fn drop_lease(&mut self, index: usize) {
        let (range, lease) = self.held.swap_remove(index);
        drop(lease);
        self.models[range].release(self.now);
    }

    fn check_counts(&self) -> Result<(), TestCaseError> {
        let status = self.allocator.status();
        for (&(name, ..), model) in RANGES.iter().zip(&self.models) {
            let actual = (status[name].leased, status[name].free, status[name].quarantined);
            prop_assert_eq!(actual, model.counts(self.now), "range {}", name);
        }
        Ok(())
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_time().start_paused(true).build().expect("a runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn counts_match_the_model_and_all_ports_return(
        steps in prop::collection::vec(step(), 1..120),
        drop_order in prop::collection::vec(any::<Index>(), RANGES.len() * 3),
    ) {
        paused_runtime().block_on(async {
            let mut run = Run::new();
            for step in steps {
                run.apply(step).await?;
            }
            for index in drop_order {
                run.apply(Step::Drop(index)).await?;
            }
            prop_assert!(run.held.is_empty());
            run.apply(Step::Wait(QUARANTINE_MS)).await?;
            for (name, status) in run.allocator.status() {
                prop_assert_eq!((status.leased, status.quarantined), (0, 0), "range {}", name);
            }
            Ok(())
        })?;
    }
}
