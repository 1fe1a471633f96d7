//! One live run: start the workload, record the host while it misbehaves, write the
//! labels, clean up.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use qb_recorder::{Recorder, RecorderConfig, TailConfig, Ticker, now_ns};
use qb_signals::{DatasetWriter, Frame, Manifest, Origin, Table, WriterOptions};

use crate::{LiveError, LiveScenario, Step, Workload, cgroup, leak, pii, scratch, stuck, toxic};

#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Dataset directory (created; must not exist or be empty).
    pub out: PathBuf,
    pub interval: Duration,
    /// Longest the run records; a leak ends earlier, shortly after its OOM kill.
    pub duration: Duration,
    /// When the fault starts, from the first tick (stuck and toxic runs); default a
    /// third of the duration, so there is a healthy stretch before it.
    pub onset: Option<Duration>,
    pub proc_root: PathBuf,
    pub cgroup_root: PathBuf,
    pub ebpf: bool,
}

impl LiveOptions {
    pub(crate) fn onset(&self) -> Duration {
        self.onset.unwrap_or(self.duration / 3)
    }
}

#[derive(Debug)]
pub struct LiveSummary {
    pub manifest: Manifest,
    pub ticks: u64,
    pub elapsed: Duration,
    pub labels: usize,
    /// What happened, one line each.
    pub events: Vec<String>,
}

/// Runs `scenario` until its episode is over, `opts.duration` passed, or `stop` is
/// raised (Ctrl-C); `on_tick` sees every frame (for a progress display). Whatever
/// happens, the processes and cgroups it started are gone when this returns.
pub fn run(
    scenario: &LiveScenario,
    opts: &LiveOptions,
    stop: &AtomicBool,
    on_tick: &mut dyn FnMut(&Frame),
) -> Result<LiveSummary, LiveError> {
    crate::require_root()?;
    if opts.onset.is_some_and(|o| o >= opts.duration) {
        return Err(LiveError::Usage(format!(
            "--onset {:?} must come before the end of the run ({:?})",
            opts.onset.unwrap_or_default(),
            opts.duration
        )));
    }
    let swept = cgroup::sweep_stale(&opts.cgroup_root) + scratch::sweep_stale();
    if swept > 0 {
        eprintln!("qbranch: removed {swept} cgroup(s) and directories left by killed runs");
    }
    let mut workload: Box<dyn Workload> = match scenario {
        LiveScenario::Leak(o) => Box::new(leak::Leak::start(o, opts)?),
        LiveScenario::Stuck(f) => Box::new(stuck::Stuck::start(*f, opts)?),
        LiveScenario::Toxic(o) => Box::new(toxic::Toxic::start(o, opts)?),
        LiveScenario::Pii(o) => Box::new(pii::Flood::start(o, opts)?),
    };
    let plan = workload.plan();
    let mut recorder = Recorder::new(&RecorderConfig {
        proc_root: opts.proc_root.clone(),
        cgroup_root: opts.cgroup_root.clone(),
        cgroup_scope: None,
        tables: plan.tables.clone(),
        host: None,
        ebpf: opts.ebpf,
        log_globs: plan.log_globs.clone(),
        tail: TailConfig {
            from_start: true,
            ..TailConfig::default()
        },
        traces: None,
    })?;
    let mut tables = recorder.methods().clone();
    tables.insert(Table::Labels, format!("qb-live {}", scenario.name()));
    let mut writer = DatasetWriter::create(
        &opts.out,
        WriterOptions {
            host: recorder.host().to_string(),
            origin: Origin::Live,
            tables,
            segment: qb_signals::DEFAULT_SEGMENT,
            append: false,
        },
    )?;
    writer.set_interval(opts.interval);
    writer.set_generator(format!("live/{}", scenario.name()), 0);
    for (table, reason) in recorder.unavailable() {
        writer.mark_unavailable(*table, reason.clone())?;
    }
    for (table, note) in recorder.notes() {
        writer.note(*table, note.clone())?;
    }

    let mut ticker = Ticker::new(opts.interval, Some(opts.duration));
    let mut ticks = 0;
    let result = (|| -> Result<(), LiveError> {
        loop {
            let frame = recorder.collect(now_ns());
            let step = workload.tick(&frame)?;
            writer.write_frame(&frame)?;
            ticks += 1;
            on_tick(&frame);
            if step == Step::Done || !ticker.wait(stop) {
                return Ok(());
            }
        }
    })();
    // Labels and the manifest are written even when the run failed half-way: the
    // frames so far are real, and the labels say what had happened by then.
    let labels = workload.labels(now_ns());
    writer.write_rows(&labels)?;
    let manifest = writer.finish()?;
    let events = workload.summary();
    drop(workload);
    result?;
    Ok(LiveSummary {
        manifest,
        ticks,
        elapsed: ticker.elapsed(),
        labels: labels.len(),
        events,
    })
}
