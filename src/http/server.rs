//! The web server on a thread and runtime of its own, so that serving it never takes a
//! worker of the bridge's runtime from the MQTT path (issue 14: the telegram-to-MQTT p99 no
//! worse than 10 % with 20 event-stream clients).
//!
//! Why: one telegram is one MQTT publish and, with N `/api/events` clients, N socket writes
//! of the same event, all due at the same moment. On the bridge's runtime (2 workers) those
//! writes took the workers the publish needed: measured with `benches/latency.rs`, p99
//! 0.86 ms without clients and 4.8 ms with 20. On their own thread, at a lower scheduling
//! priority (nice +[`NICE`], Linux's per-thread nice value, `setpriority(2)` NOTES), the
//! kernel runs the MQTT path first and the clients get the rest of the CPU.
//!
//! The output task still takes each event into the store at once (`Shared::on_event`); the
//! event streams' serialization (`sse::feed`) and the serving run here.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::Router;
use tokio::sync::watch;

use super::conn;

/// How much lower the web server's thread runs than the rest of the bridge.
pub(crate) const NICE: i32 = 5;

/// Bind `listen` now (an error is the caller's to log) and serve `app` on a new thread until
/// `closing` becomes `true`; `feed` (the event streams' serializer) runs on the same thread.
/// Returns the bound address.
pub(crate) fn spawn(
    listen: SocketAddr,
    app: Router,
    max_connections: usize,
    mut closing: watch::Receiver<bool>,
    feed: impl Future<Output = ()> + Send + 'static,
) -> io::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind(listen)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("http")
        .build()?;
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            lower_priority();
            rt.block_on(async move {
                tokio::spawn(feed);
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => conn::Limited::new(l, max_connections),
                    Err(e) => {
                        tracing::error!(error = %e, "http server stopped");
                        return;
                    }
                };
                tokio::select! {
                    r = axum::serve(listener, app) => if let Err(e) = r {
                        tracing::error!(error = %e, "http server stopped");
                    },
                    _ = closing.wait_for(|c| *c) => {}
                }
            });
            // Open event streams and history queries end with the runtime.
            rt.shutdown_background();
        })?;
    Ok(addr)
}

/// Lower this thread's priority by [`NICE`]; a failure only costs the priority (logged).
fn lower_priority() {
    // SAFETY: plain system call on the calling thread (`who` 0), no memory passed.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICE) };
    if r != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "http: thread priority unchanged");
    }
}
