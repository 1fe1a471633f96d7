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
    let origin = format!("{:?}", m.origin).to_lowercase();
    println!(
        "{}: host '{}', origin {origin}, schema v{} ({})",
        args.dir.display(),
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
        let reason = entry.reason.as_deref();
        if entry.status == TableStatus::Unavailable {
            println!("  {table:<12} unavailable: {}", reason.unwrap_or("-"));
            continue;
        }
        let mut line = format!("  {table:<12} {} segments, ", ds.segments(table)?.len());
        if args.verify {
            line += &format!("{} rows (read back)", count_rows(&ds, table)?);
        } else {
            line += &format!("{} rows (manifest)", entry.rows);
        }
        let partial = ds.partial_segments(table)?.len();
        if partial > 0 {
            line += &format!(", {partial} unclosed segment(s) ignored");
        }
        if let Some(r) = reason {
            line += &format!("; note: {r}");
        }
        println!("{line}");
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
        Table::Traces => n::<TraceRow>(ds)?,
        Table::Requests => n::<RequestRow>(ds)?,
        Table::Labels => n::<LabelRow>(ds)?,
    })
}
