//! `gadgetd models`: every model the gadgets expect, where it comes from, whether it
//! passes its checks, and the held-out headline from its metrics file.
//!
//! qb-models embeds the manifest and the artifacts but not the metrics JSON, so for the
//! embedded models only the manifest's numbers (rows, seeds) and the metrics path are
//! shown; with `--models DIR` the metrics file is read.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use qb_models::registry::Registry;
use serde_json::Value;

pub fn run(dir: Option<&Path>) -> anyhow::Result<()> {
    let registry = match dir {
        Some(d) => Registry::from_dir(d).with_context(|| format!("models: {}", d.display()))?,
        None => Registry::embedded().context("embedded models")?,
    };
    print!("{}", listing(&registry, dir));
    Ok(())
}

pub fn listing(registry: &Registry, dir: Option<&Path>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "models: {}", registry.origin());
    for (name, status) in registry.status() {
        let _ = writeln!(out, "\n{name}");
        let status = match status {
            Ok(()) => "ok (checksum, kind, schema and feature hash verified)".to_string(),
            Err(e) => format!("REFUSED, its gadget runs the rule baseline: {e}"),
        };
        let Some(entry) = registry.manifest().models.get(name) else {
            let _ = writeln!(out, "  status: {status}");
            continue;
        };
        let _ = writeln!(out, "  kind: {}", entry.kind);
        let _ = writeln!(out, "  file: {}", entry.file);
        let _ = writeln!(out, "  checksum: {}", entry.checksum);
        let _ = writeln!(out, "  schema hash: {}", entry.schema_hash);
        let _ = writeln!(
            out,
            "  features: {} (hash {})",
            entry.feature_set, entry.feature_hash
        );
        let _ = writeln!(out, "  status: {status}");
        let _ = writeln!(
            out,
            "  trained on: {} seeds {:?} ({} rows); held out: seeds {:?} ({} rows)",
            entry.training_data,
            entry.training_seeds,
            entry.training_rows,
            entry.held_out_seeds,
            entry.held_out_rows
        );
        let metrics = match dir {
            None => format!(
                "{} (not embedded in this binary; `gadgetd models --models DIR` reads it)",
                entry.metrics
            ),
            Some(d) => {
                let path = d.join(&entry.metrics);
                match std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
                {
                    Ok(v) => format!("{}: {}", path.display(), headline(name, &v)),
                    Err(e) => format!("{}: unreadable: {e}", path.display()),
                }
            }
        };
        let _ = writeln!(out, "  held-out metrics: {metrics}");
    }
    out
}

/// The one number (or few) each model is judged by, as the trainer wrote them.
pub fn headline(name: &str, v: &Value) -> String {
    let found = match name {
        "oracle_lstm" | "oracle_arima" => oracle_headline(v),
        "pathologist" => class_headline(&v["model"], "stuck"),
        "equalizer" => v["model"]["auc"].as_f64().map(|auc| {
            format!(
                "ROC AUC {auc:.3} (rule baseline {})",
                num(&v["rule_baseline"]["auc"])
            )
        }),
        _ => None,
    };
    found.unwrap_or_else(|| "no headline known for this file (see the file)".to_string())
}

/// The model's own row of the held-out evaluation: leaks caught, lead, false alarms.
fn oracle_headline(v: &Value) -> Option<String> {
    let detector = v["model"].as_str()?;
    let row = v["evaluation"]["held_out"]
        .as_array()?
        .iter()
        .find(|r| r["detector"].as_str() == Some(detector))?;
    Some(format!(
        "{detector}: caught {}/{} leaks, median lead {} s, false alarms on {} of {} negative cgroups",
        num(&row["caught"]),
        num(&row["leaks"]),
        num(&row["lead_s"]["median"]),
        num(&row["negative_cgroups_alarmed"]),
        num(&row["negative_cgroups"]),
    ))
}

fn class_headline(model: &Value, class: &str) -> Option<String> {
    let row = model["per_class"]
        .as_array()?
        .iter()
        .find(|r| r["class"].as_str() == Some(class))?;
    Some(format!(
        "{class} precision {} recall {}",
        num(&row["precision"]),
        num(&row["recall"])
    ))
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.3}"),
        None => "?".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_models_are_listed_and_verified() {
        let r = Registry::embedded().unwrap();
        let text = listing(&r, None);
        for name in ["oracle_lstm", "oracle_arima", "pathologist", "equalizer"] {
            assert!(text.contains(&format!("\n{name}\n")), "{name} in\n{text}");
        }
        assert!(!text.contains("REFUSED"), "{text}");
        assert!(text.contains("metrics/oracle_lstm.json (not embedded"));
    }

    #[test]
    fn headlines_come_from_the_trainers_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let r = Registry::from_dir(&dir).unwrap();
        let text = listing(&r, Some(&dir));
        assert!(text.contains("lstm: caught 20/20 leaks"), "{text}");
        assert!(text.contains("stuck precision"), "{text}");
        assert!(text.contains("ROC AUC"), "{text}");
    }
}
