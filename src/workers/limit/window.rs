//! A window of samples: about one round of the running attempts, judged as one.

use std::time::Duration;

use super::{Sample, Verdict};

/// The samples since the last judgement.
#[derive(Debug, Default)]
pub(crate) struct Window {
    served: Vec<Duration>,
    samples: usize,
    overloaded: usize,
    max_in_flight: usize,
}

/// What a full window saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Judged {
    /// The median latency of the served attempts, if any were served.
    pub(crate) median: Option<Duration>,
    /// Attempts that timed out or were overloaded.
    pub(crate) overloaded: usize,
    /// The most attempts running at any sample's end.
    pub(crate) max_in_flight: usize,
}

impl Window {
    /// Adds `sample`; once `size` samples are in, empties the window and returns what it saw.
    pub(crate) fn push(&mut self, sample: Sample, size: usize) -> Option<Judged> {
        self.samples += 1;
        self.max_in_flight = self.max_in_flight.max(sample.in_flight);
        match sample.verdict {
            Verdict::Served => self.served.push(sample.latency),
            Verdict::Overloaded => self.overloaded += 1,
            Verdict::Failed => {}
        }
        (self.samples >= size).then(|| self.judge())
    }

    fn judge(&mut self) -> Judged {
        let judged = Judged {
            median: median(&mut self.served),
            overloaded: self.overloaded,
            max_in_flight: self.max_in_flight,
        };
        self.served.clear();
        (self.samples, self.overloaded, self.max_in_flight) = (0, 0, 0);
        judged
    }
}

/// The median of `latencies` (the lower middle one of an even count), if any.
pub(crate) fn median(latencies: &mut [Duration]) -> Option<Duration> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_unstable();
    Some(latencies[(latencies.len() - 1) / 2])
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn a_window_judges_served_latency_apart_from_errors_and_overload() {
        let mut window = Window::default();
        assert_eq!(window.push(sample(120, Verdict::Served, 3, 0), 4), None);
        assert_eq!(window.push(sample(5, Verdict::Failed, 5, 0), 4), None);
        assert_eq!(window.push(sample(100, Verdict::Served, 4, 0), 4), None);
        let judged = window.push(sample(5, Verdict::Overloaded, 2, 0), 4);
        let median = Some(Duration::from_millis(100));
        assert_eq!(judged, Some(Judged { median, overloaded: 1, max_in_flight: 5 }));
        let next = window.push(sample(90, Verdict::Served, 1, 0), 1);
        assert_eq!(
            next,
            Some(Judged { median: Some(Duration::from_millis(90)), overloaded: 0, max_in_flight: 1 })
        );
    }
}
