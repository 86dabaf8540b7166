//! The parallel executor's helper threads: started once, kept across blocks, woken early, and
//! never waited for unless they are working on the block.
//!
//! Why not a rayon scope (what the executor used before): a scope returns only once every job
//! spawned in it has run, so a helper thread that had not woken up yet when the committer
//! finished the block held the block up; under a burst of VM load one run of 4,369,999 read
//! 0.28× that way. Here the committer withdraws a job no helper has taken, and waits only for a
//! helper that is running it. And the committer wakes the helpers first thing in a block that
//! may go parallel, so their wake-up (a parked thread took 50–140 µs to start on this VM)
//! overlaps the committer's own setup rather than following it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

/// What each helper runs, given its index: borrowed from the caller of [`Lease::run`].
pub(crate) type Job<'a> = dyn Fn(usize) + Sync + 'a;

/// A seat's states.
const IDLE: u8 = 0;
/// A job is posted: its helper may take it, or the committer withdraw it.
const POSTED: u8 = 1;
/// Its helper took the job and is running it.
const RUNNING: u8 = 2;

/// How long a woken helper spins for a job before it parks again: far longer than the
/// committer's setup (tens of microseconds), short enough not to keep a core busy for a block
/// that then runs on the committer alone (it also calls the helpers off, see [`Lease`]).
const WOKEN_SPIN: Duration = Duration::from_millis(1);

/// One helper thread's place: where its job is posted.
struct Seat {
    state: AtomicU8,
    /// While `POSTED` or `RUNNING`: a `&Job` on the stack of the thread in [`Lease::run`].
    job: AtomicPtr<()>,
    /// The helper parked (or is about to): wake it with `unpark`.
    parked: AtomicBool,
}

impl Seat {
    /// Wakes the seat's helper if it parked (or is about to): called after a store it must
    /// see, both SeqCst, so that either it sees the store or this sees `parked`.
    fn unpark_if_parked(&self, thread: &Thread) {
        if self.parked.load(Ordering::SeqCst) {
            thread.unpark();
        }
    }
}

/// Waiting on another thread without sleeping: spin `spin_rounds` rounds, then yield (with
/// more threads than cores the other may need this very core).
fn spin_then_yield(spins: &mut u32, spin_rounds: u32) {
    *spins += 1;
    if *spins < spin_rounds { std::hint::spin_loop() } else { std::thread::yield_now() }
}

struct Inner {
    seats: Vec<Seat>,
    /// Helpers spin for a job rather than park until then (nanoseconds since `epoch`).
    wanted_until: AtomicU64,
    epoch: Instant,
    shutdown: AtomicBool,
}

impl Inner {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// The helper threads of one executor.
pub(crate) struct HelperPool {
    inner: Arc<Inner>,
    threads: Vec<Thread>,
    handles: Vec<JoinHandle<()>>,
    /// One block at a time has the helpers.
    lease: Mutex<()>,
}

impl HelperPool {
    /// Starts `helpers` threads, parked until a block needs them.
    pub fn new(helpers: usize) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            seats: (0..helpers)
                .map(|_| Seat { state: AtomicU8::new(IDLE), job: AtomicPtr::default(), parked: AtomicBool::new(false) })
                .collect(),
            wanted_until: AtomicU64::new(0),
            epoch: Instant::now(),
            shutdown: AtomicBool::new(false),
        });
        let mut pool = Self { inner: inner.clone(), threads: Vec::new(), handles: Vec::new(), lease: Mutex::new(()) };
        for helper in 0..helpers {
            let inner = inner.clone();
            let handle = std::thread::Builder::new()
                .name(format!("coevm-helper-{helper}"))
                .spawn(move || serve(&inner, helper))?;
            pool.threads.push(handle.thread().clone());
            pool.handles.push(handle);
        }
        Ok(pool)
    }

    /// Wakes the helpers to spin for a job for a while (see [`WOKEN_SPIN`]): called as a block
    /// starts that may go parallel, before the committer decides and sets up.
    pub fn wake(&self) {
        let until = self.inner.now() + WOKEN_SPIN.as_nanos() as u64;
        self.inner.wanted_until.store(until, Ordering::SeqCst);
        for (seat, thread) in self.inner.seats.iter().zip(&self.threads) {
            seat.unpark_if_parked(thread);
        }
    }

    /// Up to `wanted` helpers for one block: none if another block has them (it then runs on
    /// its committer alone, to the same result).
    pub fn lease(&self, wanted: usize) -> Lease<'_> {
        let wanted = wanted.min(self.inner.seats.len());
        let guard = match wanted {
            0 => {
                // Woken for nothing (the block runs on its committer alone): back to sleep.
                self.inner.wanted_until.store(0, Ordering::SeqCst);
                None
            }
            _ => match self.lease.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            },
        };
        let helpers = if guard.is_some() { wanted } else { 0 };
        Lease { pool: self, helpers, _guard: guard }
    }
}

impl Drop for HelperPool {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        for thread in &self.threads {
            thread.unpark();
        }
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

/// Helpers held for one block.
pub(crate) struct Lease<'p> {
    pool: &'p HelperPool,
    helpers: usize,
    _guard: Option<MutexGuard<'p, ()>>,
}

