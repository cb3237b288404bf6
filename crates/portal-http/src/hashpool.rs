//! The bounded password-hashing pool (SPEC §8): Argon2id and zxcvbn run on
//! blocking threads, never on the async workers, at most `workers` at a
//! time, with at most `queue` more waiting. A request that finds the pool
//! full waits for room at most `wait` (holding nothing but its connection,
//! in arrival order), then is answered `Overloaded` (`503` + `Retry-After`):
//! the queue is bounded by count where it holds work and by time where it
//! holds only waiting requests, so memory stays bounded however many logins
//! arrive, and a flood that ignores `Retry-After` is answered at the pace the
//! cores hash instead of being turned away in a busy loop.
//!
//! A login takes its room in the pool *before* any database work
//! ([`HashPool::admit`], then [`HashPool::admitted`] around the use case): a
//! login the pool cannot take is refused without reading its account, so
//! refusing costs next to nothing while the cores hash for the logins that
//! got in (SPEC §8: cheap refusal).

use std::future::Future;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portal_domain::hashing::Argon2Hasher;
use portal_domain::password_policy::{PasswordPolicy, PolicyContext, PolicyViolations};
use portal_domain::ports::{HashError, PasswordHasher, Verification};
use portal_domain::values::{Password, PasswordHash, SecurityAnswer};
use time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::metrics::Metrics;

/// How long a client should wait after `Overloaded` (SPEC: at most 5 s).
const RETRY_AFTER: Duration = Duration::seconds(1);

type Job = Box<dyn FnOnce(&Argon2Hasher) + Send>;

/// [`PasswordHasher`] on a fixed set of worker threads fed by a bounded
/// queue. Dedicated threads (not tokio's blocking pool, which grows to
/// hundreds of threads) keep the allocator's per-thread arenas, and so the
/// memory of Argon2's 19 MiB blocks, to `workers` of them.
#[derive(Debug, Clone)]
pub struct HashPool {
    queue: SyncSender<Job>,
    /// One permit per job the pool may hold at once (`workers + queue`):
    /// the bound, taken before a job is built, or by a login before its
    /// database work.
    room: Arc<Semaphore>,
    /// How long a request waits for room before it is refused.
    wait: std::time::Duration,
    metrics: Metrics,
}

tokio::task_local! {
    /// Set while an admitted login runs: its hashing uses the room it was
    /// admitted with instead of taking more.
    static ADMITTED: ();
}

/// Room in the pool taken by a login before its database work; released
/// when the login ends.
#[derive(Debug)]
pub struct Admission {
    _room: OwnedSemaphorePermit,
}

