//! `qbranch curator`: the Curator's slow path. `learn` runs the fast path and the
//! sampled slow path over log files, turns what the slow path finds into proposed
//! rules, puts each through the promotion gate and persists the accepted ones;
//! `rules` lists them. Glue only: see qb-curator's `slow`, `learn`, `learned`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use qb_curator::{
    DEFAULT_RULES_FILE, Detector, Entity, Gate, LabelledLine, LearnedRule, Learner, SlowConfig,
    SlowPath, SlowScratch, Verdict, load_rules, save_rules,
};
use qb_simulator::rng::Rng;
use qb_simulator::{PiiKind, PiiLineGenerator, PiiMix, START_NS};

#[derive(Debug, Args)]
pub struct CuratorArgs {
    #[command(subcommand)]
    command: CuratorCommand,
}

#[derive(Debug, Subcommand)]
enum CuratorCommand {
    /// Run the fast and the sampled slow path over log files; propose, gate and keep
    /// rules for what the fast path missed
    Learn(LearnArgs),
    /// List the learned rules
    Rules(RulesArgs),
}

#[derive(Debug, Args)]
struct LearnArgs {
    /// Log files to learn from
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The learned-rules file (read, then rewritten with the accepted rules)
    #[arg(long, default_value = DEFAULT_RULES_FILE)]
    rules: PathBuf,
    /// PII-free log files the gate checks proposals against (besides the simulator's
    /// clean and lookalike lines); repeatable
    #[arg(long = "clean", value_name = "FILE")]
    clean: Vec<PathBuf>,
    /// Simulated pii datasets (`qbranch simulate pii`) whose labelled lines the gate
    /// measures precision on (besides the simulator's training seeds); repeatable
    #[arg(long = "labelled", value_name = "DIR")]
    labelled: Vec<PathBuf>,
    /// Share of lines the slow path classifies
    #[arg(long, default_value_t = qb_curator::slow::DEFAULT_SAMPLE)]
    sample: f64,
    /// Seed of the sampling
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Least classifier probability of a slow-path finding
    #[arg(long, default_value_t = qb_curator::slow::DEFAULT_MIN_PROBABILITY)]
    min_probability: f32,
    /// PII-free lines a rule may match
    #[arg(long, default_value_t = 0)]
    allowance: u64,
    /// Least precision on the labelled set
    #[arg(long, default_value_t = 0.95)]
    min_precision: f64,
    /// Least matches in the labelled set
    #[arg(long, default_value_t = 5)]
    min_support: u64,
    /// Show proposals and verdicts without writing the rules file
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct RulesArgs {
    /// The learned-rules file
    #[arg(long, default_value = DEFAULT_RULES_FILE)]
    rules: PathBuf,
}

pub fn run(args: CuratorArgs) -> Result<()> {
    match args.command {
        CuratorCommand::Learn(a) => learn(a),
        CuratorCommand::Rules(a) => rules(&a.rules),
    }
}

fn rules(path: &Path) -> Result<()> {
    let rules = load_rules(path)?;
    // Written, not printed: `qbranch curator rules | head` ends quietly.
    let mut out = std::io::stdout().lock();
    if rules.is_empty() {
        writeln!(out, "{}: no learned rules", path.display())?;
        return Ok(());
    }
    writeln!(out, "{}: {} learned rule(s)", path.display(), rules.len())?;
    for r in &rules {
        let result = writeln!(
            out,
            "{}  {}  support {}  labelled precision {:.3} ({} of {})  clean matches {} of {}  learned {}\n    {}",
            r.name,
            r.entity.name(),
            r.support,
            r.precision(),
            r.labelled_correct,
            r.labelled_matches,
            r.clean_matches,
            r.clean_lines,
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(r.learned_at_unix)
            ),
            r.pattern
        );
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    Ok(())
}

/// Lines per generated writer of the gate's corpora.
const CORPUS_LINES: usize = 5_000;

/// The simulator's PII-free lines: clean and lookalike writers over the training
/// seeds (labelled lookalikes only, never PII).
pub fn simulated_clean() -> Vec<String> {
    let mut out = Vec::new();
    for seed in qb_simulator::TRAINING_SEEDS {
        for kind in [PiiKind::Clean, PiiKind::Lookalikes] {
            let mix = PiiMix::for_kind(kind, "app", &[], &mut Rng::new(seed));
            let mut g = PiiLineGenerator::new(seed, mix);
            for i in 0..CORPUS_LINES {
                let line = g.next_line(START_NS + i as i64 * 50_000_000);
                if line.spans.is_empty() {
                    out.push(line.text);
                }
            }
        }
    }
    out
}

/// The simulator's labelled lines: every leaking kind (the novel spellings included)
/// over the training seeds, 30 % PII records.
pub fn simulated_labelled() -> Vec<LabelledLine> {
    let mut out = Vec::new();
    for seed in qb_simulator::TRAINING_SEEDS {
        for kind in [PiiKind::PiiFlood, PiiKind::DebugDump, PiiKind::NovelFormats] {
            let mut mix = PiiMix::for_kind(kind, "app", &[], &mut Rng::new(seed));
            mix.pii_rate = 0.3;
            let mut g = PiiLineGenerator::new(seed, mix);
            for i in 0..CORPUS_LINES {
                let line = g.next_line(START_NS + i as i64 * 50_000_000);
                let spans = line
                    .spans
                    .iter()
                    .filter_map(|s| Some((s.start..s.end, Entity::from_name(s.entity)?)))
                    .collect();
                out.push(LabelledLine {
                    text: line.text,
                    spans,
                });
            }
        }
    }
    out
}

fn read_lines(path: &Path, mut each: impl FnMut(&str)) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&buf);
        each(text.trim_end_matches(['\n', '\r']));
    }
}

