//! From a loaded block to revm's environment: the fork by number and timestamp, the block
//! environment and one `TxEnv` per transaction.

use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::transaction::{AccessList, AccessListItem};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{TxKind, U256};

use crate::data::{Block, Header, Transaction};

const SHANGHAI_TIME: u64 = 1_681_338_455;
const CANCUN_TIME: u64 = 1_710_338_135;
const PRAGUE_TIME: u64 = 1_746_612_311;

/// Mainnet's fork at a block. revm has no DAO, glacier or Constantinople variants: glacier forks
/// map to the fork before them and Constantinople (never live alone) to Petersburg.
pub fn spec_for(number: u64, timestamp: u64) -> SpecId {
    match number {
        n if n < 1_150_000 => SpecId::FRONTIER,
        n if n < 2_463_000 => SpecId::HOMESTEAD,
        n if n < 2_675_000 => SpecId::TANGERINE,
        n if n < 4_370_000 => SpecId::SPURIOUS_DRAGON,
        n if n < 7_280_000 => SpecId::BYZANTIUM,
        n if n < 9_069_000 => SpecId::PETERSBURG,
        n if n < 12_244_000 => SpecId::ISTANBUL,
        n if n < 12_965_000 => SpecId::BERLIN,
        n if n < 15_537_394 => SpecId::LONDON,
        _ if timestamp < SHANGHAI_TIME => SpecId::MERGE,
        _ if timestamp < CANCUN_TIME => SpecId::SHANGHAI,
        _ if timestamp < PRAGUE_TIME => SpecId::CANCUN,
        _ => SpecId::PRAGUE,
    }
}

/// Does the blob gas price for `excess` blob gas fit revm's arithmetic? revm computes it
/// (EIP-4844's `fake_exponential`) in unchecked 128-bit integers, which overflow (a panic, or
/// a wrong price in release builds) for an excess above ~1.9·10⁸ at Cancun's update fraction
/// (higher at Prague's); mainnet's stays far below.
/// This runs the same series with checked arithmetic.
pub fn blob_gas_price_fits(excess: u64, update_fraction: u64) -> bool {
    let (numerator, denominator) = (excess as u128, update_fraction.max(1) as u128);
    let mut accumulated = Some(denominator); // factor (1) × denominator
    let mut output = Some(0u128);
    let mut i = 1u128;
    while let Some(term) = accumulated.filter(|t| *t > 0) {
        output = output.and_then(|o| o.checked_add(term));
        accumulated = term.checked_mul(numerator).zip(denominator.checked_mul(i)).map(|(n, d)| n / d);
        i += 1;
    }
    accumulated.is_some() && output.is_some()
}

/// Everything revm needs besides the state and the transactions.
#[derive(Clone, Debug)]
pub struct BlockContext {
    pub spec: SpecId,
    pub cfg: CfgEnv,
    pub block: BlockEnv,
}

impl BlockContext {
    pub fn new(header: &Header) -> Self {
        let spec = spec_for(header.number, header.timestamp);
        // new_with_spec also installs the fork's gas table (setting only `spec` would not).
        let mut cfg = CfgEnv::new_with_spec(spec);
        cfg.chain_id = 1;
        let mut block = BlockEnv {
            number: U256::from(header.number),
            beneficiary: header.beneficiary,
            timestamp: U256::from(header.timestamp),
            gas_limit: header.gas_limit,
            basefee: header.base_fee.unwrap_or(0),
            difficulty: header.difficulty,
            prevrandao: spec.is_enabled_in(SpecId::MERGE).then_some(header.mix_hash),
            ..Default::default()
        };
        if spec.is_enabled_in(SpecId::CANCUN) {
            // (Cancun's update fraction, Prague's from Prague on.)
            block.set_blob_excess_gas_and_price(
                header.excess_blob_gas.unwrap_or(0),
                cfg.blob_base_fee_update_fraction(),
            );
        } else {
            block.blob_excess_gas_and_price = None;
        }
        Self { spec, cfg, block }
    }

    /// What the beneficiary earns per unit of gas from `tx` (the tip after London).
    pub fn coinbase_gas_price(&self, tx: &TxEnv) -> u128 {
        let basefee = self.block.basefee as u128;
        let effective = match tx.gas_priority_fee {
            Some(tip) if tx.tx_type >= 2 => tx.gas_price.min(basefee.saturating_add(tip)),
            _ => tx.gas_price,
        };
        if self.spec.is_enabled_in(SpecId::LONDON) { effective.saturating_sub(basefee) } else { effective }
    }
}

/// revm's view of one transaction.
pub fn tx_env(tx: &Transaction) -> TxEnv {
    TxEnv {
        tx_type: tx.tx_type,
        caller: tx.from,
        gas_limit: tx.gas_limit,
        // Type ≥ 2: revm wants the fee cap here (RPC `gasPrice` is the effective price).
        gas_price: if tx.tx_type >= 2 { tx.max_fee_per_gas.unwrap_or(0) } else { tx.gas_price },
        kind: tx.to.map_or(TxKind::Create, TxKind::Call),
        value: tx.value,
        data: tx.input.clone(),
        nonce: tx.nonce,
        chain_id: tx.chain_id,
        access_list: AccessList(
            tx.access_list
                .iter()
                .map(|i| AccessListItem { address: i.address, storage_keys: i.storage_keys.clone() })
                .collect(),
        ),
        gas_priority_fee: if tx.tx_type >= 2 { tx.max_priority_fee_per_gas } else { None },
        blob_hashes: tx.blob_versioned_hashes.clone(),
        max_fee_per_blob_gas: tx.max_fee_per_blob_gas.unwrap_or(0),
        ..Default::default()
    }
}

