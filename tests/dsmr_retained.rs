//! What a P1 decoder keeps on the heap between telegrams: its buffers, nothing of the telegrams
//! it decoded. The memo that replayed unchanged lines (removed, issue 13) kept each object's
//! text and values and the meters' identities, about 5 KiB per DSMR 5 meter; with thousands of
//! meters per bridge that is what the bridge's memory grows by.
//!
//! Measured with the real allocator behind a counter of the live bytes this thread allocated
//! (tests run on threads of their own, so other tests do not disturb the count).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use meter2mqtt::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: allocations while the thread shuts down are not counted.
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// The real 566-telegram Iskra AM550 capture (corpus `nielsbasjes_dsmr_tools/streams`), one
/// telegram per push as a meter sends them; every event dropped once drained. What the decoder
/// still holds then is its buffers: the input and the telegram buffer, each sized by the
/// largest push or telegram (778 bytes here), and the frame queue.
#[test]
fn a_decoder_keeps_nothing_of_the_telegrams_it_decoded() {
    let telegrams = split_telegrams(&read(
        "nielsbasjes_dsmr_tools/streams/ttyUSB0-raw.full_stream.bin",
    ));
    assert_eq!(telegrams.len(), 566);
    let longest = telegrams.iter().map(|t| t.len()).max().unwrap_or(0) as isize;

    // Allocated before counting starts.
    let mut held = Vec::with_capacity(telegrams.len());
    let before = live();
    let mut d = Box::new(P1Decoder::new(DecoderOptions::default()));
    let empty = live() - before;
    let mut decoded = 0;
    for t in &telegrams {
        d.push(t);
        while let Some(e) = d.next_event(now()) {
            assert!(matches!(e, P1Event::Telegram(_)), "{e:?}");
            decoded += 1;
        }
        held.push(live() - before - empty);
    }
    assert_eq!(decoded, 566);
    let most = held.iter().copied().max().unwrap_or(0);
    // Two buffers of about a telegram each, and room for their growth (`Vec` doubles).
    assert!(
        most <= 4 * longest,
        "a decoder holds {most} bytes between telegrams (its buffers need at most {})",
        4 * longest
    );
    drop(d);
    assert_eq!(live(), before, "a dropped decoder frees everything");
    // Last: the test harness keeps printed output on this thread's heap.
    println!(
        "decoder: {empty} bytes when new, at most {most} more between telegrams \
         (longest telegram {longest} bytes)"
    );
}
