//! `qbranch inspect`: what a recording holds, and whether every segment reads back.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use qb_signals::{Dataset, Row, Table, TableStatus, tables::*};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Recording directory
    dir: PathBuf,
    /// Read every row of every segment back and count them
    #[arg(long)]
    verify: bool,
}

pub fn run(args: InspectArgs) -> Result<()> {
    let ds = Dataset::open(&args.dir)?;
    let m = ds.manifest();
    println!(
        "{}: {:?} recording of host '{}', schema v{} ({})",
        args.dir.display(),
        m.origin,
        m.host,
        m.schema_version,
        m.schema_hash
    );
    println!("  state: {:?}", m.state);
    if let (Some(a), Some(b)) = (m.first_ts_ns, m.last_ts_ns) {
        println!("  span: {:.1} s", (b - a) as f64 / 1e9);
    }
    for table in Table::ALL {
        let Some(entry) = m.table(table) else {
            continue;
        };
        if entry.status == TableStatus::Unavailable {
            println!(
                "  {table:<12} unavailable: {}",
                entry.reason.as_deref().unwrap_or("-")
            );
            continue;
        }
        let segments = ds.segments(table)?;
        let partial = ds.partial_segments(table)?;
        let rows = if args.verify {
            Some(count_rows(&ds, table)?)
        } else {
            None
        };
        println!(
            "  {table:<12} {} segments, {} rows{}{}",
            segments.len(),
            rows.map_or_else(
                || format!("{} (manifest)", entry.rows),
                |r| format!("{r} (read back)")
            ),
            if partial.is_empty() {
                String::new()
            } else {
                format!(", {} unclosed segment(s) ignored", partial.len())
            },
            entry
                .reason
                .as_deref()
                .map(|r| format!("; note: {r}"))
                .unwrap_or_default(),
        );
    }
    Ok(())
}

fn count_rows(ds: &Dataset, table: Table) -> Result<usize> {
    fn n<R: Row>(ds: &Dataset) -> qb_signals::Result<usize> {
        Ok(ds.read_table::<R>()?.len())
    }
    Ok(match table {
        Table::System => n::<SystemRow>(ds)?,
        Table::Process => n::<ProcessRow>(ds)?,
        Table::Cgroup => n::<CgroupRow>(ds)?,
        Table::Syscalls => n::<SyscallRow>(ds)?,
        Table::Connections => n::<ConnectionRow>(ds)?,
        Table::Logs => n::<LogRow>(ds)?,
        Table::Labels => n::<LabelRow>(ds)?,
    })
}