/// All transactions of a block as revm sees them, shared (the parallel executor's helpers
/// hold them, see `ParallelExecutor::execute`).
pub fn tx_envs(block: &Block) -> std::sync::Arc<[TxEnv]> {
    block.transactions.iter().map(tx_env).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forks_on_both_sides_of_their_boundaries() {
        // Mainnet's fork blocks and times, written out here rather than read from the
        // constants above (a wrong constant must fail this test).
        let by_number = [
            (1_150_000, SpecId::FRONTIER, SpecId::HOMESTEAD),
            (2_463_000, SpecId::HOMESTEAD, SpecId::TANGERINE),
            (2_675_000, SpecId::TANGERINE, SpecId::SPURIOUS_DRAGON),
            (4_370_000, SpecId::SPURIOUS_DRAGON, SpecId::BYZANTIUM),
            (7_280_000, SpecId::BYZANTIUM, SpecId::PETERSBURG),
            (9_069_000, SpecId::PETERSBURG, SpecId::ISTANBUL),
            (12_244_000, SpecId::ISTANBUL, SpecId::BERLIN),
            (12_965_000, SpecId::BERLIN, SpecId::LONDON),
            (15_537_394, SpecId::LONDON, SpecId::MERGE),
        ];
        for (first, before, after) in by_number {
            // (The Merge's first block is timestamped 1,663,224,179; London's last 1,663,224,162.)
            assert_eq!(spec_for(first - 1, 1_663_224_162), before, "block {}", first - 1);
            assert_eq!(spec_for(first, 1_663_224_179), after, "block {first}");
        }
        let by_time = [
            (1_681_338_455, SpecId::MERGE, SpecId::SHANGHAI),
            (1_710_338_135, SpecId::SHANGHAI, SpecId::CANCUN),
            (1_746_612_311, SpecId::CANCUN, SpecId::PRAGUE),
        ];
        for (time, before, after) in by_time {
            assert_eq!(spec_for(20_000_000, time - 1), before, "time {}", time - 1);
            assert_eq!(spec_for(20_000_000, time), after, "time {time}");
        }
        // The blocks kept and shared, on their side of a boundary.
        assert_eq!(spec_for(46_147, 0), SpecId::FRONTIER);
        assert_eq!(spec_for(2_674_998, 0), SpecId::TANGERINE);
        assert_eq!(spec_for(9_068_998, 0), SpecId::PETERSBURG);
        assert_eq!(spec_for(17_034_869, 1_681_338_443), SpecId::MERGE);
    }

    #[test]
    fn the_blob_gas_price_follows_the_forks_update_fraction() {
        use revm::context_interface::block::calc_blob_gasprice;
        use revm::primitives::eip4844::{BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mainnet/19933122");
        let mut header = crate::data::load_block(&dir).expect("an in-repo block").header;
        header.excess_blob_gas = Some(20_000_000);
        let price =
            |header: &Header| BlockContext::new(header).block.blob_excess_gas_and_price.map(|b| b.blob_gasprice);
        assert_eq!(price(&header), Some(calc_blob_gasprice(20_000_000, BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN)));
        header.timestamp = PRAGUE_TIME;
        assert_eq!(price(&header), Some(calc_blob_gasprice(20_000_000, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE)));
        assert_ne!(
            calc_blob_gasprice(20_000_000, BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN),
            calc_blob_gasprice(20_000_000, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE)
        );
    }

    /// EIP-4844's series in 256-bit integers, and whether any value revm keeps in 128 bits
    /// (the sum, the product, the divisor) would exceed them.
    fn series_in_u256(excess: u64, fraction: u64) -> (U256, bool) {
        let (numerator, denominator, limit) = (U256::from(excess), U256::from(fraction), U256::from(u128::MAX));
        let (mut i, mut output, mut term, mut exceeds) = (U256::from(1), U256::ZERO, denominator, false);
        while term > U256::ZERO {
            output += term;
            let (product, divisor) = (term * numerator, denominator * i);
            exceeds |= output > limit || product > limit || divisor > limit;
            term = product / divisor;
            i += U256::from(1);
        }
        (output / denominator, exceeds)
    }

    #[test]
    fn a_blob_gas_price_fits_exactly_where_revms_series_stays_in_128_bits() {
        use revm::context_interface::block::calc_blob_gasprice;
        use revm::primitives::eip4844::{BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE};
        for fraction in [BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE] {
            for excess in [0, 1, 393_216, 10_000_000, 100_000_000, 150_000_000, 190_000_000, 250_000_000, 400_000_000] {
                let (price, exceeds) = series_in_u256(excess, fraction);
                assert_eq!(blob_gas_price_fits(excess, fraction), !exceeds, "excess {excess}, fraction {fraction}");
                if !exceeds {
                    assert_eq!(U256::from(calc_blob_gasprice(excess, fraction)), price, "excess {excess}");
                }
            }
            // The boundary itself: the first excess that does not fit is the first whose series
            // leaves 128 bits.
            let (mut fits, mut not) = (0u64, 400_000_000u64);
            while not - fits > 1 {
                let mid = fits + (not - fits) / 2;
                if blob_gas_price_fits(mid, fraction) { fits = mid } else { not = mid }
            }
            assert!(!series_in_u256(fits, fraction).1 && series_in_u256(not, fraction).1, "boundary {not}");
        }
    }
}
