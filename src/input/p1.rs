//! The P1 adapter: DSMR decoder over a serial port or a TCP relay.
//!
//! Serial: optional auto-detection of the line settings (DSMR 5 → DSMR 4 → DSMR 2.2 presets
//! until a telegram with a valid CRC, or a well-formed CRC-less 2.2 telegram, arrives), the
//! Data Request line held or pulsed, and reopening with backoff when the USB cable goes away.
//! TCP: reconnect with backoff and an idle watchdog (no complete telegram for `idle_timeout`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use super::health::LinkHealth;
use super::rate_cap::{Admit, RateCap};
use crate::config::{P1Config, P1Preset, RequestMode};
use crate::event::status::InputStatus;
use crate::event::InputEvent;
use crate::protocol::dsmr::{CrcStatus, DecoderOptions, Keys, P1Decoder, P1Event};
use crate::protocol::LineSettings;
use crate::time::Timestamp;
use crate::transport::{deadline as deadline_after, Endpoint, Link};

/// Expected telegram interval before one was observed (DSMR 4 sends every 10 s).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Why a connection ended.
enum End {
    /// The link failed or closed.
    LinkLost(String),
    /// No complete telegram within the idle timeout.
    Idle,
    /// Auto-detection: this preset produced nothing valid.
    WrongSettings,
}

struct State {
    /// Shared with the supervisor that restarts this input: one copy per input (issue 17).
    cfg: Arc<P1Config>,
    tx: mpsc::Sender<InputEvent>,
    decoder: P1Decoder,
    last_telegram: Option<Instant>,
    interval: Duration,
    rejected_in_burst: u64,
    consecutive_rejects: u32,
    /// Reconnect backoff (reset by telegrams, not by connects) and fault logging.
    health: LinkHealth,
    cap: RateCap,
    /// What the outputs show of this input (telegrams accepted, rejected by reason, link).
    status: Arc<InputStatus>,
}

impl State {
    /// The input's state before its first connection, and whether it auto-detects the serial
    /// line settings; `None` (logged, and shown in its status) if its decryption key is bad.
    fn new(
        cfg: Arc<P1Config>,
        tx: mpsc::Sender<InputEvent>,
        status: Arc<InputStatus>,
    ) -> Option<(State, bool)> {
        let keys = match &cfg.decryption_key {
            Some(k) => match Keys::from_hex(
                k.expose(),
                cfg.authentication_key.as_ref().map(|a| a.expose()),
            ) {
                Ok(keys) => Some(keys),
                Err(e) => {
                    tracing::error!(input = %cfg.name, error = %e, "invalid decryption key; input stopped");
                    status.link_down(&format!("invalid decryption key; input stopped: {e}"));
                    return None;
                }
            },
            None => None,
        };
        let decoder = P1Decoder::new(DecoderOptions {
            fallback_meter_id: cfg.meter_id.clone().unwrap_or_else(|| cfg.name.clone()),
            decryption: keys,
        });
        let link_cfg = cfg.transport(None);
        let auto = cfg.preset == P1Preset::Auto && matches!(link_cfg.endpoint, Endpoint::Serial(_));
        let st = State {
            health: LinkHealth::new(&cfg.name, &link_cfg),
            cfg,
            tx,
            decoder,
            last_telegram: None,
            interval: DEFAULT_INTERVAL,
            rejected_in_burst: 0,
            consecutive_rejects: 0,
            cap: RateCap::new(Instant::now().into_std()),
            status,
        };
        Some((st, auto))
    }
}

