//! DSMR P1 telegram generator for a simulated [`Household`]: real telegram bytes with real
//! CRCs, in the layouts of the DSMR 5.0.2, e-MUCS 1.7 and DSMR 2.2 companion standards.

use super::household::Household;
use crate::time::Timestamp;

/// CRC-16/ARC over `/`..`!` (DSMR P1 Companion Standard 5.0.2 §6.2: polynomial x^16+x^15+x^2+1,
/// LSB first, no XOR in/out).
const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_ARC);

/// Which kind of meter to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Dutch DSMR 5.0 (Sagemcom T210-D style) with a gas meter on M-Bus channel 1.
    Dsmr5,
    /// Belgian e-MUCS 1.7 (Fluvius) with gas on channel 1 and water on channel 2.
    BelgianEmucs,
    /// DSMR 2.2 (Kamstrup 162 style): 9600 7E1, no CRC, gas value on the next line.
    Dsmr22,
}

/// DSMR sends NL/BE local time with `S` (summer, UTC+2) or `W` (winter, UTC+1)
/// (DSMR 5.0.2 §6.4 "TST"). The simulation uses the EU rule roughly: April to October is summer.
fn tst(clock: i64) -> String {
    let t = Timestamp::from_unix_seconds(clock);
    let dst = (4..=10).contains(&t.month);
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}{}",
        t.year % 100,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        if dst { 'S' } else { 'W' }
    )
}

/// `000123.456` kWh from Wh (DSMR: F9(3) with 6 integer digits).
fn kwh(wh: u64) -> String {
    format!("{:06}.{:03}", wh / 1000 % 1_000_000, wh % 1000)
}

/// `01.193` kW from W (DSMR: F5(3)).
fn kw(w: u32) -> String {
    format!("{:02}.{:03}", w / 1000 % 100, w % 1000)
}

/// `04567.890` m³ from dm³ (DSMR: F8(2..3)).
fn m3(dm3: u64) -> String {
    format!("{:05}.{:03}", dm3 / 1000 % 100_000, dm3 % 1000)
}

/// Equipment ids are sent as hex-encoded ASCII in NL (DSMR 5.0.2 §6.12, "Sn (n=0..96), tag 9").
fn hex_id(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02X}")).collect()
}

/// One simulated P1 meter.
#[derive(Debug, Clone)]
pub struct DsmrMeter {
    pub flavour: Flavour,
    pub house: Household,
    pub equipment_id: String,
    pub gas_id: String,
    pub water_id: String,
}

impl DsmrMeter {
    pub fn new(flavour: Flavour, clock: i64, seed: u64) -> Self {
        DsmrMeter {
            flavour,
            house: Household::new(clock, seed),
            equipment_id: format!("E00{:014}", 43_007_052_870_318u64 + seed),
            gas_id: format!("G00{:014}", 12_345_678_901_234u64 + seed),
            water_id: format!("W00{:014}", 98_765_432_109_876u64 + seed),
        }
    }

    /// The next telegram, after advancing the simulation by `secs`.
    pub fn telegram(&mut self, secs: u32) -> Vec<u8> {
        self.house.advance(secs);
        match self.flavour {
            Flavour::Dsmr5 => self.dsmr5(),
            Flavour::BelgianEmucs => self.emucs(),
            Flavour::Dsmr22 => self.dsmr22(),
        }
    }

    fn finish_with_crc(mut body: Vec<u8>) -> Vec<u8> {
        body.push(b'!');
        let crc = CRC.checksum(&body);
        body.extend_from_slice(format!("{crc:04X}\r\n").as_bytes());
        body
    }

    fn dsmr5(&self) -> Vec<u8> {
        let h = &self.house;
        let t = tst(h.clock);
        // Gas meters report the last full 5 minutes (DSMR 5.0.2 §7.3: "capture time").
        let gas_t = tst(h.clock - h.clock.rem_euclid(300));
        let volts = 228 + (h.clock % 5) as u32;
        let amps = h.power_import_w.max(h.power_export_w) / volts;
        let s = format!(
            "/Ene5\\T210-D ESMR5.0\r\n\r\n\
1-3:0.2.8(50)\r\n\
0-0:1.0.0({t})\r\n\
0-0:96.1.1({eid})\r\n\
1-0:1.8.1({i1}*kWh)\r\n\
1-0:1.8.2({i2}*kWh)\r\n\
1-0:2.8.1({e1}*kWh)\r\n\
1-0:2.8.2({e2}*kWh)\r\n\
0-0:96.14.0({tariff:04})\r\n\
1-0:1.7.0({pi}*kW)\r\n\
1-0:2.7.0({pe}*kW)\r\n\
0-0:96.7.21(00004)\r\n\
0-0:96.7.9(00002)\r\n\
1-0:99.97.0(1)(0-0:96.7.19)(180614055234S)(0000000328*s)\r\n\
1-0:32.32.0(00002)\r\n\
1-0:32.36.0(00000)\r\n\
0-0:96.13.0()\r\n\
1-0:32.7.0({volts}.0*V)\r\n\
1-0:31.7.0({amps:03}*A)\r\n\
1-0:21.7.0({pi}*kW)\r\n\
1-0:22.7.0({pe}*kW)\r\n\
0-1:24.1.0(003)\r\n\
0-1:96.1.0({gid})\r\n\
0-1:24.2.1({gas_t})({gas}*m3)\r\n",
            eid = hex_id(&self.equipment_id),
            i1 = kwh(h.import_t1_wh),
            i2 = kwh(h.import_t2_wh),
            e1 = kwh(h.export_t1_wh),
            e2 = kwh(h.export_t2_wh),
            tariff = h.tariff,
            pi = kw(h.power_import_w),
            pe = kw(h.power_export_w),
            gid = hex_id(&self.gas_id),
            gas = m3(h.gas_dm3),
        );
        Self::finish_with_crc(s.into_bytes())
    }

