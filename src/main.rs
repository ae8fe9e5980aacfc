//! The `meter2mqtt` command line: the binary edge, where errors get their context.

/// `println!` that does not panic when stdout is closed (`meter2mqtt decode x | head`).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `eprintln!` that does not panic when stderr is closed (`meter2mqtt run 2>&1 | logger`
/// with the logger gone): Rust ignores SIGPIPE, so the write returns EPIPE, and
/// `eprintln!` panics on that (issue 18 §9).
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use meter2mqtt::config::{Config, LogFormat};

#[derive(Parser, Debug)]
#[command(
    name = "meter2mqtt",
    version,
    about = "Publish utility meter readings (DSMR P1, Kamstrup) to MQTT with Home Assistant discovery"
)]
struct Cli {
    /// Log level or tracing filter (overrides the config file): error, warn, info, debug, trace.
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the bridge.
    Run {
        /// Configuration file (YAML); METER2MQTT_* environment variables override it.
        #[arg(
            long,
            short,
            env = "METER2MQTT_CONFIG",
            default_value = "/config/config.yaml"
        )]
        config: PathBuf,
    },
    /// Validate a configuration file and print the effective settings (secrets masked).
    CheckConfig {
        #[arg(
            long,
            short,
            env = "METER2MQTT_CONFIG",
            default_value = "/config/config.yaml"
        )]
        config: PathBuf,
    },
    /// List serial ports with their stable /dev/serial/by-id names.
    ListPorts,
    /// Decode a raw P1 capture and print the state messages the bridge would publish.
    Decode(cli::decode::DecodeArgs),
    /// Run the real pipeline against simulated meters and an embedded MQTT broker.
    Demo(cli::demo::DemoArgs),
    /// Run as a Home Assistant add-on: options from /data/options.json, the broker from the
    /// Supervisor.
    Addon(cli::addon::AddonArgs),
}

/// The log writer: stderr, with every write error dropped. Logging must never take the bridge
/// down (issue 18 §9): when whatever reads our stderr goes away, a write returns EPIPE, and
/// tracing-subscriber reports a failed write with `eprintln!`, which panics on EPIPE. Lines
/// written while nobody reads are lost, which is all that can happen to them.
struct QuietStderr;

impl std::io::Write for QuietStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// `level` is a level or `target=level` pairs (`tracing_subscriber::filter::Targets`, checked
/// by the configuration): no span or field filters, so the binary carries no regex engine
/// (≈ 0.7 MB of EnvFilter's, which issue 17's 6 MB for one meter has no room for).
pub(crate) fn init_logging(level: &str, json: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter: Targets = level
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    use std::io::IsTerminal;
    // Colours only on a terminal: journald and `docker logs` would show escape codes.
    // The builder's own filter (INFO unless told) would cut what `filter` lets through.
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(|| QuietStderr)
        .log_internal_errors(false);
    if json {
        builder.json().finish().with(filter).init();
    } else {
        builder.finish().with(filter).init();
    }
}

/// Resolves on SIGTERM (docker stop, systemd), Ctrl-C or SIGHUP: `demo` and `addon` have no
/// file to reload, and a closed terminal (SIGHUP) should stop the demo cleanly (meters
/// `offline`, its temporary history removed) rather than by the signal's default action.
/// The handlers are installed when this is called, not when it is first polled, so a signal
/// during start-up is not lost. (`run` has its own handlers: `cli::signals`.)
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (term, hup) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::hangup()).ok(),
        )
    };
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = next(term) => {},
                _ = next(hup) => tracing::info!("SIGHUP (terminal closed?)"),
                _ = ctrl_c => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    let cfg = Config::load(Some(path))
        .with_context(|| format!("invalid configuration in {}", path.display()))?;
    // Once, through the log (it used to be printed twice: a log line and an `eprintln!`).
    if let Some(w) = meter2mqtt::config::world_readable_secret_warning(path, &cfg) {
        tracing::warn!("{w}");
    }
    if let Some(w) = meter2mqtt::config::password_file_warning(&cfg) {
        tracing::warn!("{w}");
    }
    Ok(cfg)
}

