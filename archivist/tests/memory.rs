//! Held memory is bounded and stops growing: sustained load for 300 s of virtual time,
//! once bounded by the cap and once by the retention. (100k lines/s is the example
//! `memory_bound`, run in release; debug builds here run at 2k lines/s.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use qb_archivist::{Archivist, ArchivistConfig, synth};

const S: i64 = 1_000_000_000;
const RATE: u64 = 2_000;

/// Held bytes after every frame, ten frames a second.
fn sustain(rate: u64, cap: u64) -> (Vec<u64>, Archivist) {
    let mut a = Archivist::new(ArchivistConfig {
        memory_cap_bytes: cap,
        ..ArchivistConfig::default()
    })
    .unwrap();
    let (mut state, mut out, mut held) = (3u64, Vec::new(), Vec::new());
    for tick in 1..=3000i64 {
        a.observe(&synth::frame(tick * S / 10, rate / 10, &mut state));
        a.drain(&mut out);
        out.clear();
        held.push(a.stats().ring.held_bytes);
    }
    (held, a)
}

fn steady(held: &[u64]) -> (u64, u64) {
    let max = |from: usize, to: usize| held[from..to].iter().copied().max().unwrap();
    (max(1300, 2000), max(2000, 3000))
}

#[test]
fn the_cap_bounds_held_bytes_under_sustained_load() {
    let cap = 2 << 20;
    let (held, a) = sustain(RATE, cap);
    assert!(held.iter().all(|&h| h <= cap));
    let (early, late) = steady(&held);
    assert!(late as f64 <= early as f64 * 1.02, "{early} -> {late}");
    let st = a.stats();
    assert!(st.ring.evicted_cap_lines > 0);
    println!(
        "cap-bound: peak {} B, steady {} B, {} lines held, ratio {:.2}",
        st.ring.peak_held_bytes,
        late,
        st.ring.lines_held,
        st.compression_ratio()
    );
}

#[test]
fn the_retention_bounds_held_bytes_when_the_cap_is_generous() {
    let cap = 64 << 20;
    let (held, a) = sustain(RATE, cap);
    let (early, late) = steady(&held);
    assert!(late as f64 <= early as f64 * 1.02, "{early} -> {late}");
    let st = a.stats();
    assert_eq!(st.ring.evicted_cap_lines, 0);
    assert!(st.ring.evicted_age_lines > 0);
    // 120 s of lines, give or take the open second.
    assert!(
        (119 * RATE..=122 * RATE).contains(&st.ring.lines_held),
        "{}",
        st.ring.lines_held
    );
    assert!(st.compression_ratio() > 2.0, "{}", st.compression_ratio());
    println!(
        "age-bound: peak {} B, steady {} B, ratio {:.2}",
        st.ring.peak_held_bytes,
        late,
        st.compression_ratio()
    );
}
