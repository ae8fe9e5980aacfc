//! `meter2mqtt decode`: placeholder until the DSMR core lands.
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct DecodeArgs {
    /// Capture file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub input: PathBuf,
}

pub fn run(_args: DecodeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
