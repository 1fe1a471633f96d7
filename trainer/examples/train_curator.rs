//! `qbranch train curator` without the CLI's dependencies (what it runs, same output):
//!
//! ```text
//! cargo run -p qb-trainer --example train_curator -- DATA MODELS [ALSO...]
//! ```

use std::path::PathBuf;

use qb_trainer::curator::{CuratorParams, train};
use qb_trainer::datasets::find;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let (Some(data), Some(models)) = (args.first(), args.get(1)) else {
        return Err("usage: train_curator DATA MODELS [ALSO...]".into());
    };
    let mut entries = find(data, "pii")?;
    for root in &args[2..] {
        entries.extend(find(root, "pii")?);
    }
    let t = train(&entries, &CuratorParams::default(), &mut |m| {
        eprintln!("{m}")
    })?;
    qb_trainer::write(models, &t, data, &entries, "curator")?;
    for line in &t.summary {
        println!("{line}");
    }
    println!("wrote {} bytes", t.artifact.to_bytes().len());
    Ok(())
}
