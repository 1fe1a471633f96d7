//! `gadgetd check CONFIG`: parse and validate, then say what the file would make the
//! daemon do, so a reviewer reads the effect rather than the TOML.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use qb_gadgets::{BUILTIN_CRITICAL, BUILTIN_DENY_CGROUPS, Rule, RuleAction};

use crate::settings::{ConfigFile, DEFAULT_INTERVAL, DEFAULT_METRICS, InputError};

pub fn run(path: &Path) -> Result<(), InputError> {
    let file = ConfigFile::load(path)?;
    print!("{}", summary(&file));
    if let Some(dir) = &file.daemon.models {
        // Not an error: the daemon runs without it (embedded models, or rules).
        println!("{}", models_dir_status(dir));
    }
    Ok(())
}

fn models_dir_status(dir: &Path) -> String {
    match qb_models::registry::Registry::from_dir(dir) {
        Ok(r) => {
            let status = r.status();
            let refused: Vec<String> = status
                .iter()
                .filter_map(|(name, s)| s.as_ref().err().map(|e| format!("{name}: {e}")))
                .collect();
            if refused.is_empty() {
                format!("models dir: all {} models verified", status.len())
            } else {
                format!(
                    "WARNING models dir: refused (their gadgets run the rule baseline): {}",
                    refused.join("; ")
                )
            }
        }
        Err(e) => format!("WARNING models dir: {e} (the embedded models would run)"),
    }
}

pub fn summary(file: &ConfigFile) -> String {
    let c = &file.config;
    let p = &c.policy;
    let mut out = String::new();
    let _ = writeln!(out, "{}: ok", file.path.display());
    let _ = writeln!(out, "mode: {}{}", c.mode.name(), mode_note(c.mode));
    let scope = if p.allow_cgroups.is_empty() {
        "whole host (no allow list)".to_string()
    } else {
        format!("only under {}", p.allow_cgroups.join(", "))
    };
    let _ = writeln!(out, "scope: {scope}");
    let deny: Vec<&str> = BUILTIN_DENY_CGROUPS
        .iter()
        .copied()
        .chain(p.deny_cgroups.iter().map(String::as_str))
        .collect();
    let _ = writeln!(out, "denied cgroups: {}", deny.join(", "));
    let _ = writeln!(
        out,
        "protected names: {} built in{}",
        BUILTIN_CRITICAL.len(),
        list_suffix(" + critical", &p.critical_comms)
    );
    let _ = writeln!(out, "denied names: {}", or_none(&p.deny_comms));
    let _ = writeln!(out, "pause file: {}", p.pause_file.display());
    let cd = &p.cooldown;
    let _ = writeln!(
        out,
        "cooldowns: drop_caches {}, runtime_hook {}, restart {}, kill {}, end_connection {} (per service)",
        human(cd.drop_caches),
        human(cd.runtime_hook),
        human(cd.restart),
        human(cd.kill),
        human(cd.end_connection)
    );
    let mut gadgets = Vec::new();
    if c.oracle.enabled {
        gadgets.push(format!(
            "oracle (reports p >= {}, host forecast {})",
            c.oracle.report_probability,
            if c.oracle.host { "on" } else { "off" }
        ));
    }
    if c.pathologist.enabled {
        gadgets.push(format!(
            "pathologist (reports p >= {})",
            c.pathologist.report_probability
        ));
    }
    if c.equalizer.enabled {
        let e = &c.equalizer;
        gadgets.push(format!(
            "equalizer (runaway: score >= {}, {} cores, {} silent; stall: {} waiting {}; never {}; ends by {:?})",
            e.min_score,
            e.min_owner_cpu,
            human(e.min_runtime),
            e.min_waiting,
            human(e.stall_for),
            e.protected_paths.join(" "),
            e.end
        ));
    }
    if c.curator.enabled {
        gadgets.push("curator (PII in the frames' log lines; [logs] redacts live)".to_string());
    }
    if c.timekeeper.enabled {
        gadgets.push(format!(
            "timekeeper (routine above similarity {}, suppresses {} for {} at most)",
            c.timekeeper.similarity,
            c.timekeeper.suppressible.join(", "),
            human(c.timekeeper.max_suppression)
        ));
    }
    let _ = writeln!(
        out,
        "gadgets: {}",
        if gadgets.is_empty() {
            "none enabled".to_string()
        } else {
            gadgets.join("; ")
        }
    );
    let _ = writeln!(out, "rules ({}):", c.rules.len());
    for r in &c.rules {
        let _ = writeln!(out, "  {}", rule_line(r));
    }
    if !c.runtime_hooks.is_empty() {
        let hooks: Vec<String> = c
            .runtime_hooks
            .iter()
            .map(|(comm, sig)| format!("{comm} -> {sig}"))
            .collect();
        let _ = writeln!(out, "runtime hooks: {}", hooks.join(", "));
    }
    let d = &file.daemon;
    let _ = writeln!(
        out,
        "daemon: interval {}, metrics {}, incidents {}, models {}",
        d.interval
            .clone()
            .unwrap_or_else(|| human(DEFAULT_INTERVAL)),
        d.metrics
            .clone()
            .unwrap_or_else(|| DEFAULT_METRICS.to_string()),
        d.incidents
            .as_ref()
            .map_or("stdout only".to_string(), |p| p.display().to_string()),
        d.models
            .as_ref()
            .map_or("embedded".to_string(), |p| p.display().to_string()),
    );
    match &file.logs {
        None => {
            let _ = writeln!(out, "logs: no pipeline (no [logs])");
        }
        Some(l) => {
            let kept: Vec<String> = l
                .redact
                .policy
                .iter()
                .filter(|(_, p)| **p != qb_curator::Policy::Redact)
                .map(|(c, p)| format!("{c:?} {p:?}").to_lowercase())
                .collect();
            let _ = writeln!(
                out,
                "logs: tail {}; redact every line{}; forward to {} (queue {} records / {} bytes, \
                 then drops are counted){}",
                l.files.join(", "),
                if kept.is_empty() {
                    String::new()
                } else {
                    format!(" (except: {})", kept.join(", "))
                },
                l.sink,
                l.buffer_lines,
                l.buffer_bytes,
                l.alerts
                    .as_ref()
                    .map_or(String::new(), |p| format!("; alerts to {}", p.display()))
            );
        }
    }
    let _ = writeln!(
        out,
        "tuner: {}",
        match file.tuner.as_ref().filter(|t| t.enabled) {
            None => "off".to_string(),
            Some(t) => format!(
                "{} every {} ({})",
                t.mode.name(),
                t.period,
                t.params
                    .as_ref()
                    .map_or("every parameter that applies".to_string(), |p| p.join(", "))
            ),
        }
    );
    out
}

