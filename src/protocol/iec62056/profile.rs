//! Meter profiles: the defaults that differ between the meters we know.

use super::block::BccMode;
use crate::protocol::{LineSettings, Parity};
use crate::reading::MeterKind;

/// A meter family with its defaults. Every default can be overridden in
/// [`super::Iec62056Options`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Kamstrup 382 electricity meter: mode A, 300 7E1, 7-bit sum BCC (382 communication
    /// interface specification: "300 baud, 7 data bits, even parity, 1 stop bit; mode A").
    Kamstrup382,
    /// Kamstrup MULTICAL 401 heat meter in IEC 61107 mode: `/KAM0MCC`, mode C at 300, 7E2
    /// (ha-kamstrup_401 opens the port 7E2). Its BCC is not in any capture we have; the 382
    /// specification's 7-bit sum is Kamstrup's, so that is the default.
    Multical401,
    /// Landis+Gyr Ultraheat UH50 / T550: NUL wake-up, mode B at 2400, XOR BCC (the corpus UH50
    /// readout ends in its XOR, `h`), 7E2 as the vpathuis/ultraheat library that reads these
    /// meters opens the port (corpus `ascii_vectors.json` `ultraheat.sequence`).
    Ultraheat,
    /// Anything else: IEC 62056-21 defaults (300 7E1, XOR BCC, no wake-up).
    Generic,
}

impl Profile {
    /// Parse a configuration name (`kamstrup_382`, `multical_401`, `ultraheat`, `generic`).
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "kamstrup_382" => Profile::Kamstrup382,
            "multical_401" => Profile::Multical401,
            "ultraheat" => Profile::Ultraheat,
            "generic" => Profile::Generic,
            _ => return None,
        })
    }

    pub fn bcc(self) -> BccMode {
        match self {
            Profile::Kamstrup382 | Profile::Multical401 => BccMode::Sum7,
            Profile::Ultraheat | Profile::Generic => BccMode::Xor,
        }
    }

    /// Character format: IEC 62056-21 uses 7E1 (and so does the 382 specification); the
    /// MULTICAL 401 (ha-kamstrup_401) and Ultraheat (vpathuis/ultraheat) readers use 7E2. A
    /// 7E1 receiver reads 7E2 characters fine (only the first stop bit is checked).
    pub fn data_format(self) -> (u8, Parity, u8) {
        match self {
            Profile::Multical401 | Profile::Ultraheat => (7, Parity::Even, 2),
            _ => (7, Parity::Even, 1),
        }
    }

    /// The line at `baud` with this profile's character format.
    pub fn line(self, baud: u32) -> LineSettings {
        let (d, p, s) = self.data_format();
        LineSettings::new(baud, d, p, s)
    }

    /// Battery meters need the NUL wake-up train (team notes; Landis+Gyr UH50 manual).
    pub fn wake_up(self) -> bool {
        matches!(self, Profile::Ultraheat)
    }

    /// Kind of meter when the profile fixes it.
    pub fn kind(self) -> Option<MeterKind> {
        match self {
            Profile::Kamstrup382 => Some(MeterKind::Electricity),
            Profile::Multical401 | Profile::Ultraheat => Some(MeterKind::Heat),
            Profile::Generic => None,
        }
    }

    pub fn model(self) -> Option<&'static str> {
        match self {
            Profile::Kamstrup382 => Some("382"),
            Profile::Multical401 => Some("MULTICAL 401"),
            Profile::Ultraheat => Some("Ultraheat"),
            Profile::Generic => None,
        }
    }
}
