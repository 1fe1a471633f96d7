//! qb-tuner: opt-in tuning of an agent's own bounded parameters (a recording interval,
//! log batch sizes, socket buffers) by Bayesian optimisation, made safe by the spec's
//! rules: bounds, rollback on a 10 % reward drop, one change per parameter per five
//! minutes, and a pause while the agent is short of CPU or memory.
//!
//! One job: propose settings. The caller measures the reward (`reward.rs`), feeds it
//! with its own time to [`Tuner::observe`], and applies (or, in dry-run, records) the
//! [`Change`] it gets back. `sim` holds the simulated environments the tests tune;
//! `cases` reads and runs the case files qb-scenarios runs with the gadgets' cases.

mod acquisition;
pub mod cases;
mod error;
pub mod gp;
mod param;
pub mod reward;
mod rng;
pub mod safety;
pub mod sim;
mod tuner;

pub use error::TunerError;
pub use param::{ParamSpec, Scale};
pub use reward::{RewardWeights, Sample};
pub use safety::{Load, Pause, SafetyConfig};
pub use tuner::{Change, Observation, Phase, Reason, SearchConfig, Tuner, TunerConfig, TunerStats};

/// Names unique, bounds sane, at least one parameter.
pub fn validate_params(params: &[ParamSpec]) -> Result<(), TunerError> {
    if params.is_empty() {
        return Err(TunerError::NoParameters);
    }
    for (i, p) in params.iter().enumerate() {
        p.validate()?;
        if params[..i].iter().any(|q| q.name == p.name) {
            return Err(TunerError::DuplicateParameter(p.name.clone()));
        }
    }
    Ok(())
}

/// The named parameters out of a catalogue of known ones, in the order named: an
/// unknown name is an error naming it.
pub fn select_params(
    catalogue: &[ParamSpec],
    names: &[String],
) -> Result<Vec<ParamSpec>, TunerError> {
    names
        .iter()
        .map(|n| {
            catalogue
                .iter()
                .find(|p| p.name == *n)
                .cloned()
                .ok_or_else(|| TunerError::UnknownParameter(n.clone()))
        })
        .collect()
}
