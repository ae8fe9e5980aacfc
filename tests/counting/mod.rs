//! A counting global allocator for the cost tests (`seam_cost`, `outbox_cost`,
//! `history_memory`, `input_memory`, `dsmr_retained`): the real allocator behind two counters
//! per thread, the live bytes and the allocations. Per thread because the test harness runs
//! tests on threads of their own: other tests, and threads the code under test starts, do not
//! disturb a count. A test binary installs it with
//! `#[global_allocator] static A: counting::Counting = counting::Counting;`.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread.
    static LIVE: Cell<i64> = const { Cell::new(0) };
    /// Allocations (and reallocations) made by this thread.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// `try_with`: allocations while a thread shuts down are not counted.
fn add_live(delta: i64) {
    let _ = LIVE.try_with(|n| n.set(n.get() + delta));
}

fn add_alloc() {
    let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add_live(layout.size() as i64);
        add_alloc();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add_live(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        add_live(new as i64 - layout.size() as i64);
        add_alloc();
        unsafe { System.realloc(ptr, layout, new) }
    }
}

/// Live heap bytes of this thread.
pub fn live() -> i64 {
    LIVE.with(Cell::get)
}

/// Allocations and reallocations this thread has made.
pub fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}
