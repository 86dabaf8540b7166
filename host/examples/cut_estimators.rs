//! How well can a block be cut in two halves of equal time *before* executing it?
//!
//! For every block with at least 8 transactions: times each transaction in a sequential run
//! (best of 5), then, for each cost estimator, cuts where half the estimated cost is reached
//! and reports the share of measured time that falls before the cut. The ideal two-way
//! speedup of a cut is 1 / max(share, 1 - share); the geomean over the blocks ranks the
//! estimators. `used` and `time` are oracles (known only after execution); `time` is scored on
//! the same measurements it cuts by, so it reads a little high.
//!
//! `cargo run --release -p coevm-host --example cut_estimators -- ../shared/data/mainnet`

use std::time::Duration;

#[allow(dead_code)] // (the timing helper other examples use)
mod common;

use coevm_host::exec::parallel::{estimated_cost, is_plain_transfer};
use coevm_host::state::PreState;
use revm::context::TxEnv;

/// (name, cost of a tx from its env, its gas used (oracle), the block's mean gas used per tx, the pre-state)
type Estimator = (&'static str, Box<dyn Fn(&TxEnv, u64, f64, &PreState) -> f64>);

fn main() -> anyhow::Result<()> {
    let estimators: Vec<Estimator> = vec![
        ("gas limit", Box::new(|tx, _, _, _| tx.gas_limit as f64)),
        ("count", Box::new(|_, _, _, _| 1.0)),
        ("sqrt(gas limit)", Box::new(|tx, _, _, _| (tx.gas_limit as f64).sqrt())),
        ("limit<=4*mean used", Box::new(|tx, _, mean, _| (tx.gas_limit as f64).min(4.0 * mean))),
        (
            "limit, plain=21k",
            Box::new(|tx, _, _, pre| if is_plain_transfer(tx, pre) { 21_000.0 } else { tx.gas_limit as f64 }),
        ),
        ("limit, plain=6k (executor)", Box::new(|tx, _, _, pre| estimated_cost(tx, pre))),
        ("used (oracle)", Box::new(|_, used, _, _| used as f64)),
        (
            "used, plain=5k (oracle)",
            Box::new(|tx, used, _, pre| if is_plain_transfer(tx, pre) { 5_000.0 } else { used as f64 }),
        ),
    ];
    let mut logs = vec![0.0f64; estimators.len() + 1];
    let mut blocks = 0;
    for arg in std::env::args().skip(1) {
        common::for_each_block(&arg, 8, |number, ctx, txs, pre| {
            let (best, used) = common::time_each_tx(ctx, txs, pre, 5);
            let time: Vec<f64> = best.iter().map(Duration::as_secs_f64).collect();
            let total: f64 = time.iter().sum();
            let mean = used.iter().sum::<u64>() as f64 / txs.len() as f64;
            // Share of measured time before the cut at half of `cost`; ideal speedup of that cut.
            let speedup = |cost: &[f64]| {
                let share = time[..common::half_cut(cost)].iter().sum::<f64>() / total;
                1.0 / share.max(1.0 - share)
            };
            print!("{number:>9} {:>4} txs", txs.len());
            for (k, (_, estimate)) in estimators.iter().enumerate() {
                let cost: Vec<f64> = txs.iter().zip(&used).map(|(tx, &u)| estimate(tx, u, mean, pre)).collect();
                let s = speedup(&cost);
                logs[k] += s.ln();
                print!(" {s:.2}");
            }
            let s = speedup(&time);
            logs[estimators.len()] += s.ln();
            println!(" {s:.2}");
            blocks += 1;
        })?;
    }
    println!("geomean of the ideal two-way speedup over {blocks} blocks:");
    for (k, (name, _)) in estimators.iter().enumerate() {
        println!("  {name:<28} {:.3}×", (logs[k] / blocks as f64).exp());
    }
    println!("  {:<28} {:.3}×", "time (oracle)", (logs[estimators.len()] / blocks as f64).exp());
    Ok(())
}