fn learn(a: LearnArgs) -> Result<()> {
    let mut existing = load_rules(&a.rules)?;
    let detector = Detector::with_rules(&existing)?;
    let slow = SlowPath::embedded(SlowConfig {
        sample: a.sample,
        seed: a.seed,
        min_probability: a.min_probability,
    })?;
    let mut scratch = detector.scratch();
    let mut slow_scratch = SlowScratch::default();
    let (mut fast, mut found) = (Vec::new(), Vec::new());
    let mut learner = Learner::new();
    let (mut lines, mut sampled, mut findings) = (0u64, 0u64, 0u64);
    let (mut fast_time, mut slow_time) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for path in &a.files {
        read_lines(path, |line| {
            lines += 1;
            let t0 = std::time::Instant::now();
            detector.detect(line, &mut scratch, &mut fast);
            let t1 = std::time::Instant::now();
            let took = slow.observe(line, &fast, &mut slow_scratch, &mut found);
            fast_time += t1 - t0;
            slow_time += t1.elapsed();
            if took {
                sampled += 1;
                for f in &found {
                    findings += 1;
                    learner.add(line, f);
                }
            }
        })?;
    }
    let proposals = learner.proposals();
    println!(
        "learn: {lines} lines, {sampled} sampled ({:.2} %), {findings} slow-path findings the fast path missed, {} distinct proposals",
        if lines == 0 {
            0.0
        } else {
            100.0 * sampled as f64 / lines as f64
        },
        proposals.len()
    );
    let per = |d: std::time::Duration, n: u64| d.as_secs_f64() * 1e6 / n.max(1) as f64;
    println!(
        "cost: fast path {:.2} us/line; slow path {:.2} us/line overall, {:.1} us per sampled line",
        per(fast_time, lines),
        per(slow_time, lines),
        per(slow_time, sampled)
    );
    if proposals.is_empty() {
        return Ok(());
    }
    let mut clean = simulated_clean();
    for path in &a.clean {
        read_lines(path, |l| clean.push(l.to_string()))?;
    }
    let mut labelled = simulated_labelled();
    for dir in &a.labelled {
        for l in qb_trainer::curator::labelled_lines(dir)? {
            let spans = l
                .spans
                .into_iter()
                .filter_map(|(r, e)| Some((r, Entity::from_name(&e)?)))
                .collect();
            labelled.push(LabelledLine {
                text: l.text,
                spans,
            });
        }
    }
    let gate = Gate {
        clean_allowance: a.allowance,
        min_precision: a.min_precision,
        min_support: a.min_support,
        ..Gate::new(&clean, &labelled)
    };
    println!(
        "gate: {} PII-free lines (allowance {}), {} labelled lines (precision >= {}, support >= {})",
        clean.len(),
        a.allowance,
        labelled.len(),
        a.min_precision,
        a.min_support
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut accepted: Vec<LearnedRule> = Vec::new();
    for p in &proposals {
        if existing.iter().any(|r| r.pattern == p.pattern) {
            println!(
                "known   {} (support {}): {}",
                p.entity.name(),
                p.support,
                p.pattern
            );
            continue;
        }
        match gate.check(p, now) {
            Verdict::Accepted(r) => {
                println!(
                    "accept  {} {} (support {}, labelled precision {:.3} of {}, clean matches {}): {}",
                    r.name,
                    r.entity.name(),
                    r.support,
                    r.precision(),
                    r.labelled_matches,
                    r.clean_matches,
                    r.pattern
                );
                accepted.push(r);
            }
            Verdict::Rejected { proposal, reason } => println!(
                "reject  {} (support {}): {reason}: {}",
                proposal.entity.name(),
                proposal.support,
                proposal.pattern
            ),
        }
    }
    if a.dry_run || accepted.is_empty() {
        println!(
            "{} rule(s) accepted; {} not written",
            accepted.len(),
            a.rules.display()
        );
        return Ok(());
    }
    let n = accepted.len();
    existing.extend(accepted);
    // The whole set must still compile together before it is written.
    Detector::with_rules(&existing)?;
    save_rules(&a.rules, &existing)?;
    println!(
        "{n} rule(s) accepted; {} now holds {}",
        a.rules.display(),
        existing.len()
    );
    Ok(())
}
