//! Parsing, ordering and the exact text of [`Decimal`].

use super::*;

#[test]
fn parse_and_print_keep_digits() {
    for (input, out) in [
        ("000123.456", "123.456"),
        ("63.44", "63.44"),
        ("00.000", "0.000"),
        ("0001", "1"),
        ("-0.5", "-0.5"),
        ("1,6", "1.6"),
        ("000018,3", "18.3"),
        ("0.001", "0.001"),
    ] {
        assert_eq!(Decimal::parse(input).map(|d| d.to_string()), Ok(out.into()));
    }
}

#[test]
fn kw_to_w_is_exact() {
    let kw = Decimal::parse("01.193").unwrap();
    assert_eq!(kw.shift(3).unwrap().normalize().to_string(), "1193");
    let kw = Decimal::parse("00.000").unwrap();
    assert_eq!(kw.shift(3).unwrap().normalize().to_string(), "0");
    let kw = Decimal::parse("0.0005").unwrap();
    assert_eq!(kw.shift(3).unwrap().normalize().to_string(), "0.5");
}

#[test]
fn rejects_garbage() {
    assert!(Decimal::parse("").is_err());
    assert!(Decimal::parse("-").is_err());
    assert!(Decimal::parse("1.2.3").is_err());
    assert!(Decimal::parse("12a").is_err());
    assert!(Decimal::parse("1234567890123456789").is_err());
}

#[test]
fn ordering_across_exponents() {
    let a = Decimal::parse("1.50").unwrap();
    let b = Decimal::parse("1.5").unwrap();
    let c = Decimal::parse("1.499").unwrap();
    assert_eq!(a.cmp(&b), Ordering::Equal);
    assert!(c < a);
    assert!(Decimal::new(1, 40) > Decimal::new(9, 0));
}

/// The allocation-free text (`write_to`, `Display`) is the text the earlier
/// `format!`-based Display wrote, at every exponent and the mantissa's extremes.
#[test]
fn text_matches_the_reference_formatting() {
    fn reference(d: Decimal) -> String {
        let neg = d.mantissa < 0;
        let digits = d.mantissa.unsigned_abs().to_string();
        let sign = if neg { "-" } else { "" };
        let e = d.exponent as i32;
        if e >= 0 {
            if e <= 18 {
                let zeros = if d.mantissa == 0 { 0 } else { e as usize };
                format!("{sign}{digits}{:0<width$}", "", width = zeros)
            } else {
                format!("{sign}{digits}e{e}")
            }
        } else {
            let frac = (-e) as usize;
            if digits.len() > frac {
                let (int, fr) = digits.split_at(digits.len() - frac);
                format!("{sign}{int}.{fr}")
            } else {
                format!("{sign}0.{:0>width$}", digits, width = frac)
            }
        }
    }
    for m in [
        0,
        1,
        -1,
        7,
        10,
        -305,
        63_440,
        123_456_789,
        i64::MAX,
        i64::MIN,
    ] {
        for e in i8::MIN..=i8::MAX {
            let d = Decimal::new(m, e);
            let mut out = Vec::new();
            d.write_to(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), reference(d), "{m}e{e}");
            assert_eq!(d.to_string(), reference(d), "{m}e{e}");
            let mut json = Vec::new();
            d.write_json(&mut json);
            assert_eq!(
                String::from_utf8(json).unwrap(),
                serde_json::to_string(&d).unwrap(),
                "{m}e{e}"
            );
        }
    }
}

/// The text goes after what the buffer held, at its exact length (the fast path appends a
/// fixed scratch and cuts it).
#[test]
fn written_after_what_is_there() {
    for (m, e, text) in [(1234567, -3, "1234.567"), (-5, -2, "-0.05"), (0, 0, "0")] {
        let mut out = b"{\"a\":".to_vec();
        Decimal::new(m, e).write_json(&mut out);
        out.push(b'}');
        assert_eq!(out, format!("{{\"a\":{text}}}").as_bytes());
    }
}

#[test]
fn json_keeps_exact_token() {
    let d = Decimal::parse("63.44").unwrap();
    assert_eq!(serde_json::to_string(&d).unwrap(), "63.44");
    assert_eq!(Decimal::new(12, 30).to_string(), "12e30");
}
