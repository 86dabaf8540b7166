//! Checks a block's execution against its real header: gasUsed, logsBloom, transactionsRoot
//! and, from Byzantium on, receiptsRoot. Hashing (bloom bits, trie nodes, transaction hashes)
//! goes through the backend in batches.

use coevm_kernels::{Backend, BackendError, MessageBatch};
use revm::primitives::hardfork::SpecId;

use crate::data::Block;
use crate::encode::{Bloom, encode_receipt, encode_transaction, receipt_blooms};
use crate::exec::TxOutcome;
use crate::trie::{TrieWork, indexed, trie_roots};

/// One header field compared.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Check {
    Match,
    Mismatch { expected: String, computed: String, detail: Option<String> },
    NotChecked { reason: String },
}

impl Check {
    fn compare(expected: impl ToString, computed: impl ToString, detail: impl FnOnce() -> Option<String>) -> Check {
        let (expected, computed) = (expected.to_string(), computed.to_string());
        if expected == computed { Check::Match } else { Check::Mismatch { expected, computed, detail: detail() } }
    }

    pub fn passed(&self) -> bool {
        !matches!(self, Check::Mismatch { .. })
    }

    pub fn symbol(&self) -> &'static str {
        match self {
            Check::Match => "✓",
            Check::Mismatch { .. } => "✗",
            Check::NotChecked { .. } => "–",
        }
    }
}

/// All header checks of a block.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HeaderChecks {
    pub gas_used: Check,
    pub logs_bloom: Check,
    pub transactions_root: Check,
    pub receipts_root: Check,
    /// Hashing work done for the checks.
    pub trie: TrieWork,
}

impl HeaderChecks {
    pub fn passed(&self) -> bool {
        [&self.gas_used, &self.logs_bloom, &self.transactions_root, &self.receipts_root].iter().all(|c| c.passed())
    }

    /// (name, check) pairs in display order.
    pub fn named(&self) -> [(&'static str, &Check); 4] {
        [
            ("gasUsed", &self.gas_used),
            ("logsBloom", &self.logs_bloom),
            ("transactionsRoot", &self.transactions_root),
            ("receiptsRoot", &self.receipts_root),
        ]
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Verifies `outcomes` (one per transaction of `block`) against `block`'s header.
pub fn check_header(
    block: &Block,
    spec: SpecId,
    outcomes: &[TxOutcome],
    backend: &dyn Backend,
) -> Result<HeaderChecks, BackendError> {
    let header = &block.header;
    let gas: u64 = outcomes.iter().map(|o| o.gas_used).sum();
    let gas_used = Check::compare(header.gas_used, gas, || Some(format!("sum over {} transactions", outcomes.len())));

    let (blooms, _) = receipt_blooms(backend, outcomes)?;
    let mut block_bloom: Bloom = [0; 256];
    for bloom in &blooms {
        block_bloom.iter_mut().zip(bloom).for_each(|(a, b)| *a |= b);
    }
    let logs_bloom = Check::compare(hex(&header.logs_bloom), hex(&block_bloom), || None);

    let encoded_txs: Vec<Vec<u8>> = block.transactions.iter().map(encode_transaction).collect();
    let byzantium = spec.is_enabled_in(SpecId::BYZANTIUM);
    let mut cumulative = 0;
    let receipts: Vec<Vec<u8>> = outcomes
        .iter()
        .zip(&blooms)
        .zip(&block.transactions)
        .map(|((o, bloom), tx)| {
            cumulative += o.gas_used;
            encode_receipt(tx.tx_type, o.success(), cumulative, bloom, &o.logs)
        })
        .collect();
    let mut tries = vec![indexed(encoded_txs.iter().cloned())];
    if byzantium {
        tries.push(indexed(receipts));
    }
    let (roots, trie) = trie_roots(backend, &tries)?;

    let transactions_root = if roots[0] == header.transactions_root {
        Check::Match
    } else {
        // Name the first transaction whose encoding does not hash to its published hash.
        let batch: MessageBatch = encoded_txs.iter().collect();
        let hashes = backend.keccak256(&batch)?;
        let first_bad = block.transactions.iter().zip(&hashes).position(|(tx, h)| tx.hash != *h);
        Check::compare(header.transactions_root, roots[0], || {
            first_bad.map(|i| {
                format!("transaction {i} encodes to hash {} (block says {})", hashes[i], block.transactions[i].hash)
            })
        })
    };
    let receipts_root = if byzantium {
        Check::compare(header.receipts_root, roots[1], || {
            Some(format!("cumulative gas after the last receipt: {cumulative}"))
        })
    } else {
        Check::NotChecked {
            reason: "before Byzantium receipts embed intermediate state roots, which a partial pre-state cannot give"
                .into(),
        }
    };
    Ok(HeaderChecks { gas_used, logs_bloom, transactions_root, receipts_root, trie })
}
