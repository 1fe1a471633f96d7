//! qbranch's gadget engine. This first piece is the safety layer: the `Guard` every
//! action passes, in every mode, before it may touch the host (see `safety`).

pub mod pause;
pub mod policy;
pub mod safety;

pub use pause::{ManualPause, PauseFile, PauseSwitch};
pub use policy::{
    BUILTIN_CRITICAL, BUILTIN_DENY_CGROUPS, Cooldowns, DaemonIds, Policy, PolicyError,
};
pub use safety::{ActionKind, CooldownClass, Guard, Mode, Refusal, Scope, Target, Verdict};
