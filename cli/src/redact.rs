//! `qbranch redact`: the Curator's fast path over files or stdin. Glue only.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use qb_curator::{RedactConfig, Redactor, StreamStats, redact_stream};

#[derive(Debug, Args)]
pub struct RedactArgs {
    /// Log files to redact, in order (stdin when none or `-`)
    pub files: Vec<PathBuf>,
    /// Write one JSON alert per finding here (entity, source, line, rule; never the value)
    #[arg(long)]
    pub alerts: Option<PathBuf>,
    /// Per-entity policies (TOML: `[policy] email = "hash"`, `ip_address = "keep"`)
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also run the learned rules in this file (`qbranch curator learn`); a missing
    /// file is no rules
    #[arg(long)]
    pub rules: Option<PathBuf>,
}

pub fn run(args: RedactArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            RedactConfig::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => RedactConfig::default(),
    };
    let learned = match &args.rules {
        Some(path) => qb_curator::load_rules(path)?,
        None => Vec::new(),
    };
    let redactor = Redactor::with_rules(config, &learned)?;
    let mut alerts: Option<BufWriter<File>> = match &args.alerts {
        Some(path) => Some(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut total = StreamStats::default();
    let mut alert_error: Option<io::Error> = None;
    let sources: Vec<Option<&PathBuf>> = if args.files.is_empty() {
        vec![None]
    } else {
        args.files
            .iter()
            .map(|f| (f.as_os_str() != "-").then_some(f))
            .collect()
    };
    for source in sources {
        let name = source.map_or_else(|| "-".to_string(), |p| p.display().to_string());
        let mut on_alert = |a: qb_curator::Alert| {
            if let Some(w) = alerts.as_mut()
                && let Err(e) = writeln!(w, "{}", a.to_json())
            {
                alert_error.get_or_insert(e);
            }
        };
        let stats = match source {
            Some(path) => {
                let file =
                    File::open(path).with_context(|| format!("opening {}", path.display()))?;
                redact_stream(
                    &redactor,
                    BufReader::new(file),
                    &mut out,
                    &name,
                    &mut on_alert,
                )
            }
            None => redact_stream(
                &redactor,
                io::stdin().lock(),
                &mut out,
                &name,
                &mut on_alert,
            ),
        }
        .with_context(|| format!("redacting {name}"))?;
        total.lines += stats.lines;
        total.changed_lines += stats.changed_lines;
        total.findings += stats.findings;
    }
    out.flush()?;
    if let Some(e) = alert_error {
        return Err(e).context("writing alerts");
    }
    if let Some(w) = alerts.as_mut() {
        w.flush().context("writing alerts")?;
    } else if total.findings > 0 {
        eprintln!(
            "redact: {} findings on {} of {} lines (use --alerts FILE for details)",
            total.findings, total.changed_lines, total.lines
        );
    }
    Ok(())
}
