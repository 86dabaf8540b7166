//! The parallel executor's helper threads: started once, kept across blocks, woken early, and
//! waited for only while they run.
//!
//! Why not a rayon scope (what the executor used before): a scope returns only once every job
//! spawned in it has run, so a helper thread that had not woken up yet when the committer
//! finished the block held the block up; under a burst of VM load one run of 4,369,999 read
//! 0.28× that way. Here a job is owned (`Arc`), not borrowed: the committer withdraws a job no
//! helper has taken, waits for a helper running its job only while that helper is on a core,
//! and leaves one that lost its core (exec/cpu_clock.rs) to finish on its own time. With
//! another busy process beside `coevm run` on two cores, the scheduler takes a helper off its
//! core for whole time slices (2–5 ms measured), and waiting for it to come back and finish
//! made blocks run at 0.4–0.6× sequential. A helper still on an earlier block's job is not
//! leased to the next block, which then runs with the helpers that are free (or on its
//! committer alone). And the committer wakes the helpers first thing in a block that may go
//! parallel, so their wake-up (a parked thread took 50–140 µs to start on this VM) overlaps
//! the committer's own setup rather than following it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use super::cpu_clock::{CpuClock, StallWatch};

/// What each helper runs, given its index among the block's helpers.
pub(crate) type Job = dyn Fn(usize) + Send + Sync;

/// A seat's states.
const IDLE: u8 = 0;
/// Leased to a block, its job not posted yet.
const LEASED: u8 = 1;
/// A job is posted: its helper may take it, or the committer withdraw it.
const POSTED: u8 = 2;
/// Its helper took the job and is running it.
const RUNNING: u8 = 3;

/// How long a woken helper spins for a job before it parks again: far longer than the
/// committer's setup (tens of microseconds), short enough not to keep a core busy for a block
/// that then runs on the committer alone (it also calls the helpers off, see [`Lease`]).
const WOKEN_SPIN: Duration = Duration::from_millis(1);

/// One helper thread's place: where its job is posted.
struct Seat {
    state: AtomicU8,
    /// The posted job and the index its helper runs it as. Written (with `posted` counted)
    /// and taken under the lock, and withdrawn under it only while `posted` is still the
    /// withdrawing lease's, so a withdrawal cannot take a later block's job.
    job: Mutex<Option<(Arc<Job>, usize)>>,
    /// The helper parked (or is about to): wake it with `unpark`.
    parked: AtomicBool,
    /// The helper thread's CPU-time clock, set as it starts (see exec/cpu_clock.rs).
    clock: OnceLock<Option<CpuClock>>,
    /// Jobs posted to this seat so far: tells a lease's own job from a later block's.
    posted: AtomicU64,
}

impl Seat {
    /// Wakes the seat's helper if it parked (or is about to): called after a store it must
    /// see, both SeqCst, so that either it sees the store or this sees `parked`.
    fn unpark_if_parked(&self, thread: &Thread) {
        if self.parked.load(Ordering::SeqCst) {
            thread.unpark();
        }
    }

    fn job(&self) -> std::sync::MutexGuard<'_, Option<(Arc<Job>, usize)>> {
        self.job.lock().unwrap_or_else(|p| p.into_inner())
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
}

impl HelperPool {
    /// Starts `helpers` threads, parked until a block needs them.
    pub fn new(helpers: usize) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            seats: (0..helpers)
                .map(|_| Seat {
                    state: AtomicU8::new(IDLE),
                    job: Mutex::new(None),
                    parked: AtomicBool::new(false),
                    clock: OnceLock::new(),
                    posted: AtomicU64::new(0),
                })
                .collect(),
            wanted_until: AtomicU64::new(0),
            epoch: Instant::now(),
            shutdown: AtomicBool::new(false),
        });
        let mut pool = Self { inner: inner.clone(), threads: Vec::new(), handles: Vec::new() };
        for helper in 0..helpers {
            let inner = inner.clone();
            let handle = std::thread::Builder::new()
                .name(format!("coevm-helper-{helper}"))
                .spawn(move || serve(&inner, helper))?;
            pool.threads.push(handle.thread().clone());
            pool.handles.push(handle);
        }
        // Each thread sets its CPU-time clock first thing: wait for that (once per executor),
        // so a block leased right away can tell when its helpers lose their cores.
        for seat in &inner.seats {
            while seat.clock.get().is_none() {
                std::thread::yield_now();
            }
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

    /// Up to `wanted` helpers for one block, among those free: none that another block holds,
    /// or that is still finishing an earlier block's job (the block then runs with fewer, or
    /// on its committer alone, to the same result).
    pub fn lease(&self, wanted: usize) -> Lease<'_> {
        if wanted == 0 {
            // Woken for nothing (the block runs on its committer alone): back to sleep.
            self.inner.wanted_until.store(0, Ordering::SeqCst);
        }
        let free = |seat: &Seat| seat.state.compare_exchange(IDLE, LEASED, Ordering::AcqRel, Ordering::Acquire).is_ok();
        let seats = (0..self.inner.seats.len()).filter(|&s| free(&self.inner.seats[s])).take(wanted).collect();
        Lease { pool: self, seats, posted: Vec::new() }
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

/// Helpers held for one block: the seats it leased.
pub(crate) struct Lease<'p> {
    pool: &'p HelperPool,
    seats: Vec<usize>,
    /// Each seat's post count once this lease posted its job there.
    posted: Vec<u64>,
}

