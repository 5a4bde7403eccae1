//! A Tokio runtime for blocking callers (the replication worker's threads).
//!
//! Invariant: the runtime is owned, not leaked: a thread of its own keeps it and drops it when
//! the last [`BlockingRuntime`] goes, so dropping the owner never happens on an async thread
//! (where Tokio forbids it).

use std::future::Future;

/// A small multi-threaded runtime that blocking threads hand their requests to.
pub struct BlockingRuntime {
    handle: tokio::runtime::Handle,
    /// Dropping it tells the owning thread to shut the runtime down.
    _stop: std::sync::mpsc::Sender<()>,
}

impl BlockingRuntime {
    /// A runtime with `threads` I/O threads named `name`.
    pub fn new(name: &str, threads: usize) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(|e| format!("{name} runtime: {e}"))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name(format!("{name}-owner"))
            .spawn(move || {
                // Returns when every sender is gone.
                let _ = stopped.recv();
                runtime.shutdown_background();
            })
            .map_err(|e| format!("{name} runtime: {e}"))?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }

    /// Runs `future` to completion on the runtime, blocking the calling thread (which must not
    /// be one of a runtime's own threads).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The last owner of the replication runtime may go away on an async thread (an actix worker
    // holding the server state); dropping it there must not panic, and it must not be leaked.
    #[test]
    fn dropping_on_an_async_thread_does_not_panic() {
        let runtime = BlockingRuntime::new("strata-test-io", 1).unwrap();
        assert_eq!(runtime.block_on(async { 7 }), 7);
        let outer = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        outer.block_on(async move { drop(runtime) });
    }
}
