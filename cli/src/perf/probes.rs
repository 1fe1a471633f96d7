//! The in-process probes: each times the same setup as its criterion bench, through
//! the fixture that bench uses, and returns its measurements or why it cannot run.

use std::hint::black_box;
use std::time::Instant;

use qb_gadgets::synthetic::{self, SyntheticHost};
use qb_models::registry::Registry;
use qb_recorder::measure::{encoding_writer, timed_tick};
use qb_recorder::{Recorder, RecorderConfig};

use super::Plan;
use super::report::Measurement;

pub const ENGINE_TICK: &str = "engine tick";
pub const RECORDER_TICK: &str = "recorder tick";
pub const RECORDER_TICK_CPU: &str = "recorder tick cpu";
pub const EBPF_PROBE: &str = "eBPF syscall probe";
pub const SYSCALL_DETACHED: &str = "getppid syscall detached";
pub const SYSCALL_ATTACHED: &str = "getppid syscall attached";
pub const CURATOR_LINES: &str = "curator throughput";
pub const CURATOR_BYTES: &str = "curator throughput bytes";

/// A probe's result: its measurements, or the reason it could not run here.
pub type Outcome = Result<Vec<Measurement>, String>;

fn measured(m: Option<Measurement>, name: &str) -> Result<Measurement, String> {
    m.ok_or_else(|| format!("{name}: no samples"))
}

/// The gadget engine on the tick bench's synthetic host (`qb_gadgets::synthetic`),
/// µs per `Engine::step`; frames are built outside the timing, as the bench does.
pub fn engine_tick(plan: &Plan) -> Outcome {
    let registry =
        Registry::embedded().map_err(|e| format!("the embedded models did not load: {e}"))?;
    let mut engine = synthetic::engine(&registry);
    let mut host = SyntheticHost::new();
    for _ in 0..synthetic::WARM_TICKS {
        engine.step(&host.frame());
    }
    let mut us = Vec::with_capacity(plan.engine_ticks);
    for _ in 0..plan.engine_ticks {
        let frame = host.frame();
        let start = Instant::now();
        let report = engine.step(&frame);
        us.push(start.elapsed().as_secs_f64() * 1e6);
        drop(black_box(report));
    }
    let what = format!(
        "Engine::step with {} (default config, embedded models, dry run) on {}; after {} warm-up ticks",
        synthetic::default_gadget_names().join("+"),
        synthetic::describe(),
        synthetic::WARM_TICKS,
    );
    Ok(vec![measured(
        Measurement::from_samples(ENGINE_TICK, "us", &us, true, what),
        ENGINE_TICK,
    )?])
}

