//! Beneficiary fees, deferred: instead of every transaction crediting the beneficiary (which
//! would make every pair of transactions conflict on that one balance), the parallel executor
//! records `(gas price earned, gas used)` per transaction and settles the sum when someone reads
//! the beneficiary, or at the end of the block.
//!
//! The end-of-block settlement is a batch of 256-bit multiplications and a tree of additions:
//! it runs on the chosen backend's ALU (exact: the EVM's wrapping arithmetic never wraps here,
//! as fees are far below 2^256).

use coevm_kernels::{AluBatch, AluOp, Backend, BackendError, U256};

/// Fees owed to the beneficiary and not yet credited.
#[derive(Clone, Debug, Default)]
pub struct FeeLedger {
    pending: Vec<(u128, u64)>,
}

impl FeeLedger {
    pub fn push(&mut self, coinbase_gas_price: u128, gas_used: u64) {
        self.pending.push((coinbase_gas_price, gas_used));
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Settles on the CPU (a synchronous read mid-block cannot wait for a device round trip).
    pub fn settle_cpu(&mut self) -> U256 {
        self.pending.drain(..).map(|(p, g)| U256::from(p) * U256::from(g)).sum()
    }

    /// Settles through `backend`'s ALU: one MUL batch, then ADD batches halving the list.
    /// Returns the total and the number of ALU items offloaded.
    pub fn settle_on(&mut self, backend: &dyn Backend) -> Result<(U256, usize), BackendError> {
        if self.pending.is_empty() {
            return Ok((U256::ZERO, 0));
        }
        let mut batch = AluBatch::with_capacity(self.pending.len());
        for (price, gas) in &self.pending {
            batch.push(AluOp::Mul, U256::from(*price), U256::from(*gas), U256::ZERO);
        }
        let mut items = batch.len();
        let mut values = backend.alu(&batch)?;
        while values.len() > 1 {
            batch.clear();
            for pair in values.chunks(2) {
                batch.push(AluOp::Add, pair[0], pair.get(1).copied().unwrap_or_default(), U256::ZERO);
            }
            items += batch.len();
            values = backend.alu(&batch)?;
        }
        self.pending.clear();
        Ok((values[0], items))
    }
}
