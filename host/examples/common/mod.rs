//! What the measuring examples share: loading every real block of a data directory.

use coevm_host::data::{discover_blocks, load_block};
use coevm_host::env::{BlockContext, tx_envs};
use coevm_host::state::PreState;
use revm::context::TxEnv;

/// Calls `f(number, context, transactions, pre-state)` for every block under `data` with at
/// least `min_txs` transactions, in block order.
pub fn for_each_block(
    data: &str,
    min_txs: usize,
    mut f: impl FnMut(u64, &BlockContext, &[TxEnv], &PreState),
) -> anyhow::Result<()> {
    let backend = coevm_kernels::cpu::CpuBackend::new(1);
    for dir in discover_blocks(std::path::Path::new(data))? {
        let block = load_block(&dir)?;
        let txs = tx_envs(&block);
        if txs.len() < min_txs {
            continue;
        }
        let (pre, _) = PreState::load(&block, &backend)?;
        f(block.header.number, &BlockContext::new(&block.header), &txs, &pre);
    }
    Ok(())
}
