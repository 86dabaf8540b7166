//! Where a parallel block's time went: recorded when [`super::ParallelConfig::timeline`] is
//! on (`coevm run --timeline`), so that what holds the executor back on a block can be read
//! rather than guessed. Off, it costs one branch per transaction.

use std::time::{Duration, Instant};

/// Transactions and the time spent on them, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Phase {
    pub txs: usize,
    pub ns: u64,
}

impl Phase {
    fn add(&mut self, span: Duration) {
        self.txs += 1;
        self.ns += span.as_nanos() as u64;
    }

    pub fn micros(&self) -> f64 {
        self.ns as f64 / 1e3
    }
}

/// One helper thread's share.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HelperTime {
    /// Speculative executions and the time they took.
    pub executed: Phase,
    /// When its first transaction started and its last ended, from the start of the block.
    pub first_start_ns: u64,
    pub last_end_ns: u64,
}

/// A parallel block's time, in nanoseconds from the start of `ParallelExecutor::execute`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Timeline {
    /// Until the committer started its first transaction: the decision to go parallel, cost
    /// estimates, per-transaction slots, the committer's EVM, starting the helpers.
    pub setup_ns: u64,
    /// The committer executing transactions nobody had started.
    pub own: Phase,
    /// The committer validating a helper's result and committing it.
    pub validated: Phase,
    /// Re-executing a helper's result that read a value from the pre-state which an earlier
    /// transaction changed (or that failed, e.g. on a nonce it could not know).
    pub stale: Phase,
    /// Re-executing a helper's result whose only stale reads were of its own stretch's earlier
    /// writes: an earlier transaction of that stretch was re-executed and wrote otherwise.
    pub cascade: Phase,
    /// Waiting for a helper's result that was not ready (the committer's own stretches aside).
    pub waiting_ns: u64,
    /// Stretches the committer took over rather than wait (see `Shared::wait_for`).
    pub took_over: Phase,
    /// When the committer committed the last transaction.
    pub end_ns: u64,
    pub helpers: Vec<HelperTime>,
}

impl Timeline {
    /// One line for people: where the committer's time went, and how busy the helpers were.
    pub fn summary(&self) -> String {
        let us = |ns: u64| ns as f64 / 1e3;
        let phase = |p: &Phase| format!("{:.0} µs ({})", p.micros(), p.txs);
        let mut line = format!(
            "setup {:.0} µs · committer: own {} · validated {} · re-executed {} stale + {} cascading · waited {:.0} µs · took over {} · ends at {:.0} µs",
            us(self.setup_ns),
            phase(&self.own),
            phase(&self.validated),
            phase(&self.stale),
            phase(&self.cascade),
            us(self.waiting_ns),
            phase(&self.took_over),
            us(self.end_ns),
        );
        for (h, helper) in self.helpers.iter().enumerate() {
            line += &format!(
                " | helper {h}: {} from {:.0} to {:.0} µs",
                phase(&helper.executed),
                us(helper.first_start_ns),
                us(helper.last_end_ns)
            );
        }
        line
    }
}

/// A clock that reads nothing when the timeline is off.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock(Option<Instant>);

impl Clock {
    pub fn new(on: bool) -> Self {
        Clock(on.then(Instant::now))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Now, when on.
    pub fn now(&self) -> Option<Instant> {
        self.0.map(|_| Instant::now())
    }

    /// Nanoseconds from the start to `at`.
    pub fn offset(&self, at: Instant) -> u64 {
        self.0.map_or(0, |start| at.saturating_duration_since(start).as_nanos() as u64)
    }
}

/// What the committer records, transaction by transaction.
#[derive(Default)]
pub(crate) struct CommitterTimes {
    pub timeline: Timeline,
    /// Time taken over while waiting for the transaction being recorded.
    took_over_ns: u64,
}

/// How the committer dealt with one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handling {
    Own,
    Validated,
    Stale,
    Cascade,
}

impl CommitterTimes {
    /// Records one transaction: started at `start`, its result available at `ready` (after any
    /// wait, less `took_over`), done at `end`.
    pub fn record(&mut self, clock: &Clock, handling: Handling, start: Instant, ready: Instant, end: Instant) {
        let t = &mut self.timeline;
        if t.own.txs + t.validated.txs + t.stale.txs + t.cascade.txs == 0 {
            t.setup_ns = clock.offset(start);
        }
        let waited = ready.saturating_duration_since(start).as_nanos() as u64;
        t.waiting_ns += waited.saturating_sub(std::mem::take(&mut self.took_over_ns));
        let phase = match handling {
            Handling::Own => &mut t.own,
            Handling::Validated => &mut t.validated,
            Handling::Stale => &mut t.stale,
            Handling::Cascade => &mut t.cascade,
        };
        phase.add(end.saturating_duration_since(ready));
        t.end_ns = clock.offset(end);
    }

    /// A stretch the committer took over while waiting: counted apart from the wait.
    pub fn took_over(&mut self, stretch: &Phase) {
        self.timeline.took_over.txs += stretch.txs;
        self.timeline.took_over.ns += stretch.ns;
        self.took_over_ns += stretch.ns;
    }
}

impl HelperTime {
    pub(crate) fn record(&mut self, clock: &Clock, start: Instant, end: Instant) {
        if self.executed.txs == 0 {
            self.first_start_ns = clock.offset(start);
        }
        self.executed.add(end.saturating_duration_since(start));
        self.last_end_ns = clock.offset(end);
    }
}
