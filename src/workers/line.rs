//! A lane's line of waiters: the calls waiting for a permit, served first come, first served.
//!
//! Each waiter keeps its own ticket (in its future, with no node of its own to allocate); the
//! line keeps one entry per waiter, its ticket and waker, in a deque behind a lock that only
//! waits take (see [`Lane`](super::Lane): with nobody waiting, permits never pass here).
//!
//! A waiter that leaves (dropped, timed out) empties its entry instead of shifting the deque;
//! emptied entries go when they reach either end, and all at once when they outnumber the
//! waiters, so the deque holds at most about twice the waiters however long the first one
//! waits, and gives its memory back once it is short again.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use crate::sync::{AtomicBool, AtomicU64, Mutex};

/// Below this many entries' room the deque keeps its memory: shrinking it is not worth a copy.
const KEPT_CAPACITY: usize = 64;

/// The line's counts word: free permits in the low 32 bits, waiters in line above them. Both
/// are at most a lane's limit or queue limit, below 2³¹ (`config::rules::MAX_COUNT`).
const FREE: u64 = u32::MAX as u64;
const ONE_IN_LINE: u64 = 1 << 32;

fn free_of(counts: u64) -> usize {
    (counts & FREE) as usize
}

fn in_line_of(counts: u64) -> usize {
    (counts >> 32) as usize
}

pub(super) struct Line {
    waiters: Mutex<Waiters>,
    /// Free permits in the low half, waiters standing in line in the high half: one word, so
    /// that a permit is made free only while nobody stands in line and a waiter stands in line
    /// only while no permit is free, each decided by one atomic update. Permits are given
    /// while calls waited but none stood in line (one counted as waiting had not polled yet,
    /// or left as its permit came): the next waiter to poll takes one, or, once nobody waits,
    /// the next `try_take`. Waiters are counted in under the lock (`stand`) and out under it,
    /// so a release that finds nobody in line (a spawning loop running ahead of its tasks)
    /// leaves its permit free without the lock.
    counts: AtomicU64,
    /// Set by `close` under the lock: `stand` looks at it before the lock, and decides by it
    /// under the lock.
    closed: AtomicBool,
    /// The last ticket served. Tickets are served in order, so a waiter still in line whose
    /// ticket is at most this holds a permit: it can tell without the lock.
    served_through: AtomicU64,
}

struct Waiters {
    /// In ticket order.
    entries: VecDeque<Entry>,
    /// The ticket the next waiter gets; 0 is no ticket.
    next_ticket: u64,
    /// Entries whose waiter left.
    emptied: usize,
}

/// One waiter in line.
pub(super) struct Entry {
    ticket: u64,
    /// `None` once the waiter has left.
    waker: Option<Waker>,
}

/// Where a waiter stands after its first poll.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stand {
    /// In line with this ticket.
    InLine(u64),
    /// It took a free permit at once.
    Served,
    Closed,
}

/// The lane closed before the waiter was served.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Closed;

impl Line {
    pub(super) fn new() -> Self {
        let waiters = Waiters { entries: VecDeque::new(), next_ticket: 1, emptied: 0 };
        Line {
            waiters: Mutex::new(waiters),
            counts: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            served_through: AtomicU64::new(0),
        }
    }

    /// Permits free for the next waiter (a snapshot).
    pub(super) fn free(&self) -> usize {
        // Relaxed: a status reading.
        free_of(self.counts.load(Ordering::Relaxed))
    }

    /// Takes up to `wanted` free permits, without the lock; returns how many.
    pub(super) fn take_free(&self, wanted: usize) -> usize {
        let mut taken = 0;
        // AcqRel: takes permits their last holders released (see `serve`).
        let _ = self.counts.fetch_update(Ordering::AcqRel, Ordering::Acquire, |counts| {
            taken = free_of(counts).min(wanted);
            (taken > 0).then(|| counts - taken as u64)
        });
        taken
    }

    /// Hands `permits` to the first waiters in line, in order, and keeps the rest free.
    pub(super) fn serve(&self, permits: usize) {
        // Release: the permits' last holders' work, for whoever takes them (see `take_free`).
        let kept = self.counts.fetch_update(Ordering::AcqRel, Ordering::Acquire, |counts| {
            (in_line_of(counts) == 0).then(|| counts + permits as u64)
        });
        if kept.is_ok() {
            return;
        }
        let (mut first, mut more) = (None, Vec::new());
        {
            let mut waiters = self.waiters.lock();
            let mut left = permits;
            while left > 0 {
                let Some(Entry { ticket, waker }) = waiters.pop_first() else { break };
                // Release: the permit's last holder's work is published to the waiter, which
                // reads this without the lock (see `is_served`).
                self.served_through.store(ticket, Ordering::Release);
                self.counts.fetch_sub(ONE_IN_LINE, Ordering::AcqRel);
                match first {
                    None => first = waker,
                    Some(_) => more.extend(waker),
                }
                left -= 1;
            }
            if left > 0 {
                // Nobody in line any more (waiters stand in line under this lock): free.
                self.counts.fetch_add(left as u64, Ordering::AcqRel);
            }
            waiters.shrink_if_sparse();
        }
        // Woken outside the lock: a woken task may be polled on another thread at once.
        first.into_iter().chain(more).for_each(Waker::wake);
    }

