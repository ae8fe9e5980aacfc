//! Real pseudo-terminals for simulators: the bridge opens the slave side exactly like a USB
//! serial adapter (termios, modem lines and all), the simulator drives the master side.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::protocol::{LineSettings, Parity};

/// A pseudo-terminal pair. Dropping it closes both ends: the bridge sees the device vanish,
/// just as when a USB cable is pulled.
pub struct Pty {
    pub master: File,
    /// Held open so the line settings the bridge sets persist and a bridge reopening the port
    /// does not hang up the master.
    slave: File,
    pub slave_path: PathBuf,
}

impl Pty {
    /// Open a new pair with the slave in raw mode (no echo, no line editing, 8-bit clean).
    pub fn open() -> io::Result<Pty> {
        let mut master: libc::c_int = -1;
        let mut slave: libc::c_int = -1;
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: openpty writes two fds and a NUL-terminated name into buffers we own.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                name.as_mut_ptr(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: openpty succeeded, so both are fresh fds we now own.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // SAFETY: `name` is NUL-terminated by openpty.
        let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        // openpty does not set close-on-exec: without it every process the test spawns
        // afterwards (the bridge itself) inherits the master, and closing ours would not hang
        // up the line.
        for fd in [master.as_raw_fd(), slave.as_raw_fd()] {
            // SAFETY: fcntl on fds we own.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        set_raw(slave.as_raw_fd())?;
        Ok(Pty {
            master: File::from(master),
            slave: File::from(slave),
            slave_path: PathBuf::from(path),
        })
    }

    /// The line settings the bridge last set on its end (Linux applies termios requests on
    /// the master to the slave, so this reads what the bridge configured).
    pub fn line_settings(&self) -> io::Result<LineSettings> {
        termios_settings(self.slave.as_raw_fd())
    }

    /// A stable path (like `/dev/serial/by-id/...`) pointing at this pty.
    pub fn symlink(&self, link: &Path) -> io::Result<()> {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&self.slave_path, link)
    }
}

fn set_raw(fd: libc::c_int) -> io::Result<()> {
    // SAFETY: termios is plain data; tcgetattr fills it for a valid fd.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn termios_settings(fd: libc::c_int) -> io::Result<LineSettings> {
    // SAFETY: as above.
    let t = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(io::Error::last_os_error());
        }
        t
    };
    // serialport sets speeds with termios2 (`BOTHER` + an explicit rate), which the classic
    // `cfgetospeed` cannot express: ask for termios2 first.
    if let Some(rate) = termios2_speed(fd) {
        return Ok(LineSettings::new(
            rate,
            data_bits(&t),
            parity(&t),
            stop_bits(&t),
        ));
    }
    // The speed bits of c_cflag, read directly: `cfgetospeed` is a versioned glibc symbol
    // that does not link into a static (crt-static) binary.
    let baud = match t.c_cflag & libc::CBAUD {
        libc::B300 => 300,
        libc::B600 => 600,
        libc::B1200 => 1200,
        libc::B2400 => 2400,
        libc::B4800 => 4800,
        libc::B9600 => 9600,
        libc::B19200 => 19200,
        libc::B38400 => 38400,
        libc::B57600 => 57600,
        libc::B115200 => 115_200,
        _ => 0,
    };
    Ok(LineSettings::new(
        baud,
        data_bits(&t),
        parity(&t),
        stop_bits(&t),
    ))
}

fn data_bits(t: &libc::termios) -> u8 {
    match t.c_cflag & libc::CSIZE {
        libc::CS5 => 5,
        libc::CS6 => 6,
        libc::CS7 => 7,
        _ => 8,
    }
}

fn parity(t: &libc::termios) -> Parity {
    if t.c_cflag & libc::PARENB == 0 {
        Parity::None
    } else if t.c_cflag & libc::PARODD != 0 {
        Parity::Odd
    } else {
        Parity::Even
    }
}

fn stop_bits(t: &libc::termios) -> u8 {
    if t.c_cflag & libc::CSTOPB != 0 {
        2
    } else {
        1
    }
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")
))]
fn termios2_speed(fd: libc::c_int) -> Option<u32> {
    // SAFETY: termios2 is plain data; TCGETS2 fills it for a valid tty fd.
    unsafe {
        let mut t2: libc::termios2 = std::mem::zeroed();
        if libc::ioctl(fd, libc::TCGETS2, &mut t2) != 0 {
            return None;
        }
        (t2.c_cflag & libc::CBAUD == libc::BOTHER).then_some(t2.c_ospeed)
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")
)))]
fn termios2_speed(_fd: libc::c_int) -> Option<u32> {
    None
}
