//! Where a tick's decisions and incidents go: JSON lines on stdout (for a pipe or the
//! journal), every incident appended to the incidents file, and a readable line each on
//! stderr through tracing.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use qb_gadgets::incident::{
    decision_json, decision_line, incident_json, incident_line, suppressed_json,
};
use qb_gadgets::oracle::FOLLOW_UP_KINDS;
use qb_gadgets::{Outcome, TickReport};

#[derive(Debug)]
pub struct Output {
    stdout: bool,
    incidents: Option<JsonLog>,
    /// The log pipeline's PII alerts (`[logs] alerts`).
    alerts: Option<JsonLog>,
}

impl Output {
    /// Opens (creating its directory) the incidents file now, so a path that cannot be
    /// written stops the start, not the first incident hours later.
    pub fn new(
        quiet: bool,
        incidents: Option<&Path>,
        alerts: Option<&Path>,
    ) -> anyhow::Result<Output> {
        Ok(Output {
            stdout: !quiet,
            incidents: incidents
                .map(|p| JsonLog::open("incidents", p))
                .transpose()?,
            alerts: alerts.map(|p| JsonLog::open("alerts", p)).transpose()?,
        })
    }

    /// Other JSON lines of the log pipeline (the Archivist's flushes): stdout.
    pub fn events(&mut self, lines: &[String]) {
        for line in lines {
            self.print(line);
        }
    }

    /// PII alerts (JSON lines that never hold the value): stdout and the alerts file.
    pub fn alerts(&mut self, lines: &[String]) {
        for line in lines {
            self.print(line);
            if let Some(log) = &mut self.alerts {
                log.append(line);
            }
        }
    }

    pub fn tick(&mut self, report: &TickReport) {
        for d in &report.onsets {
            tracing::info!("{}", decision_line(d));
            let line = decision_json(d);
            self.print(&line);
            // A forecast's outcome (came true, averted, false positive) is the record
            // retraining needs: it is kept with the incidents.
            if let (Some(log), true) = (&mut self.incidents, FOLLOW_UP_KINDS.contains(&d.kind)) {
                log.append(&line);
            }
        }
        // A routine's suppression is visible: once per decision it starts holding back.
        for s in report.suppressed.iter().filter(|s| s.onset) {
            tracing::info!("{} suppressed by {}", decision_line(&s.decision), s.tag);
            let line = suppressed_json(s);
            self.print(&line);
        }
        for i in &report.incidents {
            match &i.outcome {
                Outcome::Done { .. } | Outcome::Failed { .. } => {
                    tracing::warn!("{}", incident_line(i));
                }
                _ => tracing::info!("{}", incident_line(i)),
            }
            let line = incident_json(i);
            self.print(&line);
            if let Some(log) = &mut self.incidents {
                log.append(&line);
            }
        }
    }

    fn print(&mut self, line: &str) {
        if !self.stdout {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            // A closed pipe must not stop the daemon; the stderr lines and the
            // incidents file carry on.
            tracing::error!("stdout: {e}: no more JSON lines on stdout");
            self.stdout = false;
        }
    }
}

/// An append-only file of JSON lines.
#[derive(Debug)]
struct JsonLog {
    what: &'static str,
    path: PathBuf,
    file: File,
    /// Logged once per run of failures, not every incident.
    failing: bool,
}

impl JsonLog {
    fn open(what: &'static str, path: &Path) -> anyhow::Result<JsonLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{what}: cannot create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("{what}: cannot open {}", path.display()))?;
        Ok(JsonLog {
            what,
            path: path.to_path_buf(),
            file,
            failing: false,
        })
    }

    /// One write per line (O_APPEND keeps concurrent appenders' lines whole); the file
    /// is unbuffered, so each line is in the kernel when this returns.
    fn append(&mut self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match self.file.write_all(&bytes) {
            Ok(()) => self.failing = false,
            Err(e) if !self.failing => {
                tracing::error!("{}: {}: {e}", self.what, self.path.display());
                self.failing = true;
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qb_gadgets::{Decision, Incident, Mode};

    #[test]
    fn incidents_are_appended_as_json_lines_in_a_new_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/incidents.jsonl");
        let mut out = Output::new(true, Some(&path), None).unwrap();
        let incident = Incident {
            ts_ns: 0,
            rule: "r".into(),
            action: "report".into(),
            mode: Mode::DryRun,
            outcome: Outcome::DryRun,
            decision: Decision::new("oracle", "oom_forecast", 0),
            stacks: None,
        };
        let report = TickReport {
            incidents: vec![incident.clone(), incident],
            ..TickReport::default()
        };
        out.tick(&report);
        out.tick(&report);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["event"], "action");
        }
    }
}
