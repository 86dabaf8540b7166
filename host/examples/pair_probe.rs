//! Do two executor threads slow each other down through what they share? Runs coevm's
//! sequential oracle (plain revm) over a block alone, on a new thread alone, then on two threads
//! at once, each on its own `CacheDB` over the same read-only pre-state (as the executor's
//! threads are), then at once over two copies of the pre-state whose every code, the empty one
//! included, is its own `Arc`. The runs share nothing writable of ours: a slowdown of the
//! third line that the fourth does not show comes from the bytecode `Arc`s revm clones and drops
//! on every account load (see `EmptyCode` in exec/parallel.rs). Fastest of 15 runs each.
//!
//! Usage: cargo run --release -p coevm-host --example pair_probe -- DATA_DIR [BLOCK_NUMBER...]

#[allow(dead_code)] // (the cut helpers other examples use)
mod common;

use coevm_host::exec::execute_sequential;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let data = args.next().ok_or_else(|| anyhow::anyhow!("usage: pair_probe DATA_DIR [BLOCK_NUMBER...]"))?;
    let only: Vec<u64> = args.filter_map(|a| a.parse().ok()).collect();
    common::for_each_block(&data, 8, |number, ctx, txs, pre| {
        if !only.is_empty() && !only.contains(&number) {
            return;
        }
        let run = |pre: &coevm_host::state::PreState| execute_sequential(ctx, txs, pre).expect("valid block");
        let alone = common::fastest(15, || run(pre));
        let spawned = std::thread::scope(|s| s.spawn(|| common::fastest(15, || run(pre))).join().expect("no panic"));
        let (a, b) = std::thread::scope(|s| {
            let other = s.spawn(|| common::fastest(15, || run(pre)));
            let mine = common::fastest(15, || run(pre));
            (mine, other.join().expect("no panic"))
        });
        println!(
            "{number:>9} {:>5} txs  alone {alone:>9.2?}  alone on a new thread {spawned:>9.2?}  two at once {a:>9.2?} / {b:>9.2?}",
            txs.len()
        );
        let (one, two) = (own_copy(pre, number), own_copy(pre, number));
        let (a, b) = std::thread::scope(|s| {
            let other = s.spawn(|| common::fastest(15, || run(&two)));
            let mine = common::fastest(15, || run(&one));
            (mine, other.join().expect("no panic"))
        });
        println!("{number:>9}   each its own pre-state, own codes (the empty one too): {a:>9.2?} / {b:>9.2?}");
    })
}

/// A copy of `pre` whose every code, the empty one included, is its own `Arc`.
fn own_copy(pre: &coevm_host::state::PreState, number: u64) -> coevm_host::state::PreState {
    use revm::DatabaseRef;
    use revm::bytecode::Bytecode;
    let copy_code = |c: &Bytecode| match c.legacy_jump_table() {
        // SAFETY: the parts of a bytecode revm analyzed, unchanged.
        Some(j) => unsafe { Bytecode::new_analyzed(c.bytecode().clone(), c.len(), j.clone()) },
        None => c.clone(),
    };
    let empty = copy_code(&Bytecode::default());
    let accounts: Vec<_> = pre
        .addresses()
        .map(|address| {
            let mut info = pre.basic_ref(*address).unwrap().unwrap();
            info.code = Some(match &info.code {
                Some(c) if !c.is_empty() => copy_code(c),
                _ => empty.clone(),
            });
            let storage =
                pre.storage_of(address).map(|s| s.iter().map(|(k, v)| (*k, *v)).collect()).unwrap_or_default();
            (*address, info, storage)
        })
        .collect();
    let hashes = (number.saturating_sub(256)..number).map(|n| (n, pre.block_hash_ref(n).unwrap())).collect();
    coevm_host::state::PreState::from_parts(accounts, hashes)
}
