//! `meter2mqtt demo`: the real pipeline against simulated meters on real pseudo-terminals and
//! a loopback TCP socket, publishing to an embedded broker (or `--mqtt URL`), with a live view.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use meter2mqtt::config::Config;
use meter2mqtt::protocol::Parity;
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::kmp::KmpSimulator;
use meter2mqtt::sim::polled::{kmp_on_pty, serve_on_pty};
use meter2mqtt::sim::serve::{dsmr_on_pty, dsmr_on_tcp, loopback_listener, SimStats};
use meter2mqtt::sim::MulticalSimulator;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::sync::Mutex;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Use this broker instead of the embedded one (e.g. mqtt://127.0.0.1:1883).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Port of the embedded broker on 127.0.0.1.
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Seconds between telegrams of the simulated meters.
    #[arg(long, default_value_t = 1)]
    pub interval: u64,
    /// Do not print the live view.
    #[arg(long)]
    pub quiet: bool,
    /// Re-serve the DSMR 5 meter's telegrams over TCP on this port of 127.0.0.1 (a free one
    /// if it is taken; 0: always a free one).
    #[arg(long, default_value_t = 2001)]
    pub serve_port: u16,
    /// Address of the web page and API (`127.0.0.1:0`: any free port, see the
    /// `http listening` log line). The container image sets `METER2MQTT_HTTP__LISTEN` to all
    /// of its addresses, for the demo as for `run`.
    #[arg(
        long,
        default_value = "127.0.0.1:8089",
        env = "METER2MQTT_HTTP__LISTEN"
    )]
    pub http: String,
    /// Keep the history here (default: a temporary directory, removed at the end).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
}

/// `port` on 127.0.0.1 if it is free, else a free one (demos run side by side in tests).
fn free_serve_port(port: u16) -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .or_else(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
        .and_then(|l| l.local_addr())
        .map_or(port, |a| a.port())
}

