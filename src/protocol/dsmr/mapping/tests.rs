use super::*;

/// The power failure log reads durations only from the latest entry down; it must pick
/// what reading every entry in order picks (bad times and durations, equal times, long logs).
#[test]
fn failure_log_matches_reading_every_entry() {
    let times = [
        "190201235231W",
        "190201235231S",
        "190201225231W",
        "632525252525S",
        "000000000000W",
        "190212214204W",
        "1902012352",
        "190310230314",
    ];
    let durations = ["0000003231*s", "0000000315*S", "12*kWh", "abc", "7*s", ""];
    let mut seed = 0x853c_49e6_748f_ea9bu64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..5000 {
        let entries = next(14);
        let mut line = format!("1-0:99.97.0({entries})(0-0:96.7.19)");
        for _ in 0..entries {
            line += &format!("({})({})", times[next(times.len())], durations[next(6)]);
        }
        let mut codes = parser::CodeCache::default();
        let o = parser::objects(line.as_bytes(), &mut codes)
            .next()
            .unwrap()
            .unwrap();
        let (mut fast, mut all) = (Builder::new(12), Builder::new(12));
        fast.failure_log(&o);
        let mut g = parser::groups(o.values);
        g.next();
        g.next();
        all.failure_log_all(g);
        assert_eq!(fast.values, all.values, "{line}");
    }
}
