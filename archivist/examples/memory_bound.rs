//! 100k lines/s of virtual time for 300 s through the Archivist: held bytes never exceed
//! the cap and stop growing once the ring is full. `cargo run --release -p qb-archivist
//! --example memory_bound [lines_per_s] [cap_mib]`.

use std::time::Instant;

use qb_archivist::{Archivist, ArchivistConfig, synth};

const S: i64 = 1_000_000_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let rate: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let cap_mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let cap = cap_mib << 20;
    let mut a = match Archivist::new(ArchivistConfig {
        memory_cap_bytes: cap,
        ..ArchivistConfig::default()
    }) {
        Ok(a) => a,
        Err(e) => return eprintln!("{e}"),
    };
    let (mut state, mut out) = (7u64, Vec::new());
    let (mut peak, mut early, mut late) = (0u64, (u64::MAX, 0u64), (u64::MAX, 0u64));
    let mut busy = std::time::Duration::ZERO;
    // Ten frames a second, as a 100 ms tailer tick would deliver them.
    for tick in 1..=3000i64 {
        let frame = synth::frame(tick * S / 10, rate / 10, &mut state);
        let t0 = Instant::now();
        a.observe(&frame);
        a.drain(&mut out);
        busy += t0.elapsed();
        out.clear();
        let held = a.stats().ring.held_bytes;
        assert!(held <= cap, "held {held} over the cap {cap}");
        peak = peak.max(held);
        let sec = tick / 10;
        let span = if (130..200).contains(&sec) {
            Some(&mut early)
        } else if sec >= 200 {
            Some(&mut late)
        } else {
            None
        };
        if let Some((lo, hi)) = span {
            *lo = (*lo).min(held);
            *hi = (*hi).max(held);
        }
    }
    let st = a.stats();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!("rate {rate} lines/s for 300 s, cap {cap_mib} MiB");
    println!(
        "peak held {:.1} MiB; 130-200 s {:.1}..{:.1} MiB; 200-300 s {:.1}..{:.1} MiB",
        mib(peak),
        mib(early.0),
        mib(early.1),
        mib(late.0),
        mib(late.1)
    );
    println!(
        "lines held {} ({} s of log at this rate); evicted by age {}, by cap {}",
        st.ring.lines_held,
        st.ring.lines_held / rate.max(1),
        st.ring.evicted_age_lines,
        st.ring.evicted_cap_lines
    );
    println!(
        "compression ratio {:.2} (raw {:.0} MiB -> {:.0} MiB sealed)",
        st.compression_ratio(),
        mib(st.ring.sealed_raw_bytes),
        mib(st.ring.sealed_compressed_bytes)
    );
    println!(
        "observe+drain: {:.0} lines/s ({:.2} s for {} lines)",
        st.lines_in as f64 / busy.as_secs_f64(),
        busy.as_secs_f64(),
        st.lines_in
    );
    // Stable: the last 100 s never hold more than 2 % above what 130-200 s held.
    assert!(
        late.1 as f64 <= early.1 as f64 * 1.02,
        "still growing: {early:?} -> {late:?}"
    );
}