    /// A waiter's first poll: takes a free permit, or stands in line.
    pub(super) fn stand(&self, cx: &Context<'_>) -> Stand {
        // A free permit means nobody stands in line: taking it jumps no queue. A closed line
        // gives none (Acquire: `close`'s flag).
        if !self.closed.load(Ordering::Acquire) && self.take_free(1) == 1 {
            return Stand::Served;
        }
        let mut waiters = self.waiters.lock();
        // Acquire: `close`'s flag (stored under this lock, so this look decides).
        if self.closed.load(Ordering::Acquire) {
            return Stand::Closed;
        }
        // One update decides: a permit made free since the look above, or a place in line (and
        // from then on `serve` hands permits over under this lock).
        let mut served = false;
        let _ = self.counts.fetch_update(Ordering::AcqRel, Ordering::Acquire, |counts| {
            served = free_of(counts) > 0;
            Some(if served { counts - 1 } else { counts + ONE_IN_LINE })
        });
        if served {
            return Stand::Served;
        }
        let ticket = waiters.next_ticket;
        waiters.next_ticket += 1;
        waiters.entries.push_back(Entry { ticket, waker: Some(cx.waker().clone()) });
        Stand::InLine(ticket)
    }

    /// A waiter in line with `ticket` polls again: served, or still waiting (woken by `cx`
    /// from now on), or the lane closed.
    pub(super) fn poll_turn(&self, ticket: u64, cx: &Context<'_>) -> Poll<Result<(), Closed>> {
        if self.is_served(ticket) {
            return Poll::Ready(Ok(()));
        }
        let mut waiters = self.waiters.lock();
        // Again under the lock: a serve may have come since.
        if self.is_served(ticket) {
            return Poll::Ready(Ok(()));
        }
        match waiters.find(ticket).and_then(|entry| entry.waker.as_mut()) {
            Some(waker) => {
                if !waker.will_wake(cx.waker()) {
                    waker.clone_from(cx.waker());
                }
                Poll::Pending
            }
            // Not served and not in line: `close` took it out.
            None => Poll::Ready(Err(Closed)),
        }
    }

    /// The waiter with `ticket` leaves the line; `true` if it had been served, so it holds a
    /// permit, which its caller must pass on.
    pub(super) fn leave(&self, ticket: u64) -> bool {
        if self.is_served(ticket) {
            return true;
        }
        let mut waiters = self.waiters.lock();
        if self.is_served(ticket) {
            return true;
        }
        if let Some(entry) = waiters.find(ticket) {
            entry.waker = None;
            waiters.emptied += 1;
            self.counts.fetch_sub(ONE_IN_LINE, Ordering::AcqRel);
            waiters.tidy();
        }
        false
    }

    /// Turns every waiter away, and every one that comes later: each is woken and finds
    /// itself out of line.
    pub(super) fn close(&self) {
        let entries = {
            let mut waiters = self.waiters.lock();
            // Release: pairs with `stand`'s look.
            self.closed.store(true, Ordering::Release);
            waiters.emptied = 0;
            // Nobody stands in line any more; free permits stay free.
            self.counts.fetch_and(FREE, Ordering::AcqRel);
            std::mem::take(&mut waiters.entries)
        };
        entries.into_iter().filter_map(|entry| entry.waker).for_each(Waker::wake);
    }

    fn is_served(&self, ticket: u64) -> bool {
        // Acquire: pairs with `serve`'s store, so the waiter sees the work of the permit's last
        // holder.
        ticket <= self.served_through.load(Ordering::Acquire)
    }

    /// Waiters in line and entries held, for tests.
    #[cfg(test)]
    pub(super) fn counts(&self) -> (usize, usize) {
        let waiters = self.waiters.lock();
        (waiters.entries.len() - waiters.emptied, waiters.entries.len())
    }
}

impl Waiters {
    /// Takes the first waiter still in line out of it.
    fn pop_first(&mut self) -> Option<Entry> {
        while let Some(entry) = self.entries.pop_front() {
            if entry.waker.is_some() {
                return Some(entry);
            }
            self.emptied -= 1;
        }
        None
    }

