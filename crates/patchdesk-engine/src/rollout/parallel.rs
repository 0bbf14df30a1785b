//! A stage step across its hosts at once (issue #16): apply, verify and rollback run one worker
//! per host, at most the scan concurrency (Settings) at a time, so a slow or failing host never
//! holds the others. The workers are futures of the one task that runs the step (no thread of
//! their own); they share the deployment's one SQLite connection through [`Db`], each write a
//! short synchronous call that is never held across an `await`, so the writes stay serialized
//! and every state change is still its own transaction.

use super::*;
use futures_util::stream::{self, StreamExt};
use std::future::Future;

/// The deployment's one SQLite connection, shared by the workers of a stage step.
pub(super) struct Db<'a>(std::sync::Mutex<&'a mut Inventory>);

impl<'a> Db<'a> {
    pub(super) fn new(inv: &'a mut Inventory) -> Self {
        Db(std::sync::Mutex::new(inv))
    }

    /// Use the connection for a synchronous moment (never call `with` again inside `f`).
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Inventory) -> R) -> R {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }
}

/// The SSH options of a stage step: one connection per host for the whole step (issue #16).
/// When the caller already shares a pool (a no-go's rollback inside an advance) that pool is
/// used; otherwise a pool of the step's own, returned to be closed when the step ends.
pub(super) fn step_ssh(ssh: &SshOptions) -> (SshOptions, Option<crate::ssh::ConnectionPool>) {
    if ssh.pool.is_some() {
        return (ssh.clone(), None);
    }
    let ssh = ssh.pooled();
    let pool = ssh.pool.clone();
    (ssh, pool)
}

/// End a step's own pool (see [`step_ssh`]) and hand its result on.
pub(super) async fn end_step<R>(pool: Option<crate::ssh::ConnectionPool>, res: R) -> R {
    if let Some(p) = pool {
        p.close().await;
    }
    res
}

/// How many hosts a stage step works on at once: the scan concurrency (Settings).
pub(super) fn limit(inv: &Inventory) -> usize {
    crate::settings::Settings::load(inv)
        .map(|s| s.concurrency)
        .unwrap_or(32)
        .max(1)
}

/// Run `work` for every item, at most `limit` at once, each started as soon as a slot frees;
/// the outputs in the items' order.
pub(super) async fn each_host<T, F, Fut>(items: Vec<T>, limit: usize, work: F) -> Vec<Fut::Output>
where
    F: Fn(T) -> Fut,
    Fut: Future,
{
    let mut out: Vec<(usize, Fut::Output)> = stream::iter(items.into_iter().enumerate())
        .map(|(i, t)| {
            let fut = work(t);
            async move { (i, fut.await) }
        })
        .buffer_unordered(limit.max(1))
        .collect()
        .await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, o)| o).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slow first item does not hold the others: they finish (and are seen finishing) first,
    /// never more than `limit` run at once, and the outputs come back in the items' order.
    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_host_does_not_hold_the_others() {
        let finished = std::sync::Mutex::new(Vec::new());
        let running = std::sync::atomic::AtomicUsize::new(0);
        let peak = std::sync::atomic::AtomicUsize::new(0);
        let out = each_host(vec![300u64, 10, 10, 10, 10], 3, |ms| {
            let (finished, running, peak) = (&finished, &running, &peak);
            async move {
                let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                finished.lock().unwrap().push(ms);
                ms * 2
            }
        })
        .await;
        assert_eq!(out, vec![600, 20, 20, 20, 20]);
        assert_eq!(*finished.lock().unwrap(), vec![10, 10, 10, 10, 300]);
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
