//! A lookup in a short list kept in the order a meter sends its values.
//!
//! A meter sends the same quantities in the same order in every telegram (the DSMR telegram
//! lists its objects in one fixed order, IEC 62056-21 readouts and KMP register sets too), so
//! a per-meter list of quantities is found in order: the entry after the last one found is
//! tried first, and a search of the whole list runs only when a meter changes what it sends.
//! One comparison per value instead of a search per value (issue 17: ≈ 20 values × 10 000
//! meters). The counter guard, the history's minute and its index of seen keys share it.

/// Where the next lookup starts: just after the entry the last one found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor(usize);

impl Cursor {
    /// The index of the first entry of `list` that `is`, trying the entry at the cursor
    /// first; the cursor moves past it. A miss leaves the cursor where it was.
    // Inlined: the guard runs it once per counter per telegram, and the call cost more than
    // the lookup (issue 17, `docs/benchmarks.md` "Stop 7").
    #[inline]
    pub fn find<T>(&mut self, list: &[T], is: impl Fn(&T) -> bool) -> Option<usize> {
        let i = match list.get(self.0) {
            Some(t) if is(t) => self.0,
            _ => list.iter().position(is)?,
        };
        self.0 = i + 1;
        Some(i)
    }

    /// The entry at `i` was just added (after a miss): the next lookup starts after it.
    #[inline]
    pub fn added(&mut self, i: usize) {
        self.0 = i + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn in_order_each_lookup_is_the_entry_after_the_last() {
        let list = ["a", "b", "c"];
        let mut at = Cursor::default();
        let found: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|k| at.find(&list, |e| e == k))
            .collect();
        assert_eq!(found, [Some(0), Some(1), Some(2)]);
    }

    #[test]
    fn out_of_order_and_missing_keys_are_still_found_or_missed() {
        let list = ["a", "b", "c"];
        let mut at = Cursor::default();
        assert_eq!(at.find(&list, |e| *e == "c"), Some(2));
        // Past the end: a search from the start.
        assert_eq!(at.find(&list, |e| *e == "a"), Some(0));
        assert_eq!(at.find(&list, |e| *e == "x"), None);
        // A miss left the cursor after "a".
        assert_eq!(at.find(&list, |e| *e == "b"), Some(1));
        at.added(2);
        assert_eq!(at.find(&list, |e| *e == "b"), Some(1));
    }
}