impl Lease<'_> {
    pub fn helpers(&self) -> usize {
        self.seats.len()
    }

    /// Each leased helper's CPU-time clock (none where it cannot be read: such a helper is
    /// never found stalled).
    pub fn cpu_clocks(&self) -> Vec<Option<CpuClock>> {
        let clock = |&s: &usize| self.pool.inner.seats[s].clock.get().copied().flatten();
        self.seats.iter().map(clock).collect()
    }

    /// Runs `main` on this thread while each leased helper runs `job(helper)`. Returns once
    /// `main` has returned and every helper that took its job has finished it, or has lost its
    /// core (see exec/cpu_clock.rs): that one finishes on its own time (the job owns what it
    /// uses). A job no helper had taken is withdrawn and never runs.
    pub fn run<R>(mut self, job: Arc<Job>, main: impl FnOnce() -> R) -> R {
        let inner = &*self.pool.inner;
        for (helper, &s) in self.seats.iter().enumerate() {
            let seat = &inner.seats[s];
            let mut posted = seat.job();
            *posted = Some((job.clone(), helper));
            // (Counted under the lock, where a withdrawal compares it: see `Drop`.)
            self.posted.push(seat.posted.fetch_add(1, Ordering::Relaxed) + 1);
            seat.state.store(POSTED, Ordering::SeqCst);
            drop(posted);
            seat.unpark_if_parked(&self.pool.threads[s]);
        }
        drop(job);
        main()
        // (Dropping the lease withdraws what was not taken, even if `main` panics.)
    }
}