impl HashPool {
    pub fn new(
        hasher: Argon2Hasher,
        workers: usize,
        queue: usize,
        wait: std::time::Duration,
        metrics: Metrics,
    ) -> Self {
        // The semaphore bounds the jobs; the channel is wide enough never to
        // be the tighter bound (an admitted login's rehash may add one).
        let workers = workers.max(1);
        let (sender, receiver) = sync_channel::<Job>(queue + workers);
        let receiver = Arc::new(Mutex::new(receiver));
        let hasher = Arc::new(hasher);
        let mut cores = one_core_each(workers).into_iter();
        for n in 0..workers {
            let (receiver, hasher, metrics) =
                (Arc::clone(&receiver), Arc::clone(&hasher), metrics.clone());
            let core = cores.next();
            let spawned = std::thread::Builder::new()
                .name(format!("hash-{n}"))
                .spawn(move || {
                    if let Some(core) = core {
                        pin_to(core);
                    }
                    work(&receiver, &hasher, &metrics);
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a hashing thread");
            }
        }
        Self {
            queue: sender,
            room: Arc::new(Semaphore::new(workers + queue)),
            wait,
            metrics,
        }
    }

    /// Takes room for one login's hashing, waiting at most the pool's wait
    /// for it, before the login reads anything; refuses when none came.
    pub async fn admit(&self) -> Result<Admission, HashError> {
        Ok(Admission {
            _room: self.room().await?,
        })
    }

    /// One job's room: at once when there is some, else the first to free
    /// up within `wait` (the semaphore serves waiters in arrival order).
    async fn room(&self) -> Result<OwnedSemaphorePermit, HashError> {
        let room = match Arc::clone(&self.room).try_acquire_owned() {
            Ok(room) => Ok(room),
            Err(_) if self.wait.is_zero() => Err(()),
            Err(_) => {
                let _waiting = Waiting::counted(&self.metrics);
                match tokio::time::timeout(self.wait, Arc::clone(&self.room).acquire_owned()).await
                {
                    Ok(Ok(room)) => Ok(room),
                    Ok(Err(_)) | Err(_) => Err(()),
                }
            }
        };
        room.map_err(|()| {
            self.metrics.hash_rejected();
            HashError::Overloaded {
                retry_after: RETRY_AFTER,
            }
        })
    }

    /// Runs `login` with the room `admission` took: its hashing does not
    /// ask for more.
    pub async fn admitted<F: Future>(admission: Admission, login: F) -> F::Output {
        let output = ADMITTED.scope((), login).await;
        drop(admission);
        output
    }

    /// Runs `job` on a hashing thread, or refuses when no room came within
    /// the pool's wait.
    async fn run<T, F>(&self, job: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&Argon2Hasher) -> T + Send + 'static,
    {
        // Room for this job, unless the request was admitted with it.
        let _room = if ADMITTED.try_with(|()| ()).is_ok() {
            None
        } else {
            Some(self.room().await?)
        };
        let (done, result) = oneshot::channel();
        // The request's span follows the job, so its log lines keep the request id.
        let span = tracing::Span::current();
        let job: Job = Box::new(move |hasher| {
            // A request that ended while its job waited (the client gave up
            // or timed out) gets no hashing: under overload, the cores go to
            // requests that someone still waits for.
            if done.is_closed() {
                return;
            }
            let _ = done.send(span.in_scope(|| job(hasher)));
        });
        self.metrics.hash_queue_changed(1);
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.metrics.hash_queue_changed(-1);
                self.metrics.hash_rejected();
                return Err(HashError::Overloaded {
                    retry_after: RETRY_AFTER,
                });
            }
            Err(TrySendError::Disconnected(_)) => {
                self.metrics.hash_queue_changed(-1);
                return Err(HashError::Failed("the hash pool is closed".to_owned()));
            }
        }
        result
            .await
            .map_err(|_| HashError::Failed("a hashing thread stopped".to_owned()))
    }
}

/// One request waiting for room, counted in `portal_hash_pool_waiting`
/// until it gets room, is refused or goes away.
struct Waiting<'a>(&'a Metrics);

impl<'a> Waiting<'a> {
    fn counted(metrics: &'a Metrics) -> Self {
        metrics.hash_waiting_changed(1);
        Self(metrics)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.hash_waiting_changed(-1);
    }
}

/// A hashing thread: takes jobs until the pool is dropped.
fn work(receiver: &Mutex<Receiver<Job>>, hasher: &Argon2Hasher, metrics: &Metrics) {
    yield_to_requests();
    loop {
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        metrics.hash_queue_changed(-1);
        job(hasher);
    }
}

/// Puts the calling hashing thread under `SCHED_IDLE`: it runs when nothing
/// else wants the core, and any waking request thread or database process
/// preempts it at once. When the hash pool saturates the cores, requests that
/// need microseconds of CPU (`/me`) keep their latency; hashing still gets
/// every cycle the rest leaves, so login throughput does not change. (On a
/// host shared with other CPU-bound work, hashing yields to it as well.)
fn yield_to_requests() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let lowered = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    );
    if let Err(error) = lowered {
        tracing::warn!(%error, "could not lower the priority of a hashing thread");
    }
}

/// The cores to pin the hashing threads to, one each, when there are exactly
/// as many threads as cores this process may run on (the default pool);
/// none otherwise, and the scheduler places them.
///
/// Why pin: the scheduler's load balancer hardly moves `SCHED_IDLE` threads.
/// Unpinned, both could share one core while the other idled between
/// requests (measured: 1–2 % of the machine idle with the pool saturated;
/// pinned, none).
fn one_core_each(workers: usize) -> Vec<core_affinity::CoreId> {
    core_affinity::get_core_ids()
        .filter(|cores| cores.len() == workers)
        .unwrap_or_default()
}

fn pin_to(core: core_affinity::CoreId) {
    if !core_affinity::set_for_current(core) {
        tracing::warn!(core = core.id, "could not pin a hashing thread to its core");
    }
}

/// Jobs can't borrow from the request; secrets are cloned (they stay
/// wrapped, so `Debug` still redacts them) and dropped with the job.
fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    futures::executor::block_on(future)
}

#[async_trait]
impl PasswordHasher for HashPool {
    async fn hash_password(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let password = password.clone();
        self.run(move |h| block(h.hash_password(&password))).await?
    }

