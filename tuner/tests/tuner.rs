//! The tuner against simulated environments: convergence, no oscillation, rollback,
//! retune, pauses, bounds, cooldowns and refusals of bad input.

#![allow(clippy::unwrap_used)] // tests may unwrap (CONTRIBUTING.md)

use proptest::prelude::*;
use qb_tuner::sim::{Degrade, Env, direction_changes, run};
use qb_tuner::{
    Load, Observation, ParamSpec, Phase, Reason, SafetyConfig, Scale, SearchConfig, Tuner,
    TunerConfig, TunerError, select_params,
};

fn tuner_for(env: &Env, seed: u64) -> Tuner {
    Tuner::new(TunerConfig {
        params: env.params(),
        search: SearchConfig {
            seed,
            ..SearchConfig::default()
        },
        safety: SafetyConfig::default(),
    })
    .unwrap()
}

const CALM: Load = Load {
    cpu_cores: 0.1,
    memory_fraction: 0.3,
    pause_file: false,
};

/// The true reward of the held setting is within `pct` % of the true best, the tuner
/// held by `max_trials`, and nothing moved after it held. Returns the trial at which
/// the tuner's best was first within 5 %.
fn converges(name: &str, seed: u64, pct: f64, max_trials: u64) -> u64 {
    let mut env = Env::new(name, seed, 0.01).unwrap();
    let mut tuner = tuner_for(&env, seed);
    let steps = run(&mut tuner, &mut env, 60, 300.0).unwrap();
    let (_, best) = env.best(0.0);
    let gap = |s: &[f64]| 100.0 * (best - env.expected(s, 0.0)) / best.abs();
    assert_eq!(tuner.phase(), Phase::Holding, "{name} seed {seed}");
    let held = steps
        .iter()
        .position(|s| {
            s.change
                .as_ref()
                .is_some_and(|c| c.reason == Reason::Converge)
        })
        .or_else(|| {
            // Converging onto the setting in force is no change: the hold began when the
            // changes stopped.
            steps.iter().rposition(|s| s.change.is_some())
        })
        .unwrap();
    assert!(
        (held as u64) < max_trials,
        "{name} seed {seed}: held after {} trials",
        held + 1
    );
    let after = &steps[held + 1..];
    assert!(
        after.iter().all(|s| s.change.is_none()),
        "{name} seed {seed}: moved after holding"
    );
    assert_eq!(direction_changes(&steps[held + 1..]), 0);
    let g = gap(tuner.current());
    assert!(g <= pct, "{name} seed {seed}: {g:.1} % from the best");
    steps
        .iter()
        .position(|s| s.best.as_deref().is_some_and(|b| gap(b) <= 5.0))
        .map_or(u64::MAX, |i| i as u64 + 1)
}

#[test]
fn converges_within_5_percent_in_one_dimension() {
    for name in ["log_batch", "socket_buffer", "recorder_interval"] {
        let firsts: Vec<u64> = (1..=10)
            .map(|seed| converges(name, seed, 5.0, 25))
            .collect();
        assert!(firsts.iter().all(|f| *f <= 15), "{name}: {firsts:?}");
    }
}

#[test]
fn converges_within_5_percent_in_two_dimensions() {
    for name in ["log_forward", "gadgetd"] {
        let firsts: Vec<u64> = (1..=10)
            .map(|seed| converges(name, seed, 5.0, 26))
            .collect();
        assert!(firsts.iter().all(|f| *f <= 25), "{name}: {firsts:?}");
    }
}

#[test]
fn a_seed_is_a_replay() {
    let go = || {
        let mut env = Env::new("log_forward", 4, 0.01).unwrap();
        let mut t = tuner_for(&env, 4);
        run(&mut t, &mut env, 30, 300.0).unwrap()
    };
    assert_eq!(go(), go());
}

