//! The P1 adapter: DSMR decoder over a serial port or a TCP relay.
//!
//! Serial: optional auto-detection of the line settings (DSMR 5 → DSMR 4 → DSMR 2.2 presets
//! until a telegram with a valid CRC, or a well-formed CRC-less 2.2 telegram, arrives), the
//! Data Request line held or pulsed, and reopening with backoff when the USB cable goes away.
//! TCP: reconnect with backoff and an idle watchdog (no complete telegram for `idle_timeout`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
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
    cfg: P1Config,
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

/// Run one P1 input forever, reporting its health into `status`.
pub async fn run(cfg: P1Config, tx: mpsc::Sender<InputEvent>, status: Arc<InputStatus>) {
    let keys = match &cfg.decryption_key {
        Some(k) => match Keys::from_hex(
            k.expose(),
            cfg.authentication_key.as_ref().map(|a| a.expose()),
        ) {
            Ok(keys) => Some(keys),
            Err(e) => {
                tracing::error!(input = %cfg.name, error = %e, "invalid decryption key; input stopped");
                status.link_down(&format!("invalid decryption key; input stopped: {e}"));
                return;
            }
        },
        None => None,
    };
    let decoder = P1Decoder::new(DecoderOptions {
        fallback_meter_id: cfg.meter_id.clone().unwrap_or_else(|| cfg.name.clone()),
        decryption: keys,
    });
    let link_cfg = cfg.transport(None);
    let mut st = State {
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
    let auto = st.cfg.preset == P1Preset::Auto && matches!(link_cfg.endpoint, Endpoint::Serial(_));
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
        let spec = st.cfg.transport(line);
        let opened = crate::transport::open(&spec).await;
        let mut link = match opened {
            Ok(l) => l,
            Err(e) => {
                st.status.link_down(&format!("cannot open P1 input: {e}"));
                let delay = st.health.fault("cannot open P1 input", &e.to_string());
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        // The backoff is not reset here: a relay that accepts and closes at once is a
        // failing link; only a telegram resets it (`LinkHealth::data`).
        st.status.link_up(super::line_in_use(&spec), first_open);
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
                tokio::time::sleep(delay).await;
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
    loop {
        let wake = if pulse {
            deadline.min(next_pulse)
        } else {
            deadline
        };
        // Bytes go straight from the thread's shared read buffer into the decoder (the
        // decoder keeps the telegram): no buffer per input (`Link::read_with`, issue 17).
        let decoder = &mut st.decoder;
        let read = tokio::time::timeout_at(wake, link.read_with(|b| decoder.push(b))).await;
        let n = match read {
            Err(_) if pulse && Instant::now() >= next_pulse && Instant::now() < deadline => {
                // Kamstrup 162 and other DSMR 2.2 meters send one telegram per request pulse.
                let _ = link.set_request_line(st.cfg.request_line, false);
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = link.set_request_line(st.cfg.request_line, true);
                next_pulse = deadline_after(Instant::now(), st.cfg.request_interval);
                continue;
            }
            Err(_) => {
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
            Ok(Ok(0)) => return End::LinkLost("end of stream".into()),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return End::LinkLost(e.to_string()),
        };
        bytes_seen += n;
        let now_ts = Timestamp::now_utc();
        while let Some(ev) = st.decoder.next_event(now_ts) {
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
                    if st.tx.send(event).await.is_err() {
                        return End::LinkLost("bridge shutting down".into());
                    }
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