impl Drop for Lease<'_> {
    /// Withdraws the jobs no helper took, gives back seats never posted to, and waits for the
    /// helpers running their jobs while they run (a helper gives its seat back when it is
    /// done). Waiting for a running helper keeps the block's own work (the helper frees what
    /// the committer gave back) inside the block's time; waiting for a descheduled one would
    /// cost a time slice.
    fn drop(&mut self) {
        let inner = &*self.pool.inner;
        inner.wanted_until.store(0, Ordering::SeqCst);
        for (i, &s) in self.seats.iter().enumerate() {
            let seat = &inner.seats[s];
            let posted = self.posted.get(i).copied();
            let mut job = seat.job();
            // Only what is still this lease's: a helper done with this lease's job early gave
            // its seat back, and another block may hold it now (a later post, or LEASED again).
            let untaken = match posted {
                Some(posted) => {
                    seat.posted.load(Ordering::Relaxed) == posted
                        && seat.state.compare_exchange(POSTED, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok()
                }
                None => seat.state.compare_exchange(LEASED, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok(),
            };
            if untaken {
                // (Dropped after the lock, like the job a helper takes: not while holding it.)
                let withdrawn = job.take();
                drop(job);
                drop(withdrawn);
                continue;
            }
            drop(job);
            let Some(posted) = posted else { continue };
            let clock = seat.clock.get().copied().flatten();
            let mut watch = StallWatch::new();
            let mut spins = 0u32;
            // (Until it is IDLE, or running a later block's job.)
            while seat.state.load(Ordering::Acquire) == RUNNING && seat.posted.load(Ordering::Relaxed) == posted {
                if spins >= 256 && clock.is_some_and(|clock| watch.stalled(&clock)) {
                    break;
                }
                spin_then_yield(&mut spins, 256);
            }
        }
    }
}

/// A helper thread: takes its seat's job when one is posted; between jobs it spins while the
/// helpers are wanted and parks otherwise.
fn serve(inner: &Inner, helper: usize) {
    let seat = &inner.seats[helper];
    let _ = seat.clock.set(CpuClock::of_this_thread());
    let mut spins = 0u32;
    loop {
        if seat.state.load(Ordering::Acquire) == POSTED
            && seat.state.compare_exchange(POSTED, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            // Taken under the lock; posted before the state went POSTED, and not withdrawn
            // since (withdrawing needs the state still POSTED).
            let taken = seat.job().take();
            if let Some((job, index)) = taken {
                // A panic is the job's to report (the committer treats a missing result as
                // failed speculation); the thread stays to serve later blocks.
                let _ = catch_unwind(AssertUnwindSafe(|| job(index)));
            }
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

    /// Waits for `condition`; a regression fails the test after 10 s rather than hang it.
    fn until(condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "still waiting after 10 s");
            std::thread::yield_now();
        }
    }

    /// A lease of `helpers` helpers, once each is free (a helper may still be leaving an
    /// earlier job).
    fn lease_all(pool: &HelperPool, helpers: usize) -> Lease<'_> {
        loop {
            let lease = pool.lease(helpers);
            if lease.helpers() == helpers {
                return lease;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn every_leased_helper_runs_the_job_once_beside_main() {
        let pool = HelperPool::new(3).unwrap();
        for round in 0..50 {
            if round % 2 == 0 {
                pool.wake();
            }
            let lease = lease_all(&pool, 3);
            let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
            let job = {
                let seen = seen.clone();
                Arc::new(move |helper: usize| {
                    seen[helper].fetch_add(1, Ordering::Relaxed);
                })
            };
            // Main waits until all three ran: none is withdrawn.
            lease.run(job, || until(|| seen.iter().all(|s| s.load(Ordering::Relaxed) >= 1)));
            assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn a_job_whose_helper_lost_its_core_is_not_waited_for_nor_its_helper_leased() {
        let pool = HelperPool::new(1).unwrap();
        let started = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let job = {
            let (started, release, finished) = (started.clone(), release.clone(), finished.clone());
            Arc::new(move |_| {
                started.store(true, Ordering::Release);
                // Asleep, as a thread the scheduler took off its core.
                while !release.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                finished.store(true, Ordering::Release);
            })
        };
        // Main returns once the job has started; `run` returns with it still running.
        pool.lease(1).run(job, || until(|| started.load(Ordering::Acquire)));
        assert!(!finished.load(Ordering::Acquire));
        assert_eq!(pool.lease(1).helpers(), 0, "a helper still on a job was leased");
        release.store(true, Ordering::Release);
        until(|| pool.lease(1).helpers() == 1);
        assert!(finished.load(Ordering::Acquire));
    }

    #[test]
    fn a_job_no_helper_took_is_withdrawn_and_dropped() {
        let pool = HelperPool::new(1).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..200 {
            let before = ran.load(Ordering::Relaxed);
            let job = {
                let ran = ran.clone();
                Arc::new(move |_| {
                    ran.fetch_add(1, Ordering::Relaxed);
                })
            };
            // Main returns at once: the helper runs the job, or it is withdrawn.
            pool.lease(1).run(job, || ());
            // Once the seat is free again, nobody holds the job any more: run or withdrawn,
            // it was dropped, and it ran at most once.
            until(|| pool.lease(1).helpers() == 1);
            assert_eq!(Arc::strong_count(&ran), 1);
            assert!(ran.load(Ordering::Relaxed) - before <= 1, "a job ran twice");
        }
    }

    #[test]
    fn a_lease_whose_helper_finished_early_leaves_the_next_blocks_job_alone() {
        let pool = HelperPool::new(1).unwrap();
        for round in 0..200 {
            let (b_posted, b_ran) = (AtomicBool::new(false), Arc::new(AtomicBool::new(false)));
            std::thread::scope(|scope| {
                // Block B, on another thread, gets the helper once it is done with A's job.
                scope.spawn(|| {
                    let lease = lease_all(&pool, 1);
                    let ran = b_ran.clone();
                    let job = Arc::new(move |_| ran.store(true, Ordering::Release));
                    lease.run(job, || {
                        b_posted.store(true, Ordering::Release);
                        let deadline = Instant::now() + Duration::from_secs(5);
                        while !b_ran.load(Ordering::Acquire) && Instant::now() < deadline {
                            std::thread::yield_now();
                        }
                    });
                });
                // Block A's job returns at once; A ends only after B posted, and its lease
                // must not withdraw B's job from the seat it gave back.
                pool.lease(1).run(Arc::new(|_| ()), || until(|| b_posted.load(Ordering::Acquire)));
            });
            assert!(b_ran.load(Ordering::Acquire), "round {round}: the next block's job was withdrawn");
        }
    }

    #[test]
    fn a_second_block_gets_only_free_helpers_and_a_panic_is_contained() {
        let pool = HelperPool::new(2).unwrap();
        let first = pool.lease(1);
        assert_eq!(first.helpers(), 1);
        let second = pool.lease(2);
        assert_eq!(second.helpers(), 1);
        assert_eq!(pool.lease(1).helpers(), 0);
        drop((first, second));
        // Both helpers take the job and panic in it (main waits until they have started).
        let started = Arc::new(AtomicUsize::new(0));
        let job: Arc<Job> = {
            let started = started.clone();
            Arc::new(move |_| {
                started.fetch_add(1, Ordering::SeqCst);
                panic!("a helper's job panicked")
            })
        };
        lease_all(&pool, 2).run(job, || until(|| started.load(Ordering::SeqCst) == 2));
        // The threads survived and serve the next block.
        let ran = Arc::new(AtomicUsize::new(0));
        let job = {
            let ran = ran.clone();
            Arc::new(move |_| {
                ran.fetch_add(1, Ordering::Relaxed);
            })
        };
        let lease = lease_all(&pool, 2);
        lease.run(job, || until(|| ran.load(Ordering::Relaxed) == 2));
    }
}
