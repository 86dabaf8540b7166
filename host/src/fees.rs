//! Beneficiary fees, deferred: instead of every transaction crediting the beneficiary (which
//! would make every pair of transactions conflict on that one balance), the parallel executor
//! records `(gas price earned, gas used)` for each transaction and settles the sum when someone
//! reads the beneficiary, or at the end of the block.
//!
//! The end-of-block settlement is a batch of 256-bit multiplications on the chosen backend's
//! ALU (exact: price × gas is far below 2^256, so the EVM's wrapping MUL never wraps). A run of
//! transactions paying the same price is one entry, its gas summed: blocks are mostly ordered
//! by fee, so the 45 shared mainnet blocks' 9,712 transactions make 1,497 entries.

use coevm_kernels::{AluBatch, AluOp, Backend, BackendError, U256};

/// Fees owed to the beneficiary and not yet credited.
#[derive(Clone, Debug, Default)]
pub struct FeeLedger {
    /// (price, gas used at that price), consecutive prices distinct.
    pending: Vec<(u128, u128)>,
}

impl FeeLedger {
    pub fn push(&mut self, coinbase_gas_price: u128, gas_used: u64) {
        match self.pending.last_mut() {
            // (A u128 sum of u64 gas cannot overflow.)
            Some((price, gas)) if *price == coinbase_gas_price => *gas += u128::from(gas_used),
            _ => self.pending.push((coinbase_gas_price, u128::from(gas_used))),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Entries awaiting settlement (one per run of equal prices).
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
        let mut expected = U256::ZERO;
        for i in 0..1000u64 {
            // Runs of four equal prices.
            let price = u128::from(i / 4) * 1_000_000_007 + u128::MAX / 3 * u128::from(i / 4 % 2);
            let gas = 21_000 + i * 37 + u64::MAX / 4 * (i % 3);
            ledger.push(price, gas);
            expected += U256::from(price) * U256::from(gas);
        }
        assert_eq!(ledger.len(), 250, "one entry per run of equal prices");
        let mut copy = ledger.clone();
        let (total, items) = ledger.settle_on(&CpuBackend::new(2)).unwrap();
        assert_eq!(items, 250);
        assert_eq!(total, expected);
        assert_eq!(copy.settle_cpu(), expected);
        assert!(ledger.is_empty() && copy.is_empty());
        assert!(total > U256::from(u128::MAX), "products wider than 128 bits are exact");
    }
}
