//! Reading the files a configuration names: only regular files, and only up to a limit.
//!
//! A FIFO given as `password_file` would block start-up (open() waits for a writer, and the
//! signal handlers are not installed yet), and `/dev/zero` would be read until memory runs
//! out. So the file is opened without blocking, checked to be a regular file on the open
//! handle (no window between check and read), and read with a bound.

use std::io::Read;
use std::path::Path;

use super::ConfigError;

/// MQTT 3.1.1 §3.1.3.5: the password is binary data with a two-byte length, so no password
/// is longer than 65,535 bytes; a bigger `password_file` is not a password.
pub const PASSWORD_FILE_LIMIT: u64 = 65_535;
/// PEM certificates and keys: a CA bundle of a few hundred certificates is ~250 KiB.
pub const PEM_FILE_LIMIT: u64 = 1 << 20;
/// The configuration file itself.
pub const CONFIG_FILE_LIMIT: u64 = 1 << 20;

/// How a file is named in errors. A `password_file` is never shown: users who put the
/// password itself under that key would see it in the log.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Path,
    Hidden,
}

/// Read `path` (a regular file of at most `limit` bytes) for `key`.
pub fn read_limited(
    key: &str,
    path: &Path,
    limit: u64,
    shown: Shown,
) -> Result<Vec<u8>, ConfigError> {
    read(key, path, limit, shown, true)
}

/// The configuration file: named by the user on the command line, so a pipe is allowed
/// (`check-config --config <(envsubst < tpl.yaml)`), but it is still read with a bound.
pub fn read_config(path: &Path) -> Result<Vec<u8>, ConfigError> {
    read("--config", path, CONFIG_FILE_LIMIT, Shown::Path, false)
}

fn read(
    key: &str,
    path: &Path,
    limit: u64,
    shown: Shown,
    regular_only: bool,
) -> Result<Vec<u8>, ConfigError> {
    let name = match shown {
        Shown::Path => format!("{}: ", path.display()),
        Shown::Hidden => String::new(),
    };
    let fail = |m: String| ConfigError::Invalid {
        key: key.to_string(),
        message: format!("{name}{m}"),
    };
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            fail("the file does not exist".into())
        } else {
            fail(format!("cannot read the file: {e}"))
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    if regular_only {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading blocks until a writer comes; O_NONBLOCK does not.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if regular_only && !meta.is_file() {
        return Err(fail(
            "is not a regular file (a FIFO, device or directory cannot be read safely)".into(),
        ));
    }
    if meta.is_file() && meta.len() > limit {
        return Err(fail(format!(
            "is {} bytes, more than the limit of {limit}",
            meta.len()
        )));
    }
    let mut data = Vec::new();
    // The file may grow after the check: read one byte past the limit to notice.
    file.take(limit + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > limit {
        return Err(fail(format!("is more than the limit of {limit} bytes")));
    }
    Ok(data)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "secret\n").unwrap();
        let ok = read_limited("k", &f, 100, Shown::Hidden).unwrap();
        assert!(read_config(Path::new("/dev/zero")).is_err());
        assert_eq!(ok, b"secret\n");
        let big = read_limited("k", &f, 3, Shown::Hidden)
            .unwrap_err()
            .to_string();
        assert!(big.contains("more than the limit of 3"), "{big}");
        let zero = read_limited("k", Path::new("/dev/zero"), 100, Shown::Path)
            .unwrap_err()
            .to_string();
        assert!(zero.contains("not a regular file"), "{zero}");
        let gone = read_limited("k", Path::new("Hunter2secret"), 100, Shown::Hidden)
            .unwrap_err()
            .to_string();
        assert!(
            gone.contains("does not exist") && !gone.contains("Hunter2"),
            "{gone}"
        );
    }
}