/// Run one P1 input forever, reporting its health into `status`.
///
/// The future is kept for as long as the input runs, for every meter (issue 17: 10 000 of
/// them), so what is needed only now and then (opening the link, a backoff wait, a request
/// pulse, waiting for room in a full channel) is boxed for that moment instead of taking room
/// in it for good (`size_of_val`: 2 872 bytes before, ≈ 1 400 after; docs/benchmarks.md
/// "Stop 10").
pub async fn run(cfg: Arc<P1Config>, tx: mpsc::Sender<InputEvent>, status: Arc<InputStatus>) {
    let Some((mut st, auto)) = State::new(cfg, tx, status) else {
        return;
    };
    let mut preset_idx = 0usize;
    let mut detected = !auto;
    // Every open after the first is a reconnect (a preset tried by auto-detection too).
    let mut first_open = true;
    loop {
        let line = if auto {
            P1Preset::AUTO_ORDER[preset_idx % P1Preset::AUTO_ORDER.len()].line()
        } else {
            st.cfg.preset.line().or(st.cfg.line.map(LineSettings::from))
        };
        // In a block: the link's description is not kept while the link runs.
        let opened = {
            let spec = st.cfg.transport(line);
            let opened = Box::pin(crate::transport::open(&spec)).await;
            opened.map(|l| (l, super::line_in_use(&spec)))
        };
        let (mut link, in_use) = match opened {
            Ok(l) => l,
            Err(e) => {
                st.status.link_down(&format!("cannot open P1 input: {e}"));
                let delay = st.health.fault("cannot open P1 input", &e.to_string());
                Box::pin(tokio::time::sleep(delay)).await;
                continue;
            }
        };
        // The backoff is not reset here: a relay that accepts and closes at once is a
        // failing link; only a telegram resets it (`LinkHealth::data`).
        st.status.link_up(in_use, first_open);
        first_open = false;
        if !detected {
            if let Some(l) = line {
                st.health.searching(&l.to_string());
            }
        }
        let timeout = if detected {
            st.cfg.idle_timeout
        } else {
            st.cfg.detect_timeout
        };
        let end = read_loop(&mut st, &mut link, timeout, &mut detected, line).await;
        st.cap.end_episode(&st.cfg.name, Instant::now().into_std());
        match end {
            End::LinkLost(why) => {
                st.status.link_down(&format!("P1 input lost: {why}"));
                let delay = st.health.fault("P1 input lost", &why);
                Box::pin(tokio::time::sleep(delay)).await;
            }
            End::Idle => {
                st.status.link_down(&format!(
                    "no complete telegram within the idle timeout ({:?})",
                    st.cfg.idle_timeout
                ));
                // Reconnect at once: the timeout itself was the wait.
                let _ = st.health.fault(
                    "no complete telegram within the idle timeout",
                    &format!("{:?} without a telegram", st.cfg.idle_timeout),
                );
                if auto {
                    detected = false;
                }
            }
            End::WrongSettings => {
                st.status.link_down(&format!(
                    "auto-detect: no valid telegram at {}; trying the next preset",
                    settings_text(line)
                ));
                preset_idx += 1;
                detected = false;
            }
        }
    }
}

