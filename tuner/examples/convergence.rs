//! Runs the tuner on every simulated environment over seeds and prints what it did:
//! `cargo run -p qb-tuner --example convergence [noise_sd] [seeds]`. The numbers in
//! README.md come from here and from the tests' assertions.

use qb_tuner::sim::{ENVIRONMENTS, Env, direction_changes, run};
use qb_tuner::{Phase, SearchConfig, Tuner, TunerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let noise: f64 = args.get(1).map_or(Ok(0.01), |a| a.parse())?;
    let seeds: u64 = args.get(2).map_or(Ok(10), |a| a.parse())?;
    println!(
        "env                 seed  best    final   gap%   first5%  trials  rollbacks  changes  held_dir_changes"
    );
    for name in ENVIRONMENTS {
        let mut firsts = Vec::new();
        let (mut held_within, mut holds, mut rollbacks) = (0, Vec::new(), Vec::new());
        for seed in 1..=seeds {
            let mut env = Env::new(name, seed, noise)?;
            let mut tuner = Tuner::new(TunerConfig {
                params: env.params(),
                search: SearchConfig {
                    seed,
                    ..SearchConfig::default()
                },
                safety: Default::default(),
            })?;
            let steps = run(&mut tuner, &mut env, 60, 300.0)?;
            let (_, best) = env.best(0.0);
            let within = |s: &[f64]| env.expected(s, 0.0) >= best - 0.05 * best.abs();
            let mut trials = 0;
            let mut first = None;
            for st in &steps {
                trials += 1;
                if first.is_none() && st.best.as_deref().is_some_and(within) {
                    first = Some(trials);
                }
            }
            let held_from = steps
                .iter()
                .position(|s| s.phase == Phase::Holding)
                .unwrap_or(steps.len());
            let fin = tuner.current().to_vec();
            let fr = env.expected(&fin, 0.0);
            let st = tuner.stats();
            firsts.push(first.unwrap_or(999));
            held_within += usize::from(within(&fin));
            holds.push(steps.get(held_from).map_or(999, |s| s.trials));
            rollbacks.push(st.rollbacks);
            println!(
                "{name:<19} {seed:>4}  {best:>6.3}  {fr:>6.3}  {:>5.1}  {:>7}  {:>6}  {:>9}  {:>7}  {:>5} {:?}",
                100.0 * (best - fr) / best.abs(),
                first.map_or("-".into(), |f| f.to_string()),
                st.trials,
                st.rollbacks,
                st.changes,
                direction_changes(&steps[held_from.min(steps.len())..]),
                if tuner.phase() == Phase::Holding {
                    "held"
                } else {
                    "exploring"
                },
            );
        }
        firsts.sort_unstable();
        holds.sort_unstable();
        rollbacks.sort_unstable();
        let n = firsts.len();
        let reached = firsts.iter().filter(|f| **f != 999).count();
        println!(
            "  {name}: held within 5 % in {held_within}/{n}; best within 5 % in {reached}/{n}, \
             after median {} trials (max of those {}); held after median {} trials (max {}); \
             median rollbacks {}",
            firsts[n / 2],
            firsts[..reached].last().copied().unwrap_or(0),
            holds[n / 2],
            holds[n - 1],
            rollbacks[n / 2],
        );
    }
    Ok(())
}