    fn emucs(&self) -> Vec<u8> {
        let h = &self.house;
        let t = tst(h.clock);
        let gas_t = tst(h.clock - h.clock.rem_euclid(300));
        let avg15 = kw(h.power_import_w);
        let mut s = Vec::from(&b"/FLU5\\253769484_A\r\n\r\n"[..]);
        s.extend_from_slice(
            format!(
                "0-0:96.1.4(50217)\r\n\
0-0:96.1.1({eid})\r\n\
0-0:1.0.0({t})\r\n\
1-0:1.8.1({i1}*kWh)\r\n\
1-0:1.8.2({i2}*kWh)\r\n\
1-0:2.8.1({e1}*kWh)\r\n\
1-0:2.8.2({e2}*kWh)\r\n\
0-0:96.14.0({tariff:04})\r\n\
1-0:1.4.0({avg15}*kW)\r\n\
1-0:1.6.0({t})(03.214*kW)\r\n\
1-0:1.7.0({pi}*kW)\r\n\
1-0:2.7.0({pe}*kW)\r\n\
1-0:21.7.0({pi}*kW)\r\n\
1-0:22.7.0({pe}*kW)\r\n\
1-0:32.7.0(231.4*V)\r\n\
1-0:31.7.0(002.31*A)\r\n\
0-0:96.3.10(1)\r\n\
0-0:17.0.0(999.9*kW)\r\n\
1-0:31.4.0(999*A)\r\n\
0-0:96.13.0()\r\n\
0-1:24.1.0(003)\r\n\
0-1:96.1.1({gid})\r\n\
0-1:24.4.0(1)\r\n\
0-1:24.2.3({gas_t})({gas}*m3)\r\n\
0-2:24.1.0(007)\r\n\
0-2:96.1.1({wid})\r\n\
0-2:24.2.1({gas_t})({water}*m3)\r\n",
                eid = hex_id(&format!("1SAG{}", &self.equipment_id[3..])),
                i1 = kwh(h.import_t1_wh),
                i2 = kwh(h.import_t2_wh),
                e1 = kwh(h.export_t1_wh),
                e2 = kwh(h.export_t2_wh),
                tariff = h.tariff,
                pi = kw(h.power_import_w),
                pe = kw(h.power_export_w),
                gid = hex_id(&self.gas_id),
                wid = hex_id(&self.water_id),
                gas = m3(h.gas_dm3),
                water = m3(h.water_dm3),
            )
            .as_bytes(),
        );
        Self::finish_with_crc(s)
    }

    fn dsmr22(&self) -> Vec<u8> {
        let h = &self.house;
        // DSMR 2.2 gas: hourly value, `0-1:24.3.0` header with the value on the next line
        // (DSMR 2.2 §7.3; corpus athombv 01_dsmr-2.2-kfm-1).
        let gas_t = tst(h.clock - h.clock.rem_euclid(3600));
        let gas_t = &gas_t[..12];
        format!(
            "/KMP5 ZABF001587315111\r\n\r\n\
0-0:96.1.1({eid})\r\n\
1-0:1.8.1({i1}*kWh)\r\n\
1-0:1.8.2({i2}*kWh)\r\n\
1-0:2.8.1({e1}*kWh)\r\n\
1-0:2.8.2({e2}*kWh)\r\n\
0-0:96.14.0({tariff:04})\r\n\
1-0:1.7.0({pi:04}.{pid:02}*kW)\r\n\
1-0:2.7.0({pe:04}.{ped:02}*kW)\r\n\
0-0:17.0.0(999*A)\r\n\
0-0:96.3.10(1)\r\n\
0-0:96.13.1()\r\n\
0-0:96.13.0()\r\n\
0-1:24.1.0(3)\r\n\
0-1:96.1.0({gid})\r\n\
0-1:24.3.0({gas_t})(08)(60)(1)(0-1:24.2.1)(m3)\r\n\
({gas})\r\n\
0-1:24.4.0(1)\r\n\
!\r\n",
            eid = hex_id(&self.equipment_id),
            i1 = kwh(h.import_t1_wh),
            i2 = kwh(h.import_t2_wh),
            e1 = kwh(h.export_t1_wh),
            e2 = kwh(h.export_t2_wh),
            tariff = h.tariff,
            pi = h.power_import_w / 1000,
            pid = h.power_import_w % 1000 / 10,
            pe = h.power_export_w / 1000,
            ped = h.power_export_w % 1000 / 10,
            gid = hex_id(&self.gas_id),
            gas = m3(h.gas_dm3),
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_and_layout_is_dsmr() {
        let mut m = DsmrMeter::new(Flavour::Dsmr5, 1_700_000_000, 1);
        let t = m.telegram(1);
        let bang = t.iter().position(|&b| b == b'!').unwrap();
        let given = std::str::from_utf8(&t[bang + 1..bang + 5]).unwrap();
        assert_eq!(
            u16::from_str_radix(given, 16).unwrap(),
            CRC.checksum(&t[..=bang])
        );
        assert!(t.starts_with(b"/Ene5"));
        assert!(t.ends_with(b"\r\n"));
        let t22 = DsmrMeter::new(Flavour::Dsmr22, 1_700_000_000, 1).telegram(1);
        assert!(t22.ends_with(b"!\r\n"));
        assert_eq!(kw(1193), "01.193");
        assert_eq!(kwh(12_345_678), "012345.678");
    }
}