async fn read_loop(
    st: &mut State,
    link: &mut Link,
    timeout: Duration,
    detected: &mut bool,
    line: Option<LineSettings>,
) -> End {
    let mut deadline = deadline_after(Instant::now(), timeout);
    let mut bytes_seen = 0usize;
    let pulse = st.cfg.request_mode == RequestMode::Pulse
        && st.cfg.request_line != crate::config::RequestLine::None;
    let mut next_pulse = Instant::now();
    st.decoder.reset();
    // One timer per connection, moved only when it fires early or must fire sooner: a
    // telegram pushes the deadline back every second, and a timer set and cancelled around
    // every read cost a timer-wheel insert and removal per read (issue 17). Set sooner at
    // the top of the loop when a request pulse is due first.
    let mut armed = deadline;
    let timer = tokio::time::sleep_until(armed);
    tokio::pin!(timer);
    loop {
        let wake = if pulse {
            deadline.min(next_pulse)
        } else {
            deadline
        };
        if wake < armed {
            timer.as_mut().reset(wake);
            armed = wake;
        }
        // Bytes go straight from the thread's shared read buffer into the decoder (the
        // decoder keeps the telegram): no buffer per input (`Link::read_with`, issue 17).
        let decoder = &mut st.decoder;
        let read = tokio::select! {
            biased;
            r = link.read_with(|b| decoder.push(b)) => Some(r),
            () = &mut timer => None,
        };
        let n = match read {
            None if Instant::now() < wake => {
                // Armed for an earlier deadline that telegrams have since moved back.
                timer.as_mut().reset(wake);
                armed = wake;
                continue;
            }
            None if pulse && Instant::now() >= next_pulse && Instant::now() < deadline => {
                // Kamstrup 162 and other DSMR 2.2 meters send one telegram per request pulse.
                let _ = link.set_request_line(st.cfg.request_line, false);
                Box::pin(tokio::time::sleep(Duration::from_millis(100))).await;
                let _ = link.set_request_line(st.cfg.request_line, true);
                next_pulse = deadline_after(Instant::now(), st.cfg.request_interval);
                armed = deadline.min(next_pulse);
                timer.as_mut().reset(armed);
                continue;
            }
            None => {
                if *detected {
                    return End::Idle;
                }
                if bytes_seen > 0 {
                    st.health.search_failed(
                        &settings_text(line),
                        &format!("{bytes_seen} bytes arrive but no valid telegram (wrong speed, or the P1 signal is not inverted)"),
                    );
                }
                return End::WrongSettings;
            }
            Some(Ok(0)) => return End::LinkLost("end of stream".into()),
            Some(Ok(n)) => n,
            Some(Err(e)) => return End::LinkLost(e.to_string()),
        };
        bytes_seen += n;
        let mut now_ts = Timestamp::now_utc();
        loop {
            // Room in the channel first, then the telegram is decoded: while the bridge is
            // behind (10 000 meters connecting at once), a waiting input holds its telegram's
            // bytes, not the readings decoded from them (≈ 5 KB per meter at the start-up
            // peak, issue 17), and the bytes after them stay in the socket. The permit is held
            // only while this input decodes, never while it waits for its meter.
            let permit = match st.tx.try_reserve() {
                Ok(p) => p,
                // Boxed only while waiting: kept in the connection's future it took 300 bytes
                // per input.
                Err(TrySendError::Full(())) => match Box::pin(st.tx.reserve()).await {
                    Ok(p) => {
                        now_ts = Timestamp::now_utc();
                        p
                    }
                    Err(_) => return End::LinkLost("bridge shutting down".into()),
                },
                Err(TrySendError::Closed(())) => {
                    return End::LinkLost("bridge shutting down".into())
                }
            };
            let Some(ev) = st.decoder.next_event(now_ts) else {
                break;
            };
            match ev {
                P1Event::Telegram(t) => {
                    st.health.data();
                    if !*detected && t.crc.is_verified() {
                        *detected = true;
                        let failed_tries = st.health.found();
                        tracing::info!(input = %st.cfg.name, settings = ?line.map(|l| l.to_string()),
                            crc = ?t.crc, failed_tries, "auto-detect: found the meter; staying on these settings");
                    }
                    if st.rejected_in_burst > 0 {
                        tracing::info!(input = %st.cfg.name, rejected = st.rejected_in_burst, "valid telegrams again after rejected ones");
                        st.rejected_in_burst = 0;
                    }
                    st.consecutive_rejects = 0;
                    let now = Instant::now();
                    deadline = deadline_after(now, st.cfg.idle_timeout);
                    if st.cap.admit(&st.cfg.name, now.into_std()) == Admit::Drop {
                        continue;
                    }
                    if let Some(prev) = st.last_telegram {
                        st.interval = now
                            .duration_since(prev)
                            .clamp(Duration::from_secs(1), Duration::from_secs(60));
                    }
                    st.last_telegram = Some(now);
                    st.status.accepted();
                    if t.crc == CrcStatus::Unterminated {
                        tracing::debug!(input = %st.cfg.name, "telegram without its closing '!' (DSMR 2.2/3 meter)");
                    }
                    for w in &t.warnings {
                        tracing::debug!(input = %st.cfg.name, warning = %w, "telegram warning");
                    }
                    let event = InputEvent::Readings {
                        input: st.cfg.name.clone(),
                        readings: t.readings,
                        interval: st.interval,
                        raw: Some(t.raw),
                    };
                    permit.send(event);
                }
                P1Event::Rejected(r) => {
                    st.status.rejected(r.reason.key(), &r.to_string());
                    st.rejected_in_burst += 1;
                    st.consecutive_rejects += 1;
                    if st.rejected_in_burst == 1 {
                        tracing::warn!(input = %st.cfg.name, reason = %r, "telegram rejected (further rejections in this burst are counted, not logged)");
                    }
                    if st.consecutive_rejects >= st.cfg.redetect_after
                        && st.cfg.preset == P1Preset::Auto
                        && matches!(link, Link::Serial(_))
                    {
                        st.health.search_failed(
                            &settings_text(line),
                            &format!(
                                "{} invalid telegrams in a row: detecting the line settings again",
                                st.consecutive_rejects
                            ),
                        );
                        st.consecutive_rejects = 0;
                        *detected = false;
                        return End::WrongSettings;
                    }
                }
            }
        }
    }
}

/// Line settings for a log line (`none` for TCP, where the relay owns them).
fn settings_text(line: Option<LineSettings>) -> String {
    line.map_or_else(|| "none".to_string(), |l| l.to_string())
}
