//! qb-scenarios: regression tests for gadgets as TOML case files, replayed through the
//! gadget engine in virtual time (like promtool's rule tests). A case names a source
//! (a seeded generator, a recorded dataset, or a live workload run elsewhere), an
//! optional engine config, and what must happen (`[[expect]]`: a decision or an action,
//! on the labelled target, with a lead before the labelled event or in a time window)
//! or must not (`[[quiet]]`). One trial per case and seed; see `scenarios/README.md`.
//! Tuner cases (`[source] kind = "tuner"`) run qb-tuner closed loop against a simulated
//! environment instead of frames, as trials of the same suite.

pub mod checks;
pub mod error;
pub mod expect;
pub mod format;
pub mod junit;
pub mod pattern;
pub mod results;
pub mod runner;
pub mod source;

pub use error::{Result, ScenarioError};
pub use format::{Case, load, parse};
pub use pattern::Pattern;
pub use results::{Check, Polarity, Results, SourceKind, Status, TrialResult};
pub use runner::{Trial, Verdict, discover, evaluate, load_all, run, trials};
