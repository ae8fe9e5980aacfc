//! `meter2mqtt decode`: decode a raw P1 capture and print the state messages the bridge would
//! publish, one JSON line each: `{"topic": "<base>/<meter_id>/state", "payload": {…}}`.
//!
//! Rejected telegrams and warnings go to standard error, one line each. The exit code is 0
//! once the input was read, whatever it contained.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use meter2mqtt::protocol::dsmr::{DecoderOptions, Keys, P1Decoder, P1Event};
use meter2mqtt::time::Timestamp;

#[derive(clap::Args, Debug)]
pub struct DecodeArgs {
    /// Capture file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// Topic prefix.
    #[arg(long, default_value = "meter2mqtt")]
    pub base: String,
    /// Meter id for telegrams without an equipment id.
    #[arg(long, default_value = "p1")]
    pub meter_id: String,
    /// Decryption key (32 hex digits) for encrypted P1 (Luxembourg Smarty, Austria).
    #[arg(long, value_name = "HEX")]
    pub key: Option<String>,
    /// Authentication key (32 hex digits) for encrypted P1.
    #[arg(long, value_name = "HEX", requires = "key")]
    pub auth_key: Option<String>,
    /// The input is hex text (`db 08 73 …`, whitespace and `#` comments ignored).
    #[arg(long)]
    pub hex: bool,
}

pub fn run(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let decryption = match &args.key {
        Some(k) => Some(Keys::from_hex(k, args.auth_key.as_deref()).context("--key/--auth-key")?),
        None => None,
    };
    let mut decoder = P1Decoder::new(DecoderOptions {
        fallback_meter_id: args.meter_id.clone(),
        decryption,
    });
    let mut input: Box<dyn Read> = if args.input.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(
            File::open(&args.input)
                .with_context(|| format!("cannot open {}", args.input.display()))?,
        )
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut hex = HexText::default();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut bytes = Vec::new();
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading input"),
        };
        let data = &chunk[..n];
        if args.hex {
            bytes.clear();
            hex.decode(data, &mut bytes)?;
            decoder.push(&bytes);
        } else {
            decoder.push(data);
        }
        drain(&mut decoder, &args.base, &mut out)?;
    }
    decoder.finish();
    drain(&mut decoder, &args.base, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn drain(decoder: &mut P1Decoder, base: &str, out: &mut impl Write) -> anyhow::Result<()> {
    // The receive time for meters that send no clock: the CLI is the edge that owns the clock.
    let now = Timestamp::now_utc();
    // One line buffer for the whole drain: `{"topic":"…","payload":{…}}`, the payload written
    // by the one state builder (`Reading::write_state_json`), no JSON value in between.
    let mut line = Vec::new();
    let mut topic = String::new();
    while let Some(event) = decoder.next_event(now) {
        match event {
            P1Event::Telegram(t) => {
                for w in &t.warnings {
                    eprintln!("warning: {w}");
                }
                for r in &t.readings {
                    line.clear();
                    line.extend_from_slice(b"{\"topic\":");
                    topic.clear();
                    for part in [base, "/", &r.meter.id, "/state"] {
                        topic.push_str(part);
                    }
                    serde_json::to_writer(&mut line, &topic)?;
                    line.extend_from_slice(b",\"payload\":");
                    r.write_state_json(&mut line);
                    line.extend_from_slice(b"}\n");
                    out.write_all(&line)?;
                }
            }
            P1Event::Rejected(r) => eprintln!("rejected: {r}"),
        }
    }
    Ok(())
}

/// Streaming hex text decoder (a digit pair may straddle two reads).
#[derive(Default)]
struct HexText {
    high: Option<u8>,
    in_comment: bool,
}

impl HexText {
    fn decode(&mut self, text: &[u8], out: &mut Vec<u8>) -> anyhow::Result<()> {
        for &c in text {
            if self.in_comment {
                self.in_comment = c != b'\n';
                continue;
            }
            let v = match c {
                b'#' => {
                    self.in_comment = true;
                    continue;
                }
                c if c.is_ascii_whitespace() => continue,
                c => (c as char).to_digit(16).with_context(|| {
                    format!("--hex input has a non-hex character {:?}", c as char)
                })? as u8,
            };
            match self.high.take() {
                Some(h) => out.push(h << 4 | v),
                None => self.high = Some(v),
            }
        }
        Ok(())
    }
}
