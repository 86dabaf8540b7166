//! The oracle: plain revm, one transaction after another, committed into revm's own `CacheDB`.

use revm::context::TxEnv;
use revm::context::result::ResultAndState;
use revm::database::CacheDB;
use revm::primitives::HashSet;
use revm::{Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext};

use super::{BlockOutcome, ExecError, ExecStats, FinalState, TxOutcome};
use crate::env::BlockContext;
use crate::state::PreState;

/// Executes `txs` in order on one thread with unmodified revm.
pub fn execute_sequential(ctx: &BlockContext, txs: &[TxEnv], pre: &PreState) -> Result<BlockOutcome, ExecError> {
    let mut evm = Context::mainnet()
        .with_db(CacheDB::new(pre))
        .with_cfg(ctx.cfg.clone())
        .with_block(ctx.block.clone())
        .build_mainnet();
    let mut outcomes = Vec::with_capacity(txs.len());
    // CacheDB forgets that a self-destructed account's storage was wiped once the account is
    // funded again (it becomes plain "touched"): remember the wipes to report them.
    let mut wiped = HashSet::<revm::primitives::Address>::default();
    for (index, tx) in txs.iter().enumerate() {
        let ResultAndState { result, state } =
            evm.transact(tx.clone()).map_err(|e| ExecError { index, message: e.to_string() })?;
        wiped.extend(state.iter().filter(|(_, a)| a.is_selfdestructed()).map(|(address, _)| *address));
        evm.commit(state);
        outcomes.push(TxOutcome::from_result(result));
    }
    let cache = std::mem::take(&mut evm.ctx.journaled_state.database.cache);
    Ok(BlockOutcome {
        txs: outcomes,
        state: FinalState::Cache { cache, wiped },
        stats: ExecStats { threads: 1, ran_sequentially: true, ..Default::default() },
    })
}