#[cfg(feature = "embedded-broker")]
fn start_embedded_broker(port: u16) -> anyhow::Result<()> {
    use rumqttd::{
        Broker, Config as BrokerConfig, ConnectionSettings, RouterConfig, ServerSettings,
    };
    use std::collections::HashMap;
    let listen: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    std::net::TcpListener::bind(listen)
        .with_context(|| format!("port {port} is in use: pass --port or --mqtt URL"))?;
    let server = ServerSettings {
        name: "demo".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 256,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = BrokerConfig {
        id: 0,
        router: RouterConfig {
            max_connections: 64,
            max_outgoing_packet_count: 1000,
            max_segment_size: 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("demo".to_string(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    };
    std::thread::spawn(move || {
        let mut broker = Broker::new(config);
        if let Err(e) = broker.start() {
            eprintln!("embedded broker stopped: {e}");
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(listen).is_err() {
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the embedded broker did not start on {listen}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[cfg(not(feature = "embedded-broker"))]
fn start_embedded_broker(_port: u16) -> anyhow::Result<()> {
    anyhow::bail!("this build has no embedded broker: pass --mqtt mqtt://host:1883")
}

/// Print what the bridge publishes: one short line per state message.
async fn live_view(url: meter2mqtt::mqtt::BrokerUrl) {
    let mut o = MqttOptions::new("meter2mqtt-demo-view", url.host, url.port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(o, 100);
    let _ = client
        .subscribe("meter2mqtt/+/state", QoS::AtMostOnce)
        .await;
    let _ = client.subscribe("meter2mqtt/status", QoS::AtMostOnce).await;
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let text = String::from_utf8_lossy(&p.payload);
                let short: String = text.chars().take(150).collect();
                outln!("{}  {}", p.topic, short);
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let url = match &args.mqtt {
        Some(u) => u.clone(),
        None => {
            start_embedded_broker(args.port)?;
            format!("mqtt://127.0.0.1:{}", args.port)
        }
    };
    let broker = meter2mqtt::mqtt::BrokerUrl::parse(&url).context("--mqtt")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let every = Duration::from_secs(args.interval.max(1));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        // Local wall clock for the meters: CET, as a Dutch meter shows it.
        let clock = now + 3600;
        let stop = Arc::new(AtomicBool::new(false));
        let mut inputs = String::new();
        let mut keep = Vec::new();
        let serve_port = free_serve_port(args.serve_port);
        let (data_dir, temp_dir) = match &args.data_dir {
            Some(d) => (d.clone(), None),
            None => {
                let d = super::backfill::temp_data_dir();
                (d.clone(), Some(d))
            }
        };
        let p1 = [
            ("nl_dsmr5", Flavour::Dsmr5, 1),
            ("nl_dsmr22", Flavour::Dsmr22, 3),
            ("be_emucs_tcp", Flavour::BelgianEmucs, 2),
        ];
        let history = data_dir.join(meter2mqtt::history::FILE_NAME);
        // The heat meters' simulators, backfilled with the P1 meters (then served live below).
        let kmp = Arc::new(Mutex::new(KmpSimulator::multical_603()));
        let mc = Arc::new(Mutex::new(MulticalSimulator::new()));
        let heat = Config::from_yaml(&format!(
            "mqtt:\n  url: \"{url}\"\ninputs:\n{}",
            heat_inputs("backfill-kmp", "backfill-multical")
        ))
        .context("demo heat meters")?;
        let polled = super::backfill::heat_meters(&heat, &kmp, &mc);
        let (sims, backfill_note) =
            super::backfill::backfilled(&history, clock, clock - now, &p1, polled);
        let mut sims = sims.into_iter();
        for (name, flavour, _) in &p1[..2] {
            let Some(meter) = sims.next() else { break };
            let (path, handle) = dsmr_on_pty(
                meter,
                every,
                Arc::new(SimStats::default()),
                stop.clone(),
            )
            .context("creating a pseudo-terminal for a simulated meter")?;
            keep.push(handle);
            // The DSMR 5 meter is re-served over TCP, as `serve:` does for a real one.
            let serve = match *flavour {
                Flavour::Dsmr5 => format!(", serve: \"127.0.0.1:{serve_port}\""),
                _ => String::new(),
            };
            inputs.push_str(&format!(
                "  - {{name: {name}, type: p1, device: \"{}\"{serve}}}\n",
                path.display()
            ));
        }
        let (listener, addr) = loopback_listener().await?;
        tokio::spawn(dsmr_on_tcp(
            listener,
            sims.next().unwrap_or_else(|| DsmrMeter::new(Flavour::BelgianEmucs, clock, 2)),
            every,
            Arc::new(SimStats::default()),
        ));
        inputs.push_str(&format!(
            "  - {{name: be_emucs_tcp, type: p1, host: \"{}\", port: {}}}\n",
            addr.ip(),
            addr.port()
        ));
        // Heat meters are polled; the demo polls every 10 s (real battery meters: 15 min+).
        let (kmp_path, handle) = kmp_on_pty(kmp, stop.clone())?;
        keep.push(handle);
        let (mc_path, handle) = serve_on_pty(
            (7, Parity::Even, 2),
            move |line, bytes| {
                let mut s = mc.lock().unwrap_or_else(|p| p.into_inner());
                s.advance(10);
                s.on_input(line, bytes)
            },
            stop.clone(),
        )?;
        keep.push(handle);
        inputs.push_str(&heat_inputs(
            &kmp_path.display().to_string(),
            &mc_path.display().to_string(),
        ));
        let yaml = format!(
            "mqtt:\n  url: \"{url}\"\n  client_id: meter2mqtt-demo\nhttp:\n  listen: \"{}\"\ndata_dir: \"{}\"\ninputs:\n{inputs}",
            args.http,
            data_dir.display()
        );
        let cfg = Config::from_yaml(&yaml).context("demo configuration")?;
        outln!("meter2mqtt demo: simulated meters: DSMR 5 + gas, DSMR 2.2 + gas, Belgian e-MUCS + gas + water (over TCP),");
        outln!("  a Kamstrup MULTICAL 603 (KMP) and a MULTICAL 401 (/#n at 300/1200 baud), all on real ptys or sockets");
        outln!("publishing to {url} under meter2mqtt/ with Home Assistant discovery under homeassistant/");
        outln!("  watch it:        mosquitto_sub -h {} -p {} -t 'meter2mqtt/#' -v", broker.host, broker.port);
        outln!("  MQTT Explorer:   connect to {}:{}", broker.host, broker.port);
        outln!("  Home Assistant:  MQTT integration -> broker {} port {}; devices appear by themselves", broker.host, broker.port);
        outln!("  P1 over TCP:     the DSMR 5 meter's telegrams on 127.0.0.1:{serve_port} (Home Assistant DSMR integration:");
        outln!("                   connection over network, host 127.0.0.1, port {serve_port}, DSMR 5; or socat - TCP:127.0.0.1:{serve_port})");
        outln!("  web page and API: http://{}/ (JSON: /api/meters, live: /api/events, /metrics)", args.http);
        outln!("{backfill_note}");
        outln!("Ctrl-C stops.\n");
        if !args.quiet {
            tokio::spawn(live_view(broker.clone()));
        }
        let duration = args.duration;
        let signal = crate::shutdown_signal();
        let shutdown = async move {
            match duration {
                Some(s) => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(s)) => {},
                        _ = signal => {},
                    }
                }
                None => signal.await,
            }
        };
        let ran = meter2mqtt::bridge::run(cfg, shutdown).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(d) = temp_dir {
            let _ = std::fs::remove_dir_all(d);
        }
        ran?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The heat meters' inputs (YAML list items) on the devices given: the same for the live
/// bridge and the backfill's pollers, so both read the meters alike.
fn heat_inputs(kmp: &str, multical: &str) -> String {
    format!(
        "  - {{name: multical_603, type: kmp, device: \"{kmp}\", poll_interval: 10s}}\n\
         \x20 - {{name: multical_401, type: multical, device: \"{multical}\", poll_interval: 10s}}\n"
    )
}
