//! Another thread's CPU time: tells a helper that is running from one that lost its core.
//!
//! A committer waiting for a helper's transaction cannot see inside revm's interpreter, but it
//! can see whether the helper's thread is getting CPU time at all. With more runnable threads
//! than cores (any other load on a 2-core machine), the scheduler takes a helper off its core
//! for whole time slices, milliseconds each, while the committer waits for a transaction of
//! tens of microseconds. Measured from outside, such a helper's CPU time stands still.

use std::time::{Duration, Instant};

/// A thread's CPU-time clock, readable from any thread of the process (Linux; elsewhere
/// [`CpuClock::of_this_thread`] gives none, and nobody is ever found stalled).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuClock {
    #[cfg(target_os = "linux")]
    id: libc::clockid_t,
}

impl CpuClock {
    /// The calling thread's clock.
    pub fn of_this_thread() -> Option<Self> {
        #[cfg(target_os = "linux")]
        {
            let mut id: libc::clockid_t = 0;
            // SAFETY: `pthread_self` is the calling thread, alive; `id` is a valid out pointer.
            let failed = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
            (failed == 0).then_some(CpuClock { id })
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// CPU time the thread has run so far; none if it cannot be read (a thread that exited).
    pub fn read(&self) -> Option<Duration> {
        #[cfg(target_os = "linux")]
        {
            let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: `time` is a valid out pointer; an invalid clock id is an error, not UB.
            let failed = unsafe { libc::clock_gettime(self.id, &mut time) };
            (failed == 0).then(|| Duration::new(time.tv_sec as u64, time.tv_nsec as u32))
        }
        #[cfg(not(target_os = "linux"))]
        None
    }
}

/// Wall time over which a thread must run less than a quarter of the time to count as
/// having lost its core. Short against a scheduler's time slice (milliseconds), long against
/// reading the clock (a system call, under a microsecond) and its granularity.
pub(crate) const STALL_WINDOW: Duration = Duration::from_micros(100);

/// Watches a thread over windows of wall time: stalled when, over a whole window, it ran on
/// a core for less than a quarter of it. A helper executing a transaction never reads so (its
/// thread runs all the time it is executing); a descheduled one reads so within a window.
pub(crate) struct StallWatch {
    window: Duration,
    /// The current window's start: wall time and the thread's CPU time.
    since: Option<(Instant, Duration)>,
}

impl StallWatch {
    /// Over windows of [`STALL_WINDOW`].
    pub fn new() -> Self {
        Self::with_window(STALL_WINDOW)
    }

    pub fn with_window(window: Duration) -> Self {
        Self { window, since: None }
    }

    /// Checks `clock`'s thread now: true once a whole window has passed with it mostly off
    /// its core. Cheap enough to call on every round of a wait that yields (a system call).
    pub fn stalled(&mut self, clock: &CpuClock) -> bool {
        let Some(cpu) = clock.read() else { return false };
        let now = Instant::now();
        let Some((wall_start, cpu_start)) = self.since else {
            self.since = Some((now, cpu));
            return false;
        };
        let wall = now.duration_since(wall_start);
        if wall < self.window {
            return false;
        }
        self.since = Some((now, cpu));
        cpu.saturating_sub(cpu_start) * 4 < wall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_sleeping_thread_is_stalled_and_a_busy_one_is_not() {
        use std::sync::atomic::{AtomicU8, Ordering};
        use std::sync::mpsc;
        const SPIN: u8 = 0;
        const SLEEP: u8 = 1;
        const STOP: u8 = 2;
        let window = Duration::from_millis(5);
        let (send, receive) = mpsc::channel();
        let phase = AtomicU8::new(SPIN);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                send.send(CpuClock::of_this_thread().unwrap()).unwrap();
                // Busy until told otherwise (not for a fixed time: a loaded machine may
                // stretch the watcher's sleeps), then asleep.
                while phase.load(Ordering::Relaxed) == SPIN {
                    std::hint::spin_loop();
                }
                while phase.load(Ordering::Relaxed) == SLEEP {
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            // Ends the spinner however this closure ends: a failed assertion must fail the
            // test, not hang it (the scope waits for the spinner).
            struct StopOnDrop<'a>(&'a AtomicU8);
            impl Drop for StopOnDrop<'_> {
                fn drop(&mut self) {
                    self.0.store(STOP, Ordering::Relaxed);
                }
            }
            let _stop = StopOnDrop(&phase);
            let clock = receive.recv().unwrap();
            // While it spins it runs on a core most of the time: a window reads stalled only
            // if other threads took its core for three quarters of it (tests run in parallel
            // on a 2-core CI machine: some may; not all six).
            let stalled_windows = (0..6)
                .map(|_| {
                    let mut watch = StallWatch::with_window(window);
                    assert!(!watch.stalled(&clock), "the first look starts a window");
                    std::thread::sleep(window + Duration::from_millis(1));
                    watch.stalled(&clock)
                })
                .filter(|&stalled| stalled)
                .count();
            assert!(stalled_windows < 6, "a spinning thread read stalled in every window");
            phase.store(SLEEP, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
            let mut watch = StallWatch::with_window(window);
            assert!(!watch.stalled(&clock));
            std::thread::sleep(window + Duration::from_millis(1));
            assert!(watch.stalled(&clock), "a sleeping thread did not read stalled");
        });
    }
}
