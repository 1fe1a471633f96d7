//! The Archivist's TF-IDF vocabulary: document frequencies of line tokens over the
//! training datasets' `logs` tables (ids, numbers and addresses masked by
//! `qb_archivist::novelty::tokens`). Evaluated where ranking matters: on held-out
//! simulated crashes, is the root-cause line still in a flush that keeps only the top
//! `keep_fraction` by novelty, and where does it rank among its window's lines?

use std::time::Duration;

use qb_archivist::{Archivist, ArchivistConfig, Vocabulary, VocabularyBuilder, Why};
use qb_models::artifact::current_schema_hash;
use qb_models::features::ARCHIVIST;
use qb_models::{Artifact, ModelKind};
use qb_signals::{Dataset, LogRow, SignalSource, Table};
use qb_simulator::{Clock, Generator, IncidentGenerator, IncidentKind};

use crate::datasets::{Entry, Split};
use crate::{TrainError, Trained};

/// Tokens seen in fewer lines are left out (they score as never seen).
const MIN_DF: u64 = 3;
const MAX_TERMS: usize = 50_000;
/// Held-out crashes the ranking is evaluated on.
const EVAL_SEEDS: std::ops::Range<u64> = 10_001..10_011;

pub fn train(entries: &[Entry], progress: &mut dyn FnMut(String)) -> Result<Trained, TrainError> {
    let mut builder = VocabularyBuilder::default();
    let mut lines = 0usize;
    for e in entries.iter().filter(|e| e.split == Split::Training) {
        let ds = Dataset::open(&e.dir)?;
        if !ds.manifest().is_recorded(Table::Logs) {
            continue;
        }
        let rows: Vec<LogRow> = ds.read_table()?;
        for r in &rows {
            builder.add(&r.line);
        }
        lines += rows.len();
        progress(format!("{lines} lines counted"));
    }
    if lines == 0 {
        return Err(TrainError::NoData(
            "no training dataset has a logs table (e.g. the pii family)".into(),
        ));
    }
    let vocabulary = builder.finish(MIN_DF, MAX_TERMS);
    progress("ranking held-out crashes".into());
    let eval = evaluate(&vocabulary)?;
    let summary = vec![
        format!(
            "{} terms from {} lines (min df {MIN_DF})",
            vocabulary.df.len(),
            vocabulary.docs
        ),
        format!(
            "held-out crashes (incident/crash seeds {}-{}): root cause kept at keep_fraction 0.9 in {} of {} flushes; its novelty percentile in its window: median {:.2}, worst {:.2}",
            EVAL_SEEDS.start,
            EVAL_SEEDS.end - 1,
            eval.kept,
            eval.flushes,
            eval.median_percentile,
            eval.worst_percentile
        ),
    ];
    let metrics = serde_json::json!({
        "model": "archivist",
        "kind": "vocabulary",
        "terms": vocabulary.df.len(),
        "training_lines": lines,
        "min_df": MIN_DF,
        "max_terms": MAX_TERMS,
        "held_out": {
            "generator": "incident/crash",
            "seeds": [EVAL_SEEDS.start, EVAL_SEEDS.end - 1],
            "flushes_with_root_cause": eval.flushes,
            "root_cause_kept_at_0_9": eval.kept,
            "root_cause_percentile_median": eval.median_percentile,
            "root_cause_percentile_worst": eval.worst_percentile,
            "baseline_without_ranking_kept": eval.flushes,
        },
    });
    Ok(Trained {
        name: "archivist",
        artifact: Artifact {
            kind: ModelKind::Vocabulary,
            schema_hash: current_schema_hash(),
            feature_hash: ARCHIVIST.hash(),
            payload: vocabulary.to_bytes(),
        },
        training_rows: lines,
        held_out_rows: eval.lines,
        metrics,
        summary,
    })
}

/// The vocabulary in an artifact written by [`train`], checked.
pub fn vocabulary(artifact: &Artifact) -> Result<Vocabulary, TrainError> {
    if artifact.kind != ModelKind::Vocabulary || artifact.feature_hash != ARCHIVIST.hash() {
        return Err(TrainError::NoData("not the archivist's vocabulary".into()));
    }
    Vocabulary::from_bytes(&artifact.payload).map_err(|e| TrainError::NoData(e.to_string()))
}

#[derive(Debug, Default)]
struct Eval {
    flushes: usize,
    kept: usize,
    median_percentile: f64,
    worst_percentile: f64,
    lines: usize,
}

/// Runs ranked Archivists over held-out crashes; for each root-cause line, whether its
/// flush kept it, and its score's percentile among the victim's lines of the window
/// (1.0: the most novel).
fn evaluate(vocabulary: &Vocabulary) -> Result<Eval, TrainError> {
    let sim = |e: qb_simulator::SimError| TrainError::NoData(e.to_string());
    let mut eval = Eval::default();
    let mut percentiles = Vec::new();
    for seed in EVAL_SEEDS {
        let clock = Clock::new(Duration::from_secs(600), Duration::from_secs(1)).map_err(sim)?;
        let mut g = IncidentGenerator::new(IncidentKind::Crash, seed, clock).map_err(sim)?;
        let cfg = ArchivistConfig {
            rank: true,
            sample_rate: 0.0,
            ..ArchivistConfig::default()
        };
        let mut a = Archivist::new(cfg)
            .map_err(|e| TrainError::NoData(e.to_string()))?
            .with_vocabulary(vocabulary.clone());
        let (mut rows, mut forwarded) = (Vec::new(), Vec::new());
        while let Some(frame) = g.next_frame()? {
            a.observe(&frame);
            a.drain(&mut forwarded);
            rows.extend(frame.logs);
        }
        eval.lines += rows.len();
        let Some(root) = g.labels().iter().find(|l| l.kind == "root_cause") else {
            continue;
        };
        let Some(event) = a.events().iter().find(|e| {
            (e.window_start_ns..=e.window_end_ns).contains(&root.start_ns)
                && e.services.contains(&root.target)
        }) else {
            continue;
        };
        eval.flushes += 1;
        let is_root = |r: &LogRow| r.source == root.target && r.ts_ns == root.start_ns;
        let kept = forwarded
            .iter()
            .any(|f| matches!(f.why, Why::Flush { .. }) && is_root(&f.row));
        eval.kept += usize::from(kept);
        let window: Vec<f64> = rows
            .iter()
            .filter(|r| {
                r.source == root.target
                    && (event.window_start_ns..=event.trigger.ts_ns).contains(&r.ts_ns)
            })
            .map(|r| vocabulary.score(&r.line))
            .collect();
        if let Some(root_row) = rows.iter().find(|r| is_root(r)) {
            let s = vocabulary.score(&root_row.line);
            let below = window.iter().filter(|w| **w < s).count();
            percentiles.push(below as f64 / window.len().max(1) as f64);
        }
    }
    percentiles.sort_by(f64::total_cmp);
    eval.median_percentile = percentiles
        .get(percentiles.len() / 2)
        .copied()
        .unwrap_or(0.0);
    eval.worst_percentile = percentiles.first().copied().unwrap_or(0.0);
    Ok(eval)
}
