//! The memory an object costs, measured by a counting allocator. Its own test binary with one test: the
//! allocator counts every thread of the process.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::*;

/// Counts the bytes live on the heap.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is kept beside.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's obligations are passed on as they are.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The bytes a Work and its placement keep on the heap, once converged, are bounded and do not grow
/// with the number of objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_per_object_is_bounded() {
    let mut h = Harness::new();
    h.apply(h.git_store("store"));
    h.apply(destination("d0", "store", "d0", &[("env", "dev")]));
    h.converge().await;
    let mut per_work = Vec::new();
    let mut count = 0;
    for batch in [400, 800] {
        let before = LIVE.load(Ordering::Relaxed);
        configmap_works(&h, count, count + batch);
        h.converge().await;
        count += batch;
        let grown = LIVE.load(Ordering::Relaxed) - before;
        per_work.push(grown / batch as isize);
    }
    // A Work, its placement, their statuses, events, indexes and claims: a few KiB, not more (7.5 KiB
    // on 2026-12-07, after labels and small maps were sized to what they hold; 12 leaves room).
    for bytes in &per_work {
        assert!(*bytes < 12 * 1024, "a Work and its placement cost {bytes} bytes: {per_work:?}");
    }
    assert!(per_work[1] < per_work[0] * 3 / 2, "the cost per object grows with their number: {per_work:?}");
}
