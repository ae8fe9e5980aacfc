//! The meters' identities ([`MeterInfo`]), built once per meter rather than once per telegram.
//!
//! Why: a meter sends the same identification line, equipment id and version line in every
//! telegram (DSMR 5.0.2 §6.2 and §6.12: `/ISK5\2M550T-1012`, `0-0:96.1.1(4530…)`,
//! `1-3:0.2.8(50)`), and building its `MeterInfo` from them (hex-decode the id, copy and
//! sanitise it, the maker, the model, the protocol, the `Arc`; six more for each M-Bus
//! sub-meter) was 12 of the 18 allocations and ≈ 4 000 instructions of a DSMR 5 + gas telegram
//! (issue 17, `docs/benchmarks.md` "Stop 7"). The decoder keeps the identity it built last
//! together with the bytes it was built from, and hands out the same `Arc` while those bytes
//! are equal. Only the identity is kept: every value is decoded in full every telegram, and a
//! changed byte in any of the identifying lines builds a new identity.
//!
//! Bounded: one key (the identifying bytes, at most a telegram's) and at most
//! [`MAX_SUBS`] sub-meter identities.

use std::sync::Arc;

use crate::reading::{MeterInfo, MeterKind};

/// Sub-meter identities kept (the decoder keeps at most 8 channels per telegram).
const MAX_SUBS: usize = 8;

/// The identities of the meters the decoder saw last.
#[derive(Debug, Default)]
pub(crate) struct Identities {
    /// What `meter` was built from, as written by [`key`].
    key: Vec<u8>,
    /// This telegram's key (kept for its capacity).
    scratch: Vec<u8>,
    meter: Option<Arc<MeterInfo>>,
    /// The sub-meters read through `meter` (cleared when `meter` changes: they name it).
    subs: Vec<Sub>,
}

#[derive(Debug)]
struct Sub {
    channel: u8,
    kind: MeterKind,
    /// The channel's id group as sent.
    id: Option<Vec<u8>>,
    info: Arc<MeterInfo>,
}

/// The parts of a key, each with a presence byte and its length (so `("ab", "c")` and
/// `("a", "bc")` differ).
fn key(out: &mut Vec<u8>, parts: &[Option<&[u8]>]) {
    out.clear();
    for p in parts {
        match p {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                out.extend_from_slice(&(p.len() as u32).to_le_bytes());
                out.extend_from_slice(p);
            }
        }
    }
}

impl Identities {
    /// The electricity meter's identity for a telegram whose identifying bytes are `parts`:
    /// the last one when they are what it was built from, else `make()`'s.
    pub fn meter(
        &mut self,
        parts: &[Option<&[u8]>],
        make: impl FnOnce() -> MeterInfo,
    ) -> Arc<MeterInfo> {
        key(&mut self.scratch, parts);
        if let Some(m) = &self.meter {
            if self.scratch == self.key {
                return m.clone();
            }
        }
        std::mem::swap(&mut self.key, &mut self.scratch);
        self.subs.clear();
        let m = Arc::new(make());
        self.meter = Some(m.clone());
        m
    }

    /// The identity of the sub-meter on `channel` (of the meter [`meter`](Self::meter) gave
    /// last): the last one when its kind and id group are the same, else `make()`'s.
    pub fn sub(
        &mut self,
        channel: u8,
        kind: MeterKind,
        id: Option<&[u8]>,
        make: impl FnOnce() -> MeterInfo,
    ) -> Arc<MeterInfo> {
        let at = self.subs.iter().position(|s| s.channel == channel);
        if let Some(s) = at.and_then(|i| self.subs.get(i)) {
            if s.kind == kind && s.id.as_deref() == id {
                return s.info.clone();
            }
        }
        let info = Arc::new(make());
        let sub = Sub {
            channel,
            kind,
            id: id.map(<[u8]>::to_vec),
            info: info.clone(),
        };
        match at {
            Some(i) => self.subs[i] = sub,
            None if self.subs.len() < MAX_SUBS => self.subs.push(sub),
            None => {}
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_give_the_same_identity_and_other_bytes_a_new_one() {
        let mut ids = Identities::default();
        let mut made = 0;
        let mut get = |ids: &mut Identities, parts: &[Option<&[u8]>]| {
            ids.meter(parts, || {
                made += 1;
                MeterInfo::new("E1", MeterKind::Electricity)
            })
        };
        let a = get(&mut ids, &[Some(b"ab"), Some(b"c")]);
        let b = get(&mut ids, &[Some(b"ab"), Some(b"c")]);
        assert!(Arc::ptr_eq(&a, &b));
        // The same bytes split differently, or a part missing, are another identity.
        let c = get(&mut ids, &[Some(b"a"), Some(b"bc")]);
        assert!(!Arc::ptr_eq(&b, &c));
        let d = get(&mut ids, &[None, Some(b"abc")]);
        assert!(!Arc::ptr_eq(&c, &d));
        assert_eq!(made, 3);
    }

    #[test]
    fn a_new_meter_forgets_the_sub_meters_of_the_old_one() {
        let mut ids = Identities::default();
        let gas = || MeterInfo::new("G1", MeterKind::Gas);
        ids.meter(&[Some(b"E1")], || {
            MeterInfo::new("E1", MeterKind::Electricity)
        });
        let g1 = ids.sub(1, MeterKind::Gas, Some(b"47"), gas);
        assert!(Arc::ptr_eq(
            &g1,
            &ids.sub(1, MeterKind::Gas, Some(b"47"), gas)
        ));
        assert!(!Arc::ptr_eq(
            &g1,
            &ids.sub(1, MeterKind::Gas, Some(b"48"), gas)
        ));
        let g2 = ids.sub(1, MeterKind::Gas, Some(b"48"), gas);
        ids.meter(&[Some(b"E2")], || {
            MeterInfo::new("E2", MeterKind::Electricity)
        });
        assert!(!Arc::ptr_eq(
            &g2,
            &ids.sub(1, MeterKind::Gas, Some(b"48"), gas)
        ));
    }
}
