//! `meter2mqtt addon`: start as a Home Assistant add-on (see [`meter2mqtt::addon`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use meter2mqtt::addon::{self, supervisor, AddonError, MqttService};
use meter2mqtt::config::Secret;

#[derive(clap::Args, Debug)]
pub struct AddonArgs {
    /// The add-on options the Supervisor wrote.
    #[arg(long, default_value = addon::DEFAULT_OPTIONS)]
    pub options: PathBuf,
    /// The Supervisor's API (the token comes from SUPERVISOR_TOKEN).
    #[arg(long, env = "SUPERVISOR_URL", default_value = supervisor::DEFAULT_URL)]
    pub supervisor_url: String,
    /// The add-on's data directory (`data_dir`: the history).
    #[arg(long, default_value = addon::DATA_DIR)]
    pub data_dir: String,
    /// Where the web page listens (`http.listen`); ingress proxies to this port.
    #[arg(long, default_value = addon::INGRESS_LISTEN)]
    pub http_listen: String,
    /// Build and check the configuration, print it as `check-config` does (secrets masked),
    /// and exit.
    #[arg(long)]
    pub check: bool,
}

/// How often, and how far apart, the Supervisor is asked before giving up: at boot the
/// Mosquitto add-on may start after this one (`services: mqtt:need` orders installs, not
/// starts).
const ATTEMPTS: u32 = 6;
const BETWEEN: Duration = Duration::from_secs(5);

async fn ask_supervisor(url: &str) -> Result<MqttService, AddonError> {
    let token = std::env::var("SUPERVISOR_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(Secret::new)
        .ok_or(supervisor::SupervisorError::NoToken)?;
    let mut attempt = 1;
    loop {
        match supervisor::mqtt_service(url, &token).await {
            Ok(s) => return Ok(s),
            Err(
                e @ (supervisor::SupervisorError::Url(_) | supervisor::SupervisorError::BadToken),
            ) => return Err(e.into()),
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(
                    attempt,
                    "asking the Supervisor for the MQTT broker: {e}; again in {BETWEEN:?}"
                );
                attempt += 1;
                tokio::time::sleep(BETWEEN).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `log_level` is the command line's `--log-level`, which wins over the options'.
pub fn run(args: AddonArgs, log_level: Option<String>, log_json: bool) -> anyhow::Result<ExitCode> {
    let options = addon::read_options(&args.options)?;
    let level = log_level
        .or_else(|| options.log_level.clone())
        .unwrap_or_else(|| if args.check { "warn" } else { "info" }.into());
    crate::init_logging(&level, log_json);
    let rt = crate::runtime()?;
    let broker = if options.needs_supervisor() {
        let b = rt
            .block_on(ask_supervisor(&args.supervisor_url))
            .context("no MQTT broker: set mqtt_url in the add-on options, or install and start the Mosquitto add-on")?;
        // The user name is no secret; the password is never logged.
        tracing::info!(
            broker = %b.url(),
            username = b.username.as_deref().unwrap_or("(none)"),
            password = if b.password.is_some() { "(given)" } else { "(none)" },
            "MQTT broker from the Supervisor's mqtt service"
        );
        Some(b)
    } else {
        None
    };
    let at = addon::Placement {
        data_dir: args.data_dir.clone(),
        http_listen: args.http_listen.clone(),
    };
    let cfg = addon::build_config(&options, broker.as_ref(), &at)?;
    if args.check {
        crate::print_check(&format!("add-on options {}", args.options.display()), &cfg)?;
        return Ok(ExitCode::SUCCESS);
    }
    // The signal handlers are installed inside the runtime, before the bridge starts.
    rt.block_on(async { meter2mqtt::bridge::run(cfg, crate::shutdown_signal()).await })
        .context("the bridge could not start")?;
    Ok(ExitCode::SUCCESS)
}