    async fn verify_password(
        &self,
        password: &Password,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        let (password, hash) = (password.clone(), hash.clone());
        self.run(move |h| block(h.verify_password(&password, &hash)))
            .await?
    }

    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError> {
        let password = password.clone();
        self.run(move |h| block(h.verify_dummy(&password))).await?
    }

    async fn hash_answer(&self, answer: &SecurityAnswer) -> Result<PasswordHash, HashError> {
        let answer = answer.clone();
        self.run(move |h| block(h.hash_answer(&answer))).await?
    }

    async fn verify_answer(
        &self,
        answer: &SecurityAnswer,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        let (answer, hash) = (answer.clone(), hash.clone());
        self.run(move |h| block(h.verify_answer(&answer, &hash)))
            .await?
    }

    async fn check_policy(
        &self,
        policy: &PasswordPolicy,
        password: &Password,
        context: &PolicyContext,
    ) -> Result<Result<(), PolicyViolations>, HashError> {
        let (policy, password, context) = (policy.clone(), password.clone(), context.clone());
        self.run(move |_| policy.check(&password, &context)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_domain::hashing::Argon2Settings;

    /// A pool that refuses at once when full.
    fn pool(workers: usize, queue: usize) -> HashPool {
        waiting_pool(workers, queue, std::time::Duration::ZERO)
    }

    fn waiting_pool(workers: usize, queue: usize, wait: std::time::Duration) -> HashPool {
        HashPool::new(
            Argon2Hasher::new(Argon2Settings::minimal(), None).unwrap(),
            workers,
            queue,
            wait,
            Metrics::new(),
        )
    }

    #[tokio::test]
    async fn hashes_off_the_async_threads() {
        let pool = pool(2, 4);
        let password = Password::parse("Quartz-Harbor-71").unwrap();
        let hash = pool.hash_password(&password).await.unwrap();
        assert!(
            pool.verify_password(&password, &hash)
                .await
                .unwrap()
                .is_match()
        );
    }

    #[tokio::test]
    async fn hashing_threads_yield_to_everything_else() {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
        };
        let pool = pool(1, 1);
        let (policy, name) = pool
            .run(|_| {
                let name = std::thread::current().name().map(str::to_owned);
                (thread_schedule_policy(), name)
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("hash-0"));
        assert_eq!(
            policy.unwrap(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
    }

    #[tokio::test]
    async fn one_hashing_thread_per_core_is_pinned_to_its_own_core() {
        let cores = core_affinity::get_core_ids().unwrap();
        let pool = pool(cores.len(), cores.len());
        // Every thread holds a job until all have one: each answers once.
        let gate = Arc::new(std::sync::Barrier::new(cores.len()));
        let jobs = (0..cores.len()).map(|_| {
            let gate = Arc::clone(&gate);
            pool.run(move |_| {
                gate.wait();
                core_affinity::get_core_ids().unwrap()
            })
        });
        let mut pinned: Vec<usize> = futures::future::try_join_all(jobs)
            .await
            .unwrap()
            .into_iter()
            .map(|allowed| {
                assert_eq!(allowed.len(), 1, "a hashing thread may run on {allowed:?}");
                allowed[0].id
            })
            .collect();
        pinned.sort_unstable();
        let mut expected: Vec<usize> = cores.iter().map(|core| core.id).collect();
        expected.sort_unstable();
        assert_eq!(pinned, expected);
    }

    #[tokio::test]
    async fn a_pool_of_another_size_is_left_to_the_scheduler() {
        let cores = core_affinity::get_core_ids().unwrap();
        // More threads than cores (fewer is the same rule, but a one-core
        // machine has no smaller pool).
        let pool = pool(cores.len() + 1, 1);
        let allowed = pool.run(|_| core_affinity::get_core_ids().unwrap()).await;
        assert_eq!(allowed.unwrap().len(), cores.len());
        assert!(one_core_each(cores.len() + 1).is_empty());
        assert!(one_core_each(cores.len().saturating_sub(1)).is_empty());
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_at_once() {
        let pool = pool(1, 1);
        let gate = Arc::new(std::sync::Barrier::new(2));
        let (a, b) = (Arc::clone(&gate), Arc::clone(&gate));
        // One job holds the only worker until the barrier opens; one waits.
        let running = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move |_| a.wait()).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|_| ()).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let refused = pool.run(|_| ()).await;
        assert_eq!(
            refused,
            Err(HashError::Overloaded {
                retry_after: RETRY_AFTER
            })
        );
        b.wait();
        assert!(running.await.unwrap().is_ok());
        assert!(waiting.await.unwrap().is_ok());
        assert!(pool.run(|_| ()).await.is_ok(), "capacity returns");
    }

    #[tokio::test]
    async fn logins_take_their_room_before_any_work_and_hash_within_it() {
        let pool = pool(1, 1);
        let first = pool.admit().await.unwrap();
        let second = pool.admit().await.unwrap();
        // Full: the next login is refused at once, before it reads anything.
        assert_eq!(
            pool.admit().await.err(),
            Some(HashError::Overloaded {
                retry_after: RETRY_AFTER
            })
        );
        // Nor can other hashing squeeze past the admitted logins.
        assert!(pool.run(|_| ()).await.is_err());
        // An admitted login hashes within its own room.
        let hashed = HashPool::admitted(first, async {
            pool.verify_dummy(&Password::parse("Quartz-Harbor-71-Lantern").unwrap())
                .await
        })
        .await;
        assert!(hashed.is_ok());
        // Its room came back when it ended.
        assert!(pool.admit().await.is_ok());
        drop(second);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_login_that_finds_the_pool_full_gets_the_first_room_freed_within_the_wait() {
        let pool = waiting_pool(1, 0, std::time::Duration::from_secs(20));
        let held = pool.admit().await.unwrap();
        // Two logins wait, in arrival order, holding nothing.
        let first = tokio::spawn({
            let pool = pool.clone();
            async move { pool.admit().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let second = tokio::spawn({
            let pool = pool.clone();
            async move { pool.admit().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!first.is_finished() && !second.is_finished());
        assert_eq!(waiting(&pool), 2);
        drop(held);
        let admitted = first.await.unwrap().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "one room, one login admitted");
        assert_eq!(waiting(&pool), 1);
        drop(admitted);
        assert!(second.await.unwrap().is_ok());
        assert_eq!(waiting(&pool), 0);
    }

    /// `portal_hash_pool_waiting` as `/metrics` shows it.
    fn waiting(pool: &HashPool) -> i64 {
        pool.metrics
            .render()
            .lines()
            .find_map(|line| line.strip_prefix("portal_hash_pool_waiting "))
            .and_then(|value| value.trim().parse().ok())
            .expect("the waiting gauge")
    }

    #[tokio::test]
    async fn a_login_is_refused_when_no_room_frees_within_the_wait() {
        let wait = std::time::Duration::from_millis(200);
        let pool = waiting_pool(1, 0, wait);
        let _held = pool.admit().await.unwrap();
        #[allow(
            clippy::disallowed_methods,
            reason = "the wait before the refusal is what the test measures"
        )]
        let started = std::time::Instant::now();
        assert_eq!(
            pool.admit().await.err(),
            Some(HashError::Overloaded {
                retry_after: RETRY_AFTER
            })
        );
        let waited = started.elapsed();
        assert!(waited >= wait, "refused after {waited:?}, before the wait");
        // Other hashing waits the same way and is refused the same way.
        assert!(pool.run(|_| ()).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_login_that_stops_waiting_leaves_no_claim_on_the_room() {
        let pool = waiting_pool(1, 0, std::time::Duration::from_secs(20));
        let held = pool.admit().await.unwrap();
        let gone = tokio::spawn({
            let pool = pool.clone();
            async move { pool.admit().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        assert_eq!(
            waiting(&pool),
            0,
            "a request that went away no longer waits"
        );
        drop(held);
        assert!(
            pool.room.available_permits() == 1 && pool.admit().await.is_ok(),
            "the room went to no one"
        );
    }

    #[tokio::test]
    async fn a_job_whose_request_ended_is_skipped() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let pool = pool(1, 4);
        let gate = Arc::new(std::sync::Barrier::new(2));
        let opener = Arc::clone(&gate);
        let running = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move |_| gate.wait()).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // A request queues its job behind the running one, then goes away.
        let ran = Arc::new(AtomicBool::new(false));
        let abandoned = tokio::spawn({
            let (pool, ran) = (pool.clone(), Arc::clone(&ran));
            async move { pool.run(move |_| ran.store(true, Ordering::SeqCst)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());
        opener.wait();
        assert!(running.await.unwrap().is_ok());
        // The next job runs after the abandoned one was taken off the queue.
        assert!(pool.run(|_| ()).await.is_ok());
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job was not run");
    }
}