/// The live recorder's default tick on this host (system, process, cgroup,
/// connections), encoded into an open Parquet segment as the recorder bench does:
/// wall and thread CPU ms per tick, ticks back to back.
pub fn recorder_tick(plan: &Plan) -> Outcome {
    let config = RecorderConfig::default();
    let mut recorder =
        Recorder::new(&config).map_err(|e| format!("the recorder did not start: {e}"))?;
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let mut writer = encoding_writer(&dir.path().join("rec"), &config.tables)
        .map_err(|e| format!("the dataset writer: {e}"))?;
    let tick = |recorder: &mut Recorder, writer: &mut _| {
        timed_tick(recorder, writer).map_err(|e| format!("a recorder tick: {e}"))
    };
    for _ in 0..plan.recorder_warmup {
        tick(&mut recorder, &mut writer)?;
    }
    let (mut wall, mut cpu, mut processes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..plan.recorder_ticks {
        let cost = tick(&mut recorder, &mut writer)?;
        wall.push(cost.wall.as_secs_f64() * 1e3);
        cpu.push(cost.cpu.as_secs_f64() * 1e3);
        processes.push(cost.processes as f64);
    }
    let tables: Vec<String> = config.tables.iter().map(|t| t.to_string()).collect();
    let mut seen = processes.clone();
    seen.sort_by(f64::total_cmp);
    let seen = super::report::quantile(&seen, 0.5).unwrap_or(0.0);
    let methods: Vec<String> = recorder
        .methods()
        .iter()
        .map(|(t, m)| format!("{t}: {m}"))
        .collect();
    let what = |clock: &str| {
        format!(
            "one default recorder tick on this host ({}; {seen:.0} processes seen, median), \
             Parquet-encoded into an open segment, {clock}, ticks back to back; methods: {}",
            tables.join(", "),
            methods.join("; ")
        )
    };
    Ok(vec![
        measured(
            Measurement::from_samples(RECORDER_TICK, "ms", &wall, true, what("wall clock")),
            RECORDER_TICK,
        )?,
        measured(
            Measurement::from_samples(
                RECORDER_TICK_CPU,
                "ms",
                &cpu,
                true,
                what("CPU time of the recording thread"),
            ),
            RECORDER_TICK_CPU,
        )?,
    ])
}

/// Calls per timed sample of the syscall loop (as the overhead bench's `getppid_loop_10k`).
const LOOP_CALLS: usize = 10_000;

fn syscall_samples(samples: usize) -> Vec<f64> {
    for _ in 0..5 {
        qb_bpf::getppid_loop(LOOP_CALLS);
    }
    (0..samples)
        .map(|_| {
            let start = Instant::now();
            qb_bpf::getppid_loop(LOOP_CALLS);
            start.elapsed().as_secs_f64() * 1e9 / LOOP_CALLS as f64
        })
        .collect()
}

/// ns per getppid with the syscall probe detached and attached, in alternating rounds
/// (detached, attached, ..., detached) so the machine's drift falls on both sides; the
/// cost is the attached median less the detached median. The overhead bench does one
/// round of each, with criterion's statistics.
pub fn ebpf_probe(plan: &Plan) -> Outcome {
    let per_phase = (plan.syscall_samples / plan.syscall_rounds).max(1);
    let (mut detached, mut attached) = (Vec::new(), Vec::new());
    for _ in 0..plan.syscall_rounds {
        detached.extend(syscall_samples(per_phase));
        let probe = qb_bpf::SyscallCounter::load().map_err(|e| qb_bpf::explain(&e))?;
        attached.extend(syscall_samples(per_phase));
        drop(probe);
    }
    detached.extend(syscall_samples(per_phase));

    let median = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        super::report::quantile(&s, 0.5).unwrap_or(f64::NAN)
    };
    let (off, on) = (median(&detached), median(&attached));
    let rounds = plan.syscall_rounds;
    let loop_what = format!(
        "ns per getppid in a loop of {LOOP_CALLS} calls, one sample per loop, {rounds} rounds \
         of {per_phase} detached then {per_phase} attached samples, and a last detached one"
    );
    Ok(vec![
        Measurement::single(
            EBPF_PROBE,
            "ns",
            on - off,
            attached.len(),
            true,
            format!(
                "added ns per syscall with the raw_syscalls:sys_enter counter attached: median \
                 {on:.1} ns attached less {off:.1} ns detached ({loop_what})"
            ),
        ),
        measured(
            Measurement::from_samples(
                SYSCALL_DETACHED,
                "ns",
                &detached,
                true,
                format!("{loop_what}; probe detached"),
            ),
            SYSCALL_DETACHED,
        )?,
        measured(
            Measurement::from_samples(
                SYSCALL_ATTACHED,
                "ns",
                &attached,
                true,
                format!("{loop_what}; probe attached"),
            ),
            SYSCALL_ATTACHED,
        )?,
    ])
}

/// Lines in the Curator's corpus (as its bench): one sample is one pass over them.
const CURATOR_CORPUS: usize = 20_000;

/// The Curator's fast path redacting the simulator's throughput corpus (default
/// policy) on one thread, as `curator_fast_path/meta_multi_pattern_redact` does.
pub fn curator_throughput(plan: &Plan) -> Outcome {
    let lines = qb_simulator::pii::throughput_corpus(CURATOR_CORPUS);
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let redactor = qb_curator::Redactor::new(qb_curator::RedactConfig::default())
        .map_err(|e| format!("the Curator's fast path did not build: {e}"))?;
    let mut scratch = redactor.scratch();
    let mut pass = || {
        let start = Instant::now();
        let mut out = 0usize;
        for line in &lines {
            out += redactor.redact(line, &mut scratch).text.len();
        }
        black_box(out);
        start.elapsed().as_secs_f64()
    };
    pass();
    let seconds: Vec<f64> = (0..plan.curator_passes).map(|_| pass()).collect();
    let lines_per_s: Vec<f64> = seconds.iter().map(|s| lines.len() as f64 / s).collect();
    let mb_per_s: Vec<f64> = seconds.iter().map(|s| bytes as f64 / 1e6 / s).collect();
    let what = format!(
        "redacting {} simulated log lines ({:.1} MB; 3 % carry PII, 20 % of the rest \
         lookalikes) with the default policy on one thread, one sample per pass, after one \
         warm-up pass",
        lines.len(),
        bytes as f64 / 1e6
    );
    Ok(vec![
        measured(
            Measurement::from_samples(CURATOR_LINES, "lines/s", &lines_per_s, false, what.clone()),
            CURATOR_LINES,
        )?,
        measured(
            Measurement::from_samples(CURATOR_BYTES, "MB/s", &mb_per_s, false, what),
            CURATOR_BYTES,
        )?,
    ])
}
