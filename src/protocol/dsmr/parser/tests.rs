use super::*;

#[test]
fn header_and_model() {
    let (h, body) = split_header(b"/ISK5\\2M550T-1012\r\n\r\n1-0:1.8.1(1)\r\n");
    assert_eq!(h.flag, b"ISK");
    assert_eq!(model(h.ident).as_deref(), Some("M550T-1012"));
    assert_eq!(body, b"\r\n1-0:1.8.1(1)\r\n");
    assert_eq!(
        model(b"\\T210-D ESMR5.0").as_deref(),
        Some("T210-D ESMR5.0")
    );
    assert_eq!(model(b"\x02MIE5T-200").as_deref(), Some("MIE5T-200"));
    assert_eq!(model(b""), None);
}

#[test]
fn objects_join_continuations() {
    let body = b"0-1:24.3.0(1)(m3)\r\n(00752.852)\r\n0-0:96.13.0(3031\r\n3233)\r\nbad\r\n";
    let objs: Vec<_> = objects(body, &mut CodeCache::default()).collect();
    assert_eq!(objs.len(), 3);
    let o = objs[0].unwrap();
    assert_eq!(
        groups(o.values).collect::<Vec<_>>(),
        [&b"1"[..], b"m3", b"00752.852"]
    );
    let o = objs[1].unwrap();
    assert_eq!(text(groups(o.values).next().unwrap()), "0123");
    assert_eq!(objs[2].unwrap_err(), b"bad");
}

/// The byte-string match `RawUnit::parse` replaced.
fn unit_bytes(u: &[u8]) -> RawUnit {
    let lower: Vec<u8> = u.iter().map(u8::to_ascii_lowercase).collect();
    match &lower[..] {
        b"" => RawUnit::None,
        b"wh" => RawUnit::Wh,
        b"kwh" => RawUnit::KWh,
        b"mwh" => RawUnit::MWh,
        b"w" => RawUnit::W,
        b"kw" => RawUnit::KW,
        b"mw" => RawUnit::MW,
        b"varh" => RawUnit::Varh,
        b"kvarh" => RawUnit::Kvarh,
        b"var" => RawUnit::Var,
        b"kvar" => RawUnit::Kvar,
        b"va" => RawUnit::VA,
        b"kva" => RawUnit::Kva,
        b"v" => RawUnit::V,
        b"a" => RawUnit::A,
        b"hz" => RawUnit::Hz,
        b"m3" | b"m\xb3" | b"m\xc2\xb3" => RawUnit::M3,
        b"dm3" => RawUnit::Dm3,
        b"gj" => RawUnit::GJ,
        b"mj" => RawUnit::MJ,
        b"s" => RawUnit::S,
        _ => RawUnit::Other,
    }
}

#[test]
fn units_every_spelling() {
    let units: [&[u8]; 24] = [
        b"",
        b"wh",
        b"kwh",
        b"mwh",
        b"w",
        b"kw",
        b"mw",
        b"varh",
        b"kvarh",
        b"var",
        b"kvar",
        b"va",
        b"kva",
        b"v",
        b"a",
        b"hz",
        b"m3",
        b"m\xb3",
        b"m\xc2\xb3",
        b"dm3",
        b"gj",
        b"mj",
        b"s",
        b"kwhx",
    ];
    for u in units {
        for case in 0..(1u32 << u.len()) {
            let v: Vec<u8> = u
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    if case >> k & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        *c
                    }
                })
                .collect();
            assert_eq!(RawUnit::parse(&v), unit_bytes(&v), "{v:?}");
            for (pre, post) in [("", ""), (" ", ""), ("", "\r"), ("\t", " ")] {
                let mut g = b"(12.5*".to_vec();
                g.extend_from_slice(pre.as_bytes());
                g.extend_from_slice(&v);
                g.extend_from_slice(post.as_bytes());
                g.extend_from_slice(b")(x)\r\n");
                let slow = groups(&g).next().and_then(number);
                assert_eq!(first_number(&g), slow, "{g:?}");
            }
        }
    }
}

