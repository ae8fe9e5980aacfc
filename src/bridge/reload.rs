//! The running inputs, and what SIGHUP (reload) and SIGUSR1/SIGUSR2 (status) do to them
//! (issue 18 §10).
//!
//! Reload works as daemons do: the binary edge reads and validates the file first, and only a
//! valid configuration reaches [`Inputs::reload`]; an invalid one is logged there and the
//! running configuration stays. Inputs are matched by name: a new or changed input is
//! (re)started, an unchanged one keeps running untouched (its connection, its decoder, its
//! learned identity), a removed one is stopped.
//!
//! The other sections (`mqtt`, `homeassistant`, `publish`, `log`) are not applied on reload:
//! a changed broker, client id, QoS or base topic would have to end the MQTT session with
//! messages in flight (a QoS 2 session's state is per connection settings), and re-announce
//! every topic; a restart does that cleanly (the last will and `offline` are published, the
//! queue is flushed). The reload names the sections that need it.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::config::{Config, InputConfig};
use crate::event::status::InputStatuses;
use crate::event::InputEvent;
use crate::input::supervise::Supervised;

/// What the binary's signal handling asks of the running bridge.
#[derive(Debug)]
pub enum Control {
    /// SIGHUP: apply this configuration (already validated).
    Reload(Box<Config>),
    /// SIGUSR1 / SIGUSR2: log one status line.
    Status,
}

/// A running input. Its configuration is `Inputs::current.inputs` (same name): nothing of it
/// is kept twice (a fingerprint per input was ≈ 0.5 KB at 10 000 inputs, issue 17).
struct Running {
    name: String,
    task: Supervised,
}

/// The supervised inputs of a running bridge.
pub(super) struct Inputs {
    tx: mpsc::Sender<InputEvent>,
    /// Where the inputs report their health (read by the outputs that show it): an input is
    /// registered when it (re)starts and removed when a reload drops it.
    statuses: Arc<InputStatuses>,
    running: Vec<Running>,
    /// The configuration the inputs run with, shared with the bridge that runs the outputs
    /// from it (one copy, not two: ≈ 370 bytes per P1 input, issue 17); a reload that changes
    /// the inputs makes its own.
    current: Arc<Config>,
    started: Instant,
    reloads: u64,
}

/// What identifies an input's configuration: its `Debug` text (every field) plus the secrets
/// `Debug` masks, so a new decryption key restarts the input too.
fn fingerprint(input: &InputConfig) -> String {
    let mut s = format!("{input:?}");
    if let InputConfig::P1(p) = input {
        for key in [&p.decryption_key, &p.authentication_key]
            .into_iter()
            .flatten()
        {
            s.push('\0');
            s.push_str(key.expose());
        }
    }
    s
}

/// The sections of `new` that differ from `old` and that a reload does not apply.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let secret = |c: &Config| c.mqtt.password.as_ref().map(|p| p.expose().to_string());
    if format!("{:?}", old.mqtt) != format!("{:?}", new.mqtt) || secret(old) != secret(new) {
        changed.push("mqtt");
    }
    if format!("{:?}", old.homeassistant) != format!("{:?}", new.homeassistant) {
        changed.push("homeassistant");
    }
    if format!("{:?}", old.publish) != format!("{:?}", new.publish) {
        changed.push("publish");
    }
    if format!("{:?}", old.log) != format!("{:?}", new.log) {
        changed.push("log");
    }
    // The P1 TCP re-serve is an output, started once with the bridge.
    let serve = |c: &Config| format!("{:?}", crate::serve::settings(c));
    if serve(old) != serve(new) {
        changed.push("inputs[].serve");
    }
    changed
}

impl Inputs {
    /// Start every input of `cfg`.
    pub(super) fn start(
        cfg: Arc<Config>,
        tx: mpsc::Sender<InputEvent>,
        statuses: Arc<InputStatuses>,
    ) -> Inputs {
        let running = cfg
            .inputs
            .iter()
            .map(|i| Running {
                name: i.name().to_string(),
                task: crate::input::spawn(i, &tx, &statuses),
            })
            .collect();
        Inputs {
            tx,
            statuses,
            running,
            current: cfg,
            started: Instant::now(),
            reloads: 0,
        }
    }

    /// Apply a validated configuration: restart what changed, keep what did not.
    pub(super) fn reload(&mut self, new: Config) {
        let mut kept = 0usize;
        let mut started = Vec::new();
        let mut old = std::mem::take(&mut self.running);
        let mut next = Vec::with_capacity(new.inputs.len());
        for input in &new.inputs {
            let name = input.name().to_string();
            let unchanged = self
                .current
                .inputs
                .iter()
                .find(|c| c.name() == name)
                .is_some_and(|c| fingerprint(c) == fingerprint(input));
            match old.iter().position(|r| r.name == name) {
                Some(i) if unchanged => {
                    next.push(old.swap_remove(i));
                    kept += 1;
                }
                found => {
                    // Stop the old task before the new one opens the same port or relay.
                    if let Some(i) = found {
                        drop(old.swap_remove(i));
                    }
                    tracing::info!(input = %name, summary = %input.summary(), "reload: starting input");
                    next.push(Running {
                        name: name.clone(),
                        task: crate::input::spawn(input, &self.tx, &self.statuses),
                    });
                    started.push(name);
                }
            }
        }
        let removed: Vec<String> = old.iter().map(|r| r.name.clone()).collect();
        for r in &removed {
            tracing::info!(input = %r, "reload: input removed; stopped");
            self.statuses.remove(r);
        }
        drop(old);
        self.running = next;
        let restart = needs_restart(&self.current, &new);
        if !restart.is_empty() {
            tracing::warn!(sections = ?restart,
                "reload: these sections changed and are applied at the next restart only (the MQTT session and published topics stay as they are)");
        }
        self.reloads += 1;
        tracing::info!(
            kept,
            restarted = ?started,
            removed = ?removed,
            "configuration reloaded"
        );
        // Keep the running sections; take the new inputs.
        Arc::make_mut(&mut self.current).inputs = new.inputs;
    }

