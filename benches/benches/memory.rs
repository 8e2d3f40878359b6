//! Memory: what `DemiBuffer` views cost, and where buffers come from.
//!
//! - `clone`: another view of a buffer (a reference count), dropped again.
//! - `split_off`: splitting a view in two (no copy); the halves are dropped outside the timed region.
//! - `alloc_free/*`: one buffer of 64 B, 1500 B (an Ethernet frame) and 64 KiB obtained and released:
//!   `demi_heap` (`DemiBuffer::new`: a fresh zeroed heap allocation), `demi_pool` (`BufferPool::alloc`, a
//!   recycled buffer, not zeroed), `vec_zeroed` (`vec![0u8; n]`, the system allocator doing the same work as
//!   `demi_heap`) and `vec_uninit` (`Vec::with_capacity`, the bare system allocator).
//!
//! Not for: copying costs (nothing here touches the bytes after allocation).

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use runtime::{BufferPool, DemiBuffer};

const SIZES: [usize; 3] = [64, 1500, 64 * 1024];

fn views(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory/view");
    for size in SIZES {
        let buffer = DemiBuffer::new(size).expect("alloc");
        group.bench_function(BenchmarkId::new("clone", size), |b| b.iter(|| black_box(buffer.clone())));
        group.bench_function(BenchmarkId::new("split_off", size), |b| {
            b.iter_batched(
                || buffer.clone(),
                |mut front| {
                    let back = front.split_off(size / 2).expect("split");
                    (front, back)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn alloc_free(c: &mut Criterion) {
    for size in SIZES {
        let mut group = c.benchmark_group(format!("memory/alloc_free/{size}"));
        group.bench_function("demi_heap", |b| b.iter(|| black_box(DemiBuffer::new(black_box(size)).expect("alloc"))));
        let pool = BufferPool::new(0, size, 64).expect("pool");
        drop(pool.alloc(size).expect("warm the pool"));
        group.bench_function("demi_pool", |b| b.iter(|| black_box(pool.alloc(black_box(size)).expect("alloc"))));
        group.bench_function("vec_zeroed", |b| b.iter(|| black_box(vec![0u8; black_box(size)])));
        group.bench_function("vec_uninit", |b| b.iter(|| black_box(Vec::<u8>::with_capacity(black_box(size)))));
        group.finish();
    }
}

criterion_group!(benches, views, alloc_free);
criterion_main!(benches);
