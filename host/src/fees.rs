//! Beneficiary fees, deferred: instead of every transaction crediting the beneficiary (which
//! would make every pair of transactions conflict on that one balance), the parallel executor
//! records `(gas price earned, gas used)` per transaction and settles the sum when someone reads
//! the beneficiary, or at the end of the block.
//!
//! The end-of-block settlement is a batch of 256-bit multiplications on the chosen backend's
//! ALU (exact: price × gas is far below 2^256, so the EVM's wrapping MUL never wraps).

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

    /// Settles through `backend`'s ALU: the products in one MUL batch (one device round trip),
    /// summed on the host (a reduction tree would cost a round trip per level).
    /// Returns the total and the number of ALU items offloaded.
    pub fn settle_on(&mut self, backend: &dyn Backend) -> Result<(U256, usize), BackendError> {
        if self.pending.is_empty() {
            return Ok((U256::ZERO, 0));
        }
        let mut batch = AluBatch::with_capacity(self.pending.len());
        for (price, gas) in &self.pending {
            batch.push(AluOp::Mul, U256::from(*price), U256::from(*gas), U256::ZERO);
        }
        let products = backend.alu(&batch)?;
        if products.len() != batch.len() {
            return Err(BackendError::DeviceLost {
                operation: "alu",
                reason: format!("{} results for {} items", products.len(), batch.len()),
            });
        }
        self.pending.clear();
        Ok((products.into_iter().sum(), batch.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coevm_kernels::cpu::CpuBackend;

    #[test]
    fn backend_and_cpu_settlements_agree() {
        let mut ledger = FeeLedger::default();
        for i in 0..1000u64 {
            ledger.push(u128::from(i) * 1_000_000_007 + u128::MAX / 3 * u128::from(i % 2), 21_000 + i * 37);
        }
        let mut copy = ledger.clone();
        let (total, items) = ledger.settle_on(&CpuBackend::new(2)).unwrap();
        assert_eq!(items, 1000);
        assert_eq!(total, copy.settle_cpu());
        assert!(ledger.is_empty() && copy.is_empty());
        assert!(total > U256::from(u128::MAX), "products wider than 128 bits are exact");
    }
}