/// One thread runs every task (inputs, rules, outputs); blocking work (SQLite, reading the
/// configuration on SIGHUP) goes to tokio's blocking pool as before.
///
/// Why not two worker threads (issue 17): the bridge's work per telegram is small (µs) and
/// it flows task to task (input → rules → each output → MQTT connection), so with two
/// workers nearly every hand-over woke the other thread. At 1,000 TCP meters `perf` put 55 %
/// of the bridge's CPU in the kernel, 26 % of it switching threads, and `strace -c -f` counted
/// ≈ 4 futex calls per telegram; one thread has none of that, and the target ("10,000 meters
/// on one core") fits in one. Fewer threads also means fewer glibc malloc arenas (one per
/// thread that allocates), which is memory for one meter.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { config } => {
            // Read once: the logging settings come from the file, and its warnings go to
            // the log set up from it.
            let cfg = Config::load(Some(&config))
                .with_context(|| format!("invalid configuration in {}", config.display()))?;
            let level = cli.log_level.clone().unwrap_or(cfg.log.level.clone());
            init_logging(&level, cli.log_json || cfg.log.format == LogFormat::Json);
            if let Some(w) = meter2mqtt::config::world_readable_secret_warning(&config, &cfg) {
                tracing::warn!("{w}");
            }
            let rt = runtime()?;
            rt.block_on(async {
                let (shutdown, control) = cli::signals::install(config.clone());
                meter2mqtt::bridge::run_controlled(cfg, shutdown, control).await
            })
            .context("the bridge could not start")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { config } => {
            init_logging(cli.log_level.as_deref().unwrap_or("warn"), cli.log_json);
            let cfg = load(&config)?;
            print_check(&format!("configuration {}", config.display()), &cfg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ListPorts => {
            let ports = meter2mqtt::transport::serial::list_ports();
            if ports.is_empty() {
                outln!("no serial ports found (is the USB P1 cable or IR head plugged in?)");
            }
            for p in ports {
                outln!("{}  {}", p.path, p.description);
                for l in p.by_id {
                    outln!("    {l}   <- use this path in config.yaml: it survives reboots");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            // The embedded broker logs every probe connection as an error; keep it quiet.
            init_logging(
                cli.log_level.as_deref().unwrap_or("warn,rumqttd=off"),
                cli.log_json,
            );
            cli::demo::run(args)
        }
        Command::Addon(args) => cli::addon::run(args, cli.log_level.clone(), cli.log_json),
        Command::Decode(args) => {
            init_logging(cli.log_level.as_deref().unwrap_or("warn"), cli.log_json);
            cli::decode::run(args)
        }
    }
}

/// What `check-config` prints for a valid configuration (`what` names where it came from);
/// fails if a file it refers to cannot be read.
pub(crate) fn print_check(what: &str, cfg: &Config) -> anyhow::Result<()> {
    let settings = meter2mqtt::bridge::connect_settings(cfg)
        .context("configuration refers to files that cannot be read")?;
    outln!("{what} is valid");
    outln!(
        "broker: {} (client id {})",
        settings.url,
        settings.client_id
    );
    for i in &cfg.inputs {
        outln!("input {}: {}", i.name(), i.summary());
    }
    outln!("---");
    outln!(
        "{}",
        print_config(cfg).context("printing the configuration")?
    );
    Ok(())
}

/// The effective configuration as JSON (secrets are masked by their `Serialize`).
fn print_config(cfg: &Config) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(cfg)? + "\n")
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .map(|io| io.kind())
            .or_else(|| {
                c.downcast_ref::<serde_json::Error>()
                    .and_then(|j| j.io_error_kind())
            })
            == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// jemalloc allocates for the bridge binary (feature `jemalloc`, x86_64 Linux; the static
/// binary of `scripts/static-build.sh` has it).
///
/// Why: a bridge keeps a few kilobytes of state per meter for as long as it runs, and builds
/// and frees readings and payloads around it every second. With glibc's allocator the blocks
/// freed after start-up (10 000 meters connecting at once) stayed as holes between the
/// long-lived ones: at 10 000 meters 79 MB of a 214 MB heap was free and still resident, and
/// the resident size of equal runs spread over 183–282 MB. jemalloc groups blocks by size
/// class and gives whole free pages back: 155 MB, the same in every run, and 5–10 points less
/// CPU (issue 17, `docs/benchmarks.md` "Stop 13"). The cost is ≈ 1 MB more for one meter
/// (8.1 instead of 7.0 MB). The library sets no allocator; its users choose.
#[cfg(all(feature = "jemalloc", target_os = "linux", target_arch = "x86_64"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Allocations of 1 MiB and more come from `mmap` and go back to the system when freed.
///
/// Why: glibc raises its mmap threshold to the size of the last large block freed (the
/// dynamic threshold of `mallopt(3)`, `M_MMAP_THRESHOLD`), so from the second minute on the
/// history's minute batch (≈ 14 MB of rows at 10 000 meters) came from the heap, and its room
/// stayed there: +15 MB of RSS for good after the first minute (issue 17, `docs/benchmarks.md`
/// "Stop 12"). Setting the threshold turns the dynamic one off. Blocks that large are a few a
/// minute (the batch, a big API answer), so their `mmap` costs nothing a user would see.
/// Only where glibc's allocator is the one in use.
fn large_allocations_from_mmap() {
    #[cfg(all(
        target_os = "linux",
        target_env = "gnu",
        not(all(feature = "jemalloc", target_arch = "x86_64"))
    ))]
    // SAFETY: `mallopt` only sets a parameter of glibc's allocator; no thread runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> ExitCode {
    large_allocations_from_mmap();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // The reader of our output went away (`meter2mqtt decode capture | head`): not an error.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