    fn find(&mut self, ticket: u64) -> Option<&mut Entry> {
        let at = self.entries.binary_search_by_key(&ticket, |entry| entry.ticket).ok()?;
        self.entries.get_mut(at)
    }

    /// Drops emptied entries at either end, and all of them once they outnumber the waiters:
    /// each sweep removes at least as many entries as it keeps, so it costs a leave O(1)
    /// on average.
    fn tidy(&mut self) {
        while self.entries.front().is_some_and(|entry| entry.waker.is_none()) {
            self.entries.pop_front();
            self.emptied -= 1;
        }
        while self.entries.back().is_some_and(|entry| entry.waker.is_none()) {
            self.entries.pop_back();
            self.emptied -= 1;
        }
        if self.emptied * 2 > self.entries.len() {
            self.entries.retain(|entry| entry.waker.is_some());
            self.emptied = 0;
        }
        self.shrink_if_sparse();
    }

    /// A deque that held a long line gives most of its memory back once the line is short.
    fn shrink_if_sparse(&mut self) {
        let (len, capacity) = (self.entries.len(), self.entries.capacity());
        if capacity > KEPT_CAPACITY && len < capacity / 4 {
            self.entries.shrink_to(KEPT_CAPACITY.max(len * 2));
        }
    }
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Without the lock: a lane is printed in a status dump, never while its line is locked.
        f.debug_struct("Line").field("free", &self.free()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stand(line: &Line) -> u64 {
        match line.stand(&Context::from_waker(Waker::noop())) {
            Stand::InLine(ticket) => ticket,
            other => panic!("not in line: {other:?}"),
        }
    }

    /// The entry a waiter costs the lane, beside the ticket in its future.
    #[test]
    fn an_entry_is_a_ticket_and_a_waker() {
        assert_eq!(std::mem::size_of::<Entry>(), 3 * std::mem::size_of::<usize>());
    }

    /// A release with nobody standing in line keeps its permit free, and the next waiter's
    /// first poll takes it; with somebody in line, a release serves them first and keeps only
    /// the rest free.
    #[test]
    fn a_permit_is_free_only_while_nobody_stands_in_line() {
        let line = Line::new();
        line.serve(1);
        assert_eq!((line.counts(), line.free()), ((0, 0), 1));
        assert_eq!(line.stand(&Context::from_waker(Waker::noop())), Stand::Served);
        assert_eq!(line.free(), 0);
        let ticket = stand(&line);
        assert_eq!((in_line_of(line.counts.load(Ordering::SeqCst)), line.free()), (1, 0));
        line.serve(2);
        assert_eq!((line.counts(), line.free()), ((0, 0), 1));
        assert_eq!(in_line_of(line.counts.load(Ordering::SeqCst)), 0);
        assert!(line.leave(ticket), "served: it holds a permit");
    }

    /// However long the first waiter waits, the waiters that leave behind it do not pile up.
    #[test]
    fn emptied_entries_never_outnumber_the_waiters_in_line() {
        let line = Line::new();
        let first = stand(&line);
        let middle: Vec<u64> = (0..10).map(|_| stand(&line)).collect();
        let last = stand(&line);
        assert_eq!(line.counts(), (12, 12));
        for (left, &ticket) in middle.iter().enumerate().take(6) {
            assert!(!line.leave(ticket));
            assert_eq!(line.counts(), (11 - left, 12), "emptied in place");
        }
        // The seventh emptied entry outnumbers the five waiters left: all seven go.
        assert!(!line.leave(middle[6]));
        assert_eq!(line.counts(), (5, 5));
        // Emptied at an end: gone at once.
        assert!(!line.leave(last));
        assert_eq!(line.counts(), (4, 4));
        assert!(!line.leave(first));
        assert_eq!(line.counts(), (3, 3));
        line.serve(4);
        assert_eq!((line.counts(), line.free()), ((0, 0), 1));
        assert!(line.leave(middle[9]), "served: it holds a permit");
    }

    #[test]
    fn a_line_that_was_long_gives_its_memory_back() {
        let line = Line::new();
        let tickets: Vec<u64> = (0..10_000).map(|_| stand(&line)).collect();
        assert!(line.waiters.lock().entries.capacity() >= 10_000);
        line.serve(9_990);
        assert_eq!(line.counts(), (10, 10));
        assert_eq!(line.waiters.lock().entries.capacity(), KEPT_CAPACITY);
        for ticket in tickets {
            line.leave(ticket);
        }
        assert_eq!((line.counts(), line.free()), ((0, 0), 0));
    }
}