/// A scripted world: the operator's setting is worth 1.0, anything else 0.5.
#[test]
fn a_bad_trial_is_rolled_back_to_the_last_good_setting() {
    let params = vec![ParamSpec::new("x", 1.0, 100.0, Scale::Log, 10.0)];
    let mut t = Tuner::new(TunerConfig {
        params,
        search: SearchConfig::default(),
        safety: SafetyConfig::default(),
    })
    .unwrap();
    let obs = |t_s: f64, reward: f64| Observation {
        t_s,
        reward,
        load: CALM,
    };
    let first = t.observe(&obs(300.0, 1.0)).unwrap().unwrap();
    assert_eq!(first.reason, Reason::Explore);
    assert_eq!(first.from, vec![10.0]);
    // 0.85 is 15 % below 1.0: back to 10.
    let back = t.observe(&obs(600.0, 0.85)).unwrap().unwrap();
    assert_eq!(back.reason, Reason::Rollback);
    assert_eq!(back.to, vec![10.0]);
    assert_eq!(t.stats().rollbacks, 1);
    // A 5 % drop is within the tolerance: no rollback.
    let next = t.observe(&obs(900.0, 1.0)).unwrap().unwrap();
    assert_eq!(next.reason, Reason::Explore);
    let next = t.observe(&obs(1200.0, 0.95)).unwrap().unwrap();
    assert_eq!(next.reason, Reason::Explore);
}

/// After convergence the world gets 20 % worse everywhere, or its optimum moves:
/// the held setting's drop is confirmed (three periods), the tuner searches again and holds a setting
/// within 5 % of the new best.
#[test]
fn a_degraded_environment_is_noticed_and_tuned_again() {
    for (name, degrade) in [
        ("log_batch", Degrade::Scale(0.8)),
        ("log_batch", Degrade::Load(2.0)),
        ("socket_buffer", Degrade::Load(2.0)),
        ("recorder_interval", Degrade::Scale(0.8)),
    ] {
        for seed in 1..=5 {
            let mut env = Env::new(name, seed, 0.01).unwrap();
            env.degrade = Some((20_000.0, degrade));
            let mut t = tuner_for(&env, seed);
            let steps = run(&mut t, &mut env, 150, 300.0).unwrap();
            let what = format!("{name} {degrade:?} seed {seed}");
            assert!(t.stats().retunes >= 1, "{what}: {:?}", t.stats());
            assert_eq!(t.phase(), Phase::Holding, "{what}");
            let (_, best) = env.best(45_000.0);
            let got = env.expected(t.current(), 45_000.0);
            assert!(best - got <= 0.05 * best.abs(), "{what}: {got} vs {best}");
            let retune = steps
                .iter()
                .position(|s| {
                    s.change
                        .as_ref()
                        .is_some_and(|c| c.reason == Reason::Retune)
                })
                .unwrap();
            // Three periods confirm the degradation at 20 000 s, not one.
            assert!(steps[retune].t_s >= 20_000.0 + 600.0, "{what}");
        }
    }
}

#[test]
fn pressure_or_the_pause_file_means_no_change_at_all() {
    for load in [
        Load {
            cpu_cores: 0.6,
            ..CALM
        },
        Load {
            memory_fraction: 0.85,
            ..CALM
        },
        Load {
            pause_file: true,
            ..CALM
        },
    ] {
        let mut env = Env::new("log_forward", 1, 0.01).unwrap();
        env.load = load;
        let mut t = tuner_for(&env, 1);
        let steps = run(&mut t, &mut env, 50, 300.0).unwrap();
        assert!(steps.iter().all(|s| s.change.is_none()), "{load:?}");
        assert_eq!(t.stats().paused, 50);
        assert!(t.last_pause().is_some());
        // Calm again: tuning resumes where it was.
        env.load = CALM;
        let more = run(&mut t, &mut env, 1, 300.0).unwrap();
        assert!(more[0].change.is_some());
    }
}

#[test]
fn one_change_per_parameter_per_cooldown() {
    let mut env = Env::new("log_forward", 2, 0.01).unwrap();
    let mut t = tuner_for(&env, 2);
    // A period of a minute: five observations per trial.
    let steps = run(&mut t, &mut env, 300, 60.0).unwrap();
    for d in 0..2 {
        let times: Vec<f64> = steps
            .windows(2)
            .filter(|w| w[0].setting[d] != w[1].setting[d])
            .map(|w| w[0].t_s)
            .collect();
        assert!(times.len() >= 5, "{times:?}");
        assert!(times.windows(2).all(|w| w[1] - w[0] >= 300.0), "{times:?}");
    }
}

