//! The signals of `meter2mqtt run` (issue 18 §10, §14).
//!
//! - SIGTERM, SIGINT (Ctrl-C): shut down (queued messages and `offline` are flushed for up to
//!   [`meter2mqtt::bridge::SHUTDOWN_FLUSH`]). A second one during that flush ends the process
//!   at once: the user asked twice, and the broker publishes the last will `offline` when the
//!   connection drops, so the meters do not stay `online`.
//! - SIGHUP: reload the configuration file, as daemons do. It is read and validated first; an
//!   invalid file is logged and the running configuration stays.
//! - SIGUSR1, SIGUSR2: log one status line. Their default action would end the process
//!   without cleanup (meters left retained `online`), so they are caught.
//!
//! All handlers are installed together, before the bridge starts, so none of these signals
//! can end the process the default way once the runtime is up.

use std::future::Future;
use std::path::PathBuf;

use meter2mqtt::bridge::Control;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, oneshot};

/// Exit status after a second stop signal: 128 + the signal's number, as a shell reports a
/// process killed by it.
fn exit_code(name: &str) -> i32 {
    match name {
        "SIGINT" => 128 + libc::SIGINT,
        _ => 128 + libc::SIGTERM,
    }
}

fn install_one(kind: SignalKind, name: &'static str) -> Option<Signal> {
    match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(signal = name, error = %e, "cannot handle this signal");
            None
        }
    }
}

/// The next delivery of `s`; never, if it could not be installed.
async fn next(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// Install the handlers (call inside the runtime). Returns the future that resolves on the
/// first stop signal, and the [`Control`] requests for the bridge.
pub fn install(config: PathBuf) -> (impl Future<Output = ()>, mpsc::Receiver<Control>) {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (control_tx, control_rx) = mpsc::channel::<Control>(4);
    let mut term = install_one(SignalKind::terminate(), "SIGTERM");
    let mut int = install_one(SignalKind::interrupt(), "SIGINT");
    let mut hup = install_one(SignalKind::hangup(), "SIGHUP");
    let mut usr1 = install_one(SignalKind::user_defined1(), "SIGUSR1");
    let mut usr2 = install_one(SignalKind::user_defined2(), "SIGUSR2");
    tokio::spawn(async move {
        let mut stop_tx = Some(stop_tx);
        loop {
            let stop = tokio::select! {
                () = next(&mut term) => Some("SIGTERM"),
                () = next(&mut int) => Some("SIGINT"),
                () = next(&mut hup) => {
                    reload(&config, &control_tx).await;
                    None
                }
                () = next(&mut usr1) => {
                    let _ = control_tx.try_send(Control::Status);
                    None
                }
                () = next(&mut usr2) => {
                    let _ = control_tx.try_send(Control::Status);
                    None
                }
            };
            let Some(name) = stop else { continue };
            match stop_tx.take() {
                Some(tx) => {
                    tracing::info!(
                        signal = name,
                        "shutting down (a second Ctrl-C or SIGTERM ends the flush at once)"
                    );
                    let _ = tx.send(());
                }
                None => {
                    tracing::warn!(signal = name, "second stop signal: exiting without finishing the shutdown flush (the broker publishes the last will `offline`)");
                    std::process::exit(exit_code(name));
                }
            }
        }
    });
    let stopped = async move {
        // The sender lives in the task above for as long as the runtime does.
        let _ = stop_rx.await;
    };
    (stopped, control_rx)
}

/// SIGHUP: read and validate the file; hand a valid configuration to the bridge.
async fn reload(config: &std::path::Path, control: &mpsc::Sender<Control>) {
    tracing::info!(config = %config.display(), "SIGHUP: reloading the configuration");
    let path = config.to_path_buf();
    match tokio::task::spawn_blocking(move || crate::load(&path)).await {
        Ok(Ok(cfg)) => {
            if control.send(Control::Reload(Box::new(cfg))).await.is_err() {
                tracing::debug!("reload after the bridge stopped: ignored");
            }
        }
        Ok(Err(e)) => {
            tracing::error!("reload failed, keeping the running configuration: {e:#}");
        }
        Err(e) => tracing::error!(error = %e, "reload failed, keeping the running configuration"),
    }
}
