//! One run, period by period: `cargo run -p qb-tuner --example tuner_trace ENV SEED`.

use qb_tuner::sim::{Env, run};
use qb_tuner::{SearchConfig, Tuner, TunerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map_or("gadgetd", String::as_str);
    let seed: u64 = args.get(2).map_or(Ok(1), |a| a.parse())?;
    let mut env = Env::new(name, seed, 0.01)?;
    let periods: usize = args.get(3).map_or(Ok(30), |a| a.parse())?;
    // `tuner_trace ENV SEED PERIODS AT_S LOAD`: the load multiplied by LOAD from AT_S on.
    if let (Some(at), Some(f)) = (args.get(4), args.get(5)) {
        env.degrade = Some((at.parse()?, qb_tuner::sim::Degrade::Load(f.parse()?)));
    }
    let mut tuner = Tuner::new(TunerConfig {
        params: env.params(),
        search: SearchConfig {
            seed,
            ..SearchConfig::default()
        },
        safety: Default::default(),
    })?;
    println!("true best {:?}", env.best(0.0));
    for s in run(&mut tuner, &mut env, periods, 300.0)? {
        println!(
            "t={:>6} setting {:?} reward {:.3} (true {:.3}) -> {:?}",
            s.t_s,
            s.setting,
            s.reward,
            env.expected(&s.setting, s.t_s),
            s.change.map(|c| (c.reason, c.to))
        );
    }
    println!("{:?}", tuner.stats());
    Ok(())
}