    /// One line saying what runs.
    pub(super) fn status(&self) {
        let inputs: Vec<String> = self
            .running
            .iter()
            .map(|r| format!("{} (restarts {})", r.name, r.task.restarts()))
            .collect();
        tracing::info!(
            uptime = ?std::time::Duration::from_secs(self.started.elapsed().as_secs()),
            broker = %self.current.mqtt.url,
            inputs = ?inputs,
            reloads = self.reloads,
            "status"
        );
    }

    /// Serve control requests for as long as the bridge runs (never returns; with no more
    /// requests possible it waits forever).
    pub(super) async fn serve(
        &mut self,
        mut control: mpsc::Receiver<Control>,
    ) -> std::convert::Infallible {
        while let Some(c) = control.recv().await {
            match c {
                Control::Reload(cfg) => self.reload(*cfg),
                Control::Status => self.status(),
            }
        }
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> Config {
        Config::from_yaml(yaml).unwrap()
    }

    const BASE: &str = "inputs:\n  - {name: a, type: p1, host: 127.0.0.1, port: 9}\n  - {name: b, type: p1, host: 127.0.0.1, port: 10}\n";

    #[test]
    fn only_changed_sections_need_a_restart() {
        let a = cfg(BASE);
        assert!(needs_restart(&a, &cfg(BASE)).is_empty());
        let b = cfg(&format!("mqtt:\n  password: x\n{BASE}"));
        let c = cfg(&format!("mqtt:\n  password: y\n{BASE}"));
        assert_eq!(needs_restart(&b, &c), ["mqtt"], "a new password");
        let d = cfg(&format!("publish:\n  on_change: true\n{BASE}"));
        assert_eq!(needs_restart(&a, &d), ["publish"]);
        let e = cfg(&BASE.replace("port: 10}", "port: 10, serve: \"127.0.0.1:2001\"}"));
        assert_eq!(needs_restart(&a, &e), ["inputs[].serve"]);
    }

    #[test]
    fn a_new_key_is_a_changed_input() {
        let k = |key: &str| {
            cfg(&format!(
                "inputs:\n  - {{name: a, type: p1, host: h, port: 9, decryption_key: {key}}}\n"
            ))
        };
        let (x, y) = (k(&"a".repeat(32)), k(&"b".repeat(32)));
        assert_ne!(fingerprint(&x.inputs[0]), fingerprint(&y.inputs[0]));
        assert_eq!(fingerprint(&x.inputs[0]), fingerprint(&x.clone().inputs[0]));
    }

    /// Unchanged inputs keep their task, changed ones get a new one, removed ones stop.
    #[tokio::test]
    async fn reload_restarts_only_what_changed() {
        let (tx, _rx) = mpsc::channel(8);
        let mut inputs = Inputs::start(Arc::new(cfg(BASE)), tx, Arc::default());
        let id = |inputs: &Inputs, name: &str| {
            inputs
                .running
                .iter()
                .find(|r| r.name == name)
                .map(|r| r.task.task_key())
        };
        let (a0, b0) = (id(&inputs, "a"), id(&inputs, "b"));
        inputs.reload(cfg(
            "inputs:\n  - {name: a, type: p1, host: 127.0.0.1, port: 9}\n  - {name: c, type: p1, host: 127.0.0.1, port: 11}\n  - {name: b, type: p1, host: 127.0.0.1, port: 12}\n",
        ));
        assert_eq!(id(&inputs, "a"), a0, "unchanged input restarted");
        assert_ne!(id(&inputs, "b"), b0, "changed input kept");
        assert!(id(&inputs, "c").is_some());
        inputs.reload(cfg(
            "inputs:\n  - {name: c, type: p1, host: 127.0.0.1, port: 11}\n",
        ));
        let names: Vec<&str> = inputs.running.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["c"]);
        assert_eq!(inputs.reloads, 2);
    }

    /// Every started input has a status (kind and link as configured); a reload's removed
    /// inputs lose theirs, a changed one gets a fresh one.
    #[tokio::test]
    async fn reload_registers_and_removes_statuses() {
        let (tx, _rx) = mpsc::channel(8);
        let statuses = Arc::new(InputStatuses::default());
        let mut inputs = Inputs::start(Arc::new(cfg(BASE)), tx, statuses.clone());
        let names = |s: &InputStatuses| -> Vec<String> {
            s.snapshot().into_iter().map(|s| s.name).collect()
        };
        assert_eq!(names(&statuses), ["a", "b"]);
        let a = statuses.get("a").expect("a registered");
        assert_eq!((a.kind, a.link.as_str()), ("p1", "tcp://127.0.0.1:9"));
        inputs.reload(cfg(
            "inputs:\n  - {name: b, type: p1, host: 127.0.0.1, port: 12}\n",
        ));
        assert_eq!(names(&statuses), ["b"]);
        assert_eq!(
            statuses.get("b").map(|s| s.link),
            Some("tcp://127.0.0.1:12".to_string())
        );
        drop(inputs);
    }
}
