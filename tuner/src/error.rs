//! Every way the tuner refuses input. Bad config and bad samples are errors the
//! caller can name and log; nothing in this crate panics on input.

/// What went wrong, naming the parameter or field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TunerError {
    #[error("no parameters to tune")]
    NoParameters,
    #[error("parameter {0:?} is given twice")]
    DuplicateParameter(String),
    #[error("unknown parameter {0:?}")]
    UnknownParameter(String),
    #[error("parameter {name:?}: min {min} must be below max {max}")]
    BadBounds { name: String, min: f64, max: f64 },
    #[error("parameter {name:?}: a log scale needs min above 0, got {min}")]
    LogScaleNotPositive { name: String, min: f64 },
    #[error("parameter {name:?}: no integer lies in [{min}, {max}]")]
    NoIntegerInBounds { name: String, min: f64, max: f64 },
    #[error("parameter {name:?}: initial value {initial} is outside [{min}, {max}]")]
    InitialOutOfBounds {
        name: String,
        initial: f64,
        min: f64,
        max: f64,
    },
    #[error("{field}: {problem}")]
    BadConfig {
        field: &'static str,
        problem: String,
    },
    #[error("{field} is not a finite number ({value}) at t = {t_s} s")]
    NotFinite {
        field: &'static str,
        value: f64,
        t_s: f64,
    },
    #[error("time went backwards: {t_s} s after {last_s} s")]
    TimeWentBackwards { t_s: f64, last_s: f64 },
    #[error("setting has {got} values for {want} parameters")]
    WrongArity { got: usize, want: usize },
    #[error("Gaussian process: {0}")]
    Numerical(String),
}