#[test]
fn bad_config_and_bad_samples_are_named_errors() {
    let p = |min, max, initial| ParamSpec::new("batch", min, max, Scale::Linear, initial);
    let config = |params| TunerConfig {
        params,
        search: SearchConfig::default(),
        safety: SafetyConfig::default(),
    };
    let err = |c: TunerConfig| Tuner::new(c).unwrap_err();
    assert!(matches!(
        err(config(vec![p(5.0, 5.0, 5.0)])),
        TunerError::BadBounds { .. }
    ));
    assert!(matches!(
        err(config(vec![p(6.0, 5.0, 5.5)])),
        TunerError::BadBounds { .. }
    ));
    assert!(matches!(err(config(vec![])), TunerError::NoParameters));
    assert!(matches!(
        err(config(vec![p(1.0, 5.0, 2.0), p(1.0, 5.0, 2.0)])),
        TunerError::DuplicateParameter(_)
    ));
    let mut c = config(vec![p(1.0, 5.0, 2.0)]);
    c.safety.rollback_drop = f64::NAN;
    assert!(err(c.clone()).to_string().contains("rollback_drop"));
    c.safety = SafetyConfig::default();
    c.search.max_trials = 1;
    assert!(err(c.clone()).to_string().contains("max_trials"));
    let catalogue = vec![p(1.0, 5.0, 2.0)];
    assert_eq!(
        select_params(&catalogue, &["nope".to_string()]).unwrap_err(),
        TunerError::UnknownParameter("nope".into())
    );
    let mut t = Tuner::new(config(catalogue)).unwrap();
    assert!(matches!(
        t.value_of("nope"),
        Err(TunerError::UnknownParameter(_))
    ));
    let nan = t.observe(&Observation {
        t_s: 10.0,
        reward: f64::NAN,
        load: CALM,
    });
    assert!(nan.unwrap_err().to_string().contains("reward"));
    t.observe(&Observation {
        t_s: 10.0,
        reward: 1.0,
        load: CALM,
    })
    .unwrap();
    let back = t.observe(&Observation {
        t_s: 5.0,
        reward: 1.0,
        load: CALM,
    });
    assert!(matches!(back, Err(TunerError::TimeWentBackwards { .. })));
    let cfg: Result<TunerConfig, _> =
        toml::from_str("[[params]]\nname = \"a\"\nmin = 1\nmax = 2\ninitial = 1\nwat = 3");
    assert!(cfg.unwrap_err().to_string().contains("wat"));
}

fn arb_param() -> impl Strategy<Value = ParamSpec> {
    (
        1e-3f64..1e3,
        1.001f64..1e4,
        any::<bool>(),
        any::<bool>(),
        0.0f64..=1.0,
    )
        .prop_map(|(min, factor, log, integer, at)| {
            let max = if integer {
                (min * factor).max(min + 2.0)
            } else {
                min * factor
            };
            let scale = if log { Scale::Log } else { Scale::Linear };
            let mut p = ParamSpec::new("p", min, max, scale, min);
            p.integer = integer;
            p.initial = p.from_unit(at);
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the rewards (finite, wild) and the loads, every value the tuner ever
    /// proposes is inside its bounds, and it never panics.
    #[test]
    fn proposals_never_leave_the_bounds(
        params in proptest::collection::vec(arb_param(), 1..=3),
        rewards in proptest::collection::vec(-1e6f64..1e6, 1..40),
        loads in proptest::collection::vec(0.0f64..1.0, 1..40),
        seed in any::<u64>(),
    ) {
        let params: Vec<ParamSpec> = params
            .into_iter()
            .enumerate()
            .map(|(i, mut p)| { p.name = format!("p{i}"); p })
            .collect();
        let mut t = Tuner::new(TunerConfig {
            params: params.clone(),
            search: SearchConfig { seed, max_trials: 12, candidates: 64, ..SearchConfig::default() },
            safety: SafetyConfig::default(),
        }).unwrap();
        for (k, r) in rewards.iter().enumerate() {
            let load = Load { cpu_cores: loads[k % loads.len()], ..CALM };
            let out = t.observe(&Observation { t_s: 300.0 * (k + 1) as f64, reward: *r, load });
            let change = out.unwrap();
            for (p, v) in params.iter().zip(t.current()) {
                prop_assert!(*v >= p.min && *v <= p.max, "{} = {v} outside [{}, {}]", p.name, p.min, p.max);
                if p.integer { prop_assert_eq!(v.fract(), 0.0); }
            }
            if let Some(c) = change {
                prop_assert_eq!(&c.to, &t.current().to_vec());
            }
        }
    }
}
