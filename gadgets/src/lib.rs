//! qbranch's gadget engine: gadgets turn frames into decisions, rules turn decisions
//! into actions, the executor passes every action through the safety guard and acts
//! (or, in dry run, walks the same path without the side effect). `Engine::step` is the
//! one loop the daemon and the scenario replays share.

pub mod archivist;
pub mod config;
pub mod curator;
pub mod decision;
pub mod engine;
pub mod equalizer;
pub mod executor;
pub mod incident;
pub mod linux;
pub mod oracle;
pub mod pathologist;
pub mod pause;
pub mod policy;
pub mod rules;
pub mod safety;
pub mod suppress;
pub mod synthetic;
pub mod timekeeper;

pub use config::{
    ArchivistGadgetConfig, Config, ConfigError, CuratorConfig, EqualizerConfig, OracleConfig,
    PathologistConfig, TimekeeperConfig,
};
pub use decision::{Decision, DecisionKey, Gadget};
pub use engine::{Engine, TickReport};
pub use executor::{Action, Actuator, Executor, Outcome, RecordingActuator, StackSnapshot};
pub use incident::Incident;
pub use linux::LinuxActuator;
pub use oracle::Oracle;
pub use pathologist::Pathologist;
pub use pause::{ManualPause, PauseFile, PauseSwitch};
pub use policy::{
    BUILTIN_CRITICAL, BUILTIN_DENY_CGROUPS, Cooldowns, DaemonIds, Policy, PolicyError,
};
pub use rules::{Rule, RuleAction, Rules};
pub use safety::{
    ActionKind, ConnTarget, CooldownClass, EndMethod, Guard, Mode, Refusal, Scope, Target, Verdict,
};
pub use suppress::{Suppressed, Suppression};
pub use timekeeper::Timekeeper;

use qb_models::registry::Registry;

/// Every gadget a rule may name.
pub const GADGETS: &[&str] = &[
    "oracle",
    "pathologist",
    "equalizer",
    "curator",
    "timekeeper",
    "archivist",
];

/// The enabled gadgets of `config`, their models from `registry` (a model that fails
/// its checks is replaced by the gadget's rule baseline, with a warning).
pub fn gadgets(config: &Config, registry: &Registry) -> Vec<Box<dyn Gadget>> {
    let mut out: Vec<Box<dyn Gadget>> = Vec::new();
    if config.oracle.enabled {
        out.push(Box::new(Oracle::new(
            registry,
            config.oracle.clone(),
            config.policy.clone(),
        )));
    }
    if config.pathologist.enabled {
        out.push(Box::new(Pathologist::new(
            registry,
            config.pathologist.clone(),
        )));
    }
    if config.equalizer.enabled {
        out.push(Box::new(equalizer::Equalizer::new(
            registry,
            config.equalizer.clone(),
        )));
    }
    if config.curator.enabled {
        out.push(Box::new(curator::Curator::new()));
    }
    if config.timekeeper.enabled {
        out.push(Box::new(Timekeeper::new(config.timekeeper.clone())));
    }
    // Last: it reads the other gadgets' decisions of the same tick.
    if config.archivist.enabled {
        out.push(Box::new(archivist::ArchivistGadget::new(
            &config.archivist,
            registry,
        )));
    }
    out
}

/// An engine for `config`: its gadgets, rules, guard (with `pause`) and mode, acting
/// through `actuator`.
pub fn engine<A: Actuator, P: PauseSwitch>(
    config: &Config,
    registry: &Registry,
    actuator: A,
    pause: P,
) -> Engine<A, P> {
    let guard = Guard::with_pause(config.policy.clone(), pause);
    let executor = Executor::new(guard, config.mode, actuator);
    Engine::new(gadgets(config, registry), config.rules(), executor)
        .with_suppression(config.timekeeper.suppression())
}