impl Lease<'_> {
    pub fn helpers(&self) -> usize {
        self.helpers
    }

    /// Runs `main` on this thread while each leased helper runs `job(helper)`. Returns once
    /// `main` has returned and every helper that took its job has finished it; a job a helper
    /// had not taken by then is withdrawn and never runs.
    pub fn run<R>(self, job: &Job<'_>, main: impl FnOnce() -> R) -> R {
        let inner = &*self.pool.inner;
        let seats = &inner.seats[..self.helpers];
        // `withdraw` (declared after `job_ref`, so dropped before it, even if `main` panics)
        // returns only once no helper can still reach `job_ref`: the pointer posted below.
        let job_ref: &Job<'_> = job;
        let withdraw = Withdraw { inner, seats };
        let posted = (&raw const job_ref).cast::<()>().cast_mut();
        for (seat, thread) in seats.iter().zip(&self.pool.threads) {
            seat.job.store(posted, Ordering::Relaxed);
            seat.state.store(POSTED, Ordering::SeqCst);
            seat.unpark_if_parked(thread);
        }
        let result = main();
        drop(withdraw);
        result
    }
}

/// Takes back the jobs no helper took, and waits for the helpers running theirs.
struct Withdraw<'a> {
    inner: &'a Inner,
    seats: &'a [Seat],
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.inner.wanted_until.store(0, Ordering::SeqCst);
        for seat in self.seats {
            if seat.state.compare_exchange(POSTED, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                continue; // never taken: withdrawn
            }
            let mut spins = 0u32;
            while seat.state.load(Ordering::Acquire) != IDLE {
                spin_then_yield(&mut spins, 256);
            }
        }
    }
}

/// A helper thread: takes its seat's job when one is posted; between jobs it spins while the
/// helpers are wanted and parks otherwise.
fn serve(inner: &Inner, helper: usize) {
    let seat = &inner.seats[helper];
    let mut spins = 0u32;
    loop {
        if seat.state.load(Ordering::Acquire) == POSTED
            && seat.state.compare_exchange(POSTED, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            let job = seat.job.load(Ordering::Relaxed).cast_const().cast::<&Job<'static>>();
            // SAFETY: a posted pointer is a `&Job` on the stack of the thread in `Lease::run`,
            // which does not return (nor unwind past that reference) before `Withdraw` has
            // seen this seat go back to IDLE, which it does only after this call. The
            // `'static` is a stand-in for that borrow, which does not outlive the call.
            let job: &Job<'static> = unsafe { *job };
            // A panic is the job's to report (the committer treats a missing result as failed
            // speculation); the thread stays to serve later blocks.
            let _ = catch_unwind(AssertUnwindSafe(|| job(helper)));
            seat.state.store(IDLE, Ordering::Release);
            spins = 0;
            continue;
        }
        if inner.shutdown.load(Ordering::Acquire) {
            return;
        }
        if inner.now() < inner.wanted_until.load(Ordering::Relaxed) {
            spin_then_yield(&mut spins, 64);
            continue;
        }
        // Park, unless a job or a wake-up came after the checks above (the poster sees
        // `parked` and unparks, or this sees its post: SeqCst on both sides).
        seat.parked.store(true, Ordering::SeqCst);
        let wanted = inner.now() < inner.wanted_until.load(Ordering::SeqCst);
        if seat.state.load(Ordering::SeqCst) != POSTED && !wanted && !inner.shutdown.load(Ordering::SeqCst) {
            std::thread::park();
        }
        seat.parked.store(false, Ordering::SeqCst);
        spins = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_leased_helper_runs_the_job_once_beside_main() {
        let pool = HelperPool::new(3).unwrap();
        for round in 0..50 {
            if round % 2 == 0 {
                pool.wake();
            }
            let ran = AtomicUsize::new(0);
            let seen: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            let lease = pool.lease(3);
            assert_eq!(lease.helpers(), 3);
            let job = |helper: usize| {
                seen[helper].fetch_add(1, Ordering::Relaxed);
                ran.fetch_add(1, Ordering::Relaxed);
            };
            // Main waits until all three ran: none is withdrawn.
            lease.run(&job, || {
                while ran.load(Ordering::Relaxed) < 3 {
                    std::thread::yield_now()
                }
            });
            assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn a_job_no_helper_took_is_withdrawn_and_a_running_one_is_waited_for() {
        let pool = HelperPool::new(1).unwrap();
        // Main returns at once: the helper either never runs the job or runs it to the end
        // before `run` returns; either way nothing runs after.
        for _ in 0..200 {
            let finished = AtomicBool::new(false);
            let started = AtomicBool::new(false);
            let job = |_| {
                started.store(true, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(50));
                finished.store(true, Ordering::Relaxed);
            };
            pool.lease(1).run(&job, || ());
            assert_eq!(started.load(Ordering::Relaxed), finished.load(Ordering::Relaxed));
        }
    }

    #[test]
    fn a_second_block_gets_no_helpers_while_the_first_holds_them_and_a_panic_is_contained() {
        let pool = HelperPool::new(1).unwrap();
        let first = pool.lease(1);
        assert_eq!(first.helpers(), 1);
        assert_eq!(pool.lease(1).helpers(), 0);
        drop(first);
        let job = |_| panic!("a helper's job panicked");
        pool.lease(1).run(&job, || std::thread::sleep(Duration::from_millis(5)));
        // The thread survived and serves the next block.
        let ran = AtomicBool::new(false);
        pool.lease(1).run(&|_| ran.store(true, Ordering::Relaxed), || {
            while !ran.load(Ordering::Relaxed) {
                std::thread::yield_now()
            }
        });
    }
}
