//! Writes the `novel_formats` pii kind in the standard layout over the standard seeds
//! (`<out>/<training|held-out>/pii/novel_formats/seed-N`, 10 minutes each, as the
//! standard set's pii kinds), for `qbranch train curator --also <out>`:
//!
//! ```text
//! cargo run -p qb-trainer --example novel_formats -- /tmp/novel
//! ```

use std::path::PathBuf;
use std::time::Duration;

use qb_simulator::{HELD_OUT_SEEDS, PiiKind, TRAINING_SEEDS, write_pii};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/novel".into()),
    );
    for (split, seeds) in [("training", TRAINING_SEEDS), ("held-out", HELD_OUT_SEEDS)] {
        for seed in seeds {
            let dir = out
                .join(split)
                .join("pii/novel_formats")
                .join(format!("seed-{seed}"));
            write_pii(
                &dir,
                PiiKind::NovelFormats,
                seed,
                Duration::from_secs(600),
                Duration::from_secs(1),
            )?;
            println!("{}", dir.display());
        }
    }
    Ok(())
}
