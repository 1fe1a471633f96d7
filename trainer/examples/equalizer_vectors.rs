//! Writes the Equalizer's training and held-out vectors of a standard set as CSV, for
//! comparing the isolation forest with other implementations (`models/compare/`):
//!
//! ```text
//! cargo run --release -p qb-trainer --example equalizer_vectors -- \
//!     [--data datasets/standard] [--out vectors.csv]
//! ```
//!
//! One row per vector, exactly as `qbranch train equalizer` extracts them: the seven
//! `EQUALIZER` features in their declared order, `toxic` (1 or 0) and `split`
//! (`training` or `held-out`). Training rows first. Without `--out` it writes to stdout.

use std::io::Write;
use std::path::PathBuf;

use qb_models::features::EQUALIZER;
use qb_trainer::datasets;
use qb_trainer::equalizer::{SplitVectors, split_vectors};

struct Args {
    data: PathBuf,
    out: Option<PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        data: PathBuf::from("datasets/standard"),
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => a.data = PathBuf::from(value()?),
            "--out" => a.out = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument {flag} (--data DIR, --out FILE)")),
        }
    }
    Ok(a)
}

fn write_split(w: &mut dyn Write, v: &SplitVectors, split: &str) -> std::io::Result<()> {
    let d = EQUALIZER.len();
    for (row, toxic) in v.x.chunks_exact(d).zip(&v.toxic) {
        for x in row {
            // `{}` is the shortest text that parses back to the same f64.
            write!(w, "{x},")?;
        }
        writeln!(w, "{},{split}", u8::from(*toxic))?;
    }
    Ok(())
}

fn run(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let entries = datasets::find(&a.data, "toxic")?;
    let (train, test) = split_vectors(&entries)?;
    let mut w: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    writeln!(w, "{},toxic,split", EQUALIZER.names.join(","))?;
    write_split(&mut w, &train, "training")?;
    write_split(&mut w, &test, "held-out")?;
    w.flush()?;
    let count = |v: &SplitVectors| (v.toxic.len(), v.toxic.iter().filter(|&&t| t).count());
    let ((tn, tp), (hn, hp)) = (count(&train), count(&test));
    eprintln!(
        "equalizer_vectors: {} datasets; training {tn} rows ({tp} toxic), held-out {hn} \
         rows ({hp} toxic)",
        entries.len()
    );
    Ok(())
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("equalizer_vectors: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&a) {
        eprintln!("equalizer_vectors: {e}");
        std::process::exit(1);
    }
}