fn mode_note(mode: qb_gadgets::Mode) -> &'static str {
    match mode {
        qb_gadgets::Mode::Observe => " (decisions only; no action recorded)",
        qb_gadgets::Mode::DryRun => " (actions recorded with cooldowns, none done)",
        qb_gadgets::Mode::Enforce => " (ACTIONS ARE CARRIED OUT)",
    }
}

fn rule_line(r: &Rule) -> String {
    let mut when = format!("{}/{} p >= {}", r.gadget, r.decision, r.min_confidence);
    match (r.eta_min, r.eta_max) {
        (None, None) => {}
        (Some(lo), None) => {
            let _ = write!(when, ", eta >= {}", human(lo));
        }
        (None, Some(hi)) => {
            let _ = write!(when, ", eta < {}", human(hi));
        }
        (Some(lo), Some(hi)) => {
            let _ = write!(when, ", eta {}..{}", human(lo), human(hi));
        }
    }
    if !r.hold_down.is_zero() {
        let _ = write!(when, ", held {}", human(r.hold_down));
    }
    let mut action = r.action.name().to_string();
    if r.action == RuleAction::Restart {
        let _ = write!(action, " (SIGKILL after {})", human(r.grace));
    }
    if r.snapshot_stacks {
        action.push_str(" + stacks");
    }
    format!("{}: {when} -> {action}", r.name)
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn or_none(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

fn list_suffix(prefix: &str, list: &[String]) -> String {
    if list.is_empty() {
        String::new()
    } else {
        format!("{prefix} {}", list.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_summary_names_mode_scope_and_rules() {
        let file = ConfigFile::parse(Path::new("g.toml"), "").unwrap();
        let s = summary(&file);
        for needle in [
            "mode: dry_run",
            "scope: whole host",
            "pause file: /run/qbranch/pause",
            "oracle-kill: oracle/oom_forecast p >= 0.85, eta < 1m, held 5s -> kill",
            "pathologist-restart: pathologist/stuck p >= 0.9, held 1m -> restart (SIGKILL after 10s) + stacks",
            "gadgets: oracle",
            "metrics 127.0.0.1:9464",
        ] {
            assert!(s.contains(needle), "{needle} missing in\n{s}");
        }
        assert!(!s.contains("equalizer ("), "off by default:\n{s}");
        let file = ConfigFile::parse(Path::new("g.toml"), "[equalizer]\nenabled = true").unwrap();
        let s = summary(&file);
        assert!(
            s.contains("equalizer (runaway: score >= 0.6, 0.25 cores, 20s silent; stall: 3 waiting 5s; never /health /metrics /admin/*; ends by Auto)"),
            "{s}"
        );
    }
}