/// The word-at-a-time scans and number parser agree with the byte-at-a-time ones on
/// every short string over the characters that matter.
#[test]
fn word_scans_match_byte_scans() {
    let alphabet = b"0123456789.*()\r\n kKwWhHvVaArRmMsSgGjJzZdD/!\xb3\xc2\x00\xff";
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..200_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 24) as usize;
        let mut r = seed;
        let s: Vec<u8> = (0..len)
            .map(|_| {
                r = r.rotate_left(5) ^ 0x9e37_79b9;
                // Mostly digits, so long numbers come up.
                if r % 3 == 0 {
                    alphabet[(r / 3 % alphabet.len() as u64) as usize]
                } else {
                    b'0' + (r / 3 % 10) as u8
                }
            })
            .collect();
        assert_eq!(plain_decimal(&s), plain_decimal_bytes(&s), "{s:?}");
        assert_eq!(
            RawUnit::parse(&s[..s.len().min(9)]),
            unit_bytes(&s[..s.len().min(9)])
        );
        let mut group = b"(1*".to_vec();
        group.extend_from_slice(&s);
        let slow = {
            let mut g = groups(&group);
            let n = g.next().and_then(number);
            n.filter(|_| !g.malformed())
        };
        if let Some(fast) = first_number(&group) {
            assert_eq!(Some(fast), slow, "{group:?}");
        }
        for (a, b) in [(b')', b')'), (b'\n', b'\r'), (b'(', b')')] {
            let slow = s.iter().position(|&c| c == a || c == b);
            assert_eq!(find2(a, b, &s), slow, "{s:?}");
        }
        if let Some((d, _)) = plain_decimal(&s) {
            let end = s.iter().position(|c| !c.is_ascii_digit() && *c != b'.');
            let num = &s[..end.unwrap_or(s.len())];
            if let Ok(p) = Decimal::parse_bytes(num) {
                assert_eq!(d, p, "{s:?}");
            }
        }
    }
}

#[test]
fn units_and_text() {
    assert_eq!(number(b"000123.456*KWH").unwrap().1, RawUnit::KWh);
    assert_eq!(number(b"1*m\xb3").unwrap().1, RawUnit::M3);
    assert!(number(b"abc").is_none());
    assert_eq!(text(b"4530303433"), "E0043");
    assert_eq!(text(b"00000000"), "00000000");
    assert_eq!(text(b"test-/-test"), "test-/-test");
    assert_eq!(message(b"FFFFFFFF"), "");
}

/// Issue 17: the code cache starts empty, grows to the codes it sees and starts over empty at
/// its bound (a stream of ever new codes cannot grow it without end, nor keep the codes sent
/// now out of it); hits and misses give what `Obis::parse_plain` gives.
#[test]
fn the_code_cache_grows_to_need_and_starts_over_at_its_bound() {
    let mut c = CodeCache::default();
    assert_eq!(c.heap_bytes(), 0, "an unused cache holds nothing");
    let window = |a: u32, b: u32| {
        let mut w = [b' '; 32];
        let t = format!("0-0:{a}.{b}.0(1)\r\n");
        w[..t.len()].copy_from_slice(t.as_bytes());
        w
    };
    // A DSMR 5 meter's ≈ 30 codes: a 64-entry table.
    for round in 0..2 {
        for b in 0..30 {
            let w = window(96, b);
            assert_eq!(
                c.parse_plain(&w),
                Obis::parse_plain(&w),
                "round {round}, {b}"
            );
        }
    }
    assert_eq!(c.heap_bytes(), 64 * std::mem::size_of::<CodeEntry>());
    let mut restarts = 0;
    for a in 0..40 {
        for b in 0..25 {
            let w = window(a, b);
            let used = c.used;
            assert_eq!(c.parse_plain(&w), Obis::parse_plain(&w), "{a}.{b}");
            restarts += usize::from(c.used < used);
            let used = c.used;
            assert_eq!(c.parse_plain(&w), Obis::parse_plain(&w), "{a}.{b} again");
            assert_eq!(c.used, used, "{a}.{b} is cached once inserted");
        }
    }
    // 1 000 codes through a table that holds 192: it started over at least 5 times.
    assert!(restarts >= 5, "{restarts} restarts");
    assert_eq!(
        c.heap_bytes(),
        super::MAX_CODES * std::mem::size_of::<CodeEntry>()
    );
    assert!(c.used * 4 <= super::MAX_CODES * 3);
}

proptest::proptest! {
    /// `is_blank_id` is `id(..).is_none()` without the allocation: the same answer for groups
    /// made of hex digits, blanks, line breaks, other ASCII and non-UTF-8 bytes.
    #[test]
    fn blank_ids_as_id_says(group in proptest::collection::vec(
        proptest::sample::select(b"0123456789abcdefABCDEF2020 \r\n\t!zG\xa0\xff".to_vec()),
        0..12,
    )) {
        proptest::prop_assert_eq!(is_blank_id(&group), id(&group).is_none(), "{:?}", group);
    }
}

#[test]
fn blank_ids() {
    assert!(is_blank_id(b""));
    assert!(is_blank_id(b"2020"));
    assert!(is_blank_id(b"  "));
    assert!(!is_blank_id(b"4530303331"));
    assert!(!is_blank_id(b"2045"));
    assert!(!is_blank_id(b"E0026"));
}
