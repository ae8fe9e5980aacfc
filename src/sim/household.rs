//! A household whose meters move like real ones: base load with morning and evening peaks,
//! solar export around noon, gas heating on cold mornings and evenings. Counters only go up.

/// Simulated consumption state, advanced in whole seconds.
#[derive(Debug, Clone)]
pub struct Household {
    /// Counters in Wh / dm³ (litres) so they stay integers and exact.
    pub import_t1_wh: u64,
    pub import_t2_wh: u64,
    pub export_t1_wh: u64,
    pub export_t2_wh: u64,
    pub gas_dm3: u64,
    pub water_dm3: u64,
    /// Heat meter: energy in kWh × 1000 (Wh) and volume in litres.
    pub heat_wh: u64,
    pub heat_volume_l: u64,
    /// Current net power per direction in W.
    pub power_import_w: u32,
    pub power_export_w: u32,
    pub tariff: u8,
    /// Local wall-clock seconds since the Unix epoch (drives day/night and seasons).
    pub clock: i64,
    seed: u64,
    /// Accumulated fractions so slow flows still tick up.
    frac_gas: f64,
    frac_water: f64,
    frac_energy: f64,
}

impl Household {
    pub fn new(clock: i64, seed: u64) -> Self {
        Household {
            import_t1_wh: 12_345_678 + seed % 1000,
            import_t2_wh: 9_876_543,
            export_t1_wh: 1_234_567,
            export_t2_wh: 2_345_678,
            gas_dm3: 4_567_890,
            water_dm3: 345_678,
            heat_wh: 55_006_000,
            heat_volume_l: 1_875_560,
            power_import_w: 0,
            power_export_w: 0,
            tariff: 1,
            clock,
            seed: seed | 1,
            frac_gas: 0.0,
            frac_water: 0.0,
            frac_energy: 0.0,
        }
    }

    fn noise(&mut self) -> f64 {
        // xorshift64: deterministic per seed, no dependency needed for a simulation.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed % 10_000) as f64 / 10_000.0
    }

    /// Hour of day (0..24, fractional) and month (1..12) of the simulated clock.
    pub fn hour_and_month(&self) -> (f64, u32) {
        let t = crate::time::Timestamp::from_unix_seconds(self.clock);
        (
            t.hour as f64 + t.minute as f64 / 60.0 + t.second as f64 / 3600.0,
            t.month as u32,
        )
    }

    /// Advance the simulation by `secs` seconds.
    pub fn advance(&mut self, secs: u32) {
        for _ in 0..secs {
            self.clock += 1;
            let (hour, month) = self.hour_and_month();
            let winter = matches!(month, 11 | 12 | 1 | 2 | 3);
            let peak = if (7.0..9.0).contains(&hour) || (17.0..22.0).contains(&hour) {
                900.0
            } else {
                0.0
            };
            let load = 250.0 + peak + 300.0 * self.noise();
            let sun = if (6.0..20.0).contains(&hour) {
                let x = (hour - 6.0) / 14.0 * std::f64::consts::PI;
                let strength = if winter { 800.0 } else { 3200.0 };
                strength * x.sin().max(0.0)
            } else {
                0.0
            };
            let net = load - sun;
            self.tariff = if (7.0..23.0).contains(&hour) { 2 } else { 1 };
            if net >= 0.0 {
                self.power_import_w = net as u32;
                self.power_export_w = 0;
            } else {
                self.power_import_w = 0;
                self.power_export_w = (-net) as u32;
            }
            self.frac_energy += net.abs() / 3600.0;
            let wh = self.frac_energy.floor() as u64;
            self.frac_energy -= wh as f64;
            match (net >= 0.0, self.tariff) {
                (true, 1) => self.import_t1_wh += wh,
                (true, _) => self.import_t2_wh += wh,
                (false, 1) => self.export_t1_wh += wh,
                (false, _) => self.export_t2_wh += wh,
            }
            let heating = winter && ((6.0..9.0).contains(&hour) || (17.0..23.0).contains(&hour));
            self.frac_gas += if heating { 1.2 / 3.6 } else { 0.05 / 3.6 } / 1.0;
            let dm3 = self.frac_gas.floor() as u64;
            self.frac_gas -= dm3 as f64;
            self.gas_dm3 += dm3;
            if heating {
                self.heat_wh += 3;
                self.heat_volume_l += 1;
            }
            self.frac_water += if peak > 0.0 { 0.08 } else { 0.002 };
            let l = self.frac_water.floor() as u64;
            self.frac_water -= l as f64;
            self.water_dm3 += l;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_only_go_up_and_sun_exports_at_noon() {
        // 2024-06-21 00:00 UTC
        let mut h = Household::new(1_718_928_000, 7);
        let mut last = h.clone();
        let mut exported_at_noon = false;
        for _ in 0..24 {
            h.advance(3600);
            assert!(h.import_t1_wh >= last.import_t1_wh && h.import_t2_wh >= last.import_t2_wh);
            assert!(h.gas_dm3 >= last.gas_dm3 && h.export_t2_wh >= last.export_t2_wh);
            let (hour, _) = h.hour_and_month();
            if (12.0..14.0).contains(&hour) && h.power_export_w > 0 {
                exported_at_noon = true;
            }
            last = h.clone();
        }
        assert!(exported_at_noon);
    }
}
