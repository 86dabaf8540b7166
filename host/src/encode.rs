//! Consensus encodings: transactions (for the transactions trie), receipts and logs blooms.
//! The keccak256 work (bloom bits, trie nodes) is batched through the backend.

use alloy_rlp::{Encodable, Header};
use coevm_kernels::{Backend, BackendError, MessageBatch};
use revm::primitives::{Address, B256, Log};

use crate::data::{AccessListItem, Transaction};
use crate::exec::TxOutcome;

/// A 2048-bit logs bloom.
pub type Bloom = [u8; 256];

fn list(out: &mut Vec<u8>, payload: &[u8]) {
    Header { list: true, payload_length: payload.len() }.encode(out);
    out.extend_from_slice(payload);
}

fn encode_to(out: &mut Vec<u8>, to: &Option<Address>) {
    match to {
        Some(a) => a.encode(out),
        None => out.push(alloy_rlp::EMPTY_STRING_CODE),
    }
}

fn encode_access_list(out: &mut Vec<u8>, items: &[AccessListItem]) {
    let mut payload = Vec::new();
    for item in items {
        let mut entry = Vec::new();
        item.address.encode(&mut entry);
        item.storage_keys.encode(&mut entry);
        list(&mut payload, &entry);
    }
    list(out, &payload);
}

/// The transaction as signed and broadcast: `rlp([...])` for legacy, `type ‖ rlp([...])` else.
pub fn encode_transaction(tx: &Transaction) -> Vec<u8> {
    let mut p = Vec::with_capacity(tx.input.len() + 200);
    let y_parity = |v: u64| {
        if v >= 35 {
            (v - 35) % 2
        } else if v >= 27 {
            v - 27
        } else {
            v
        }
    };
    // Legacy: [nonce, gasPrice, gas, to, value, input, v, r, s]. Typed: [chainId, nonce, fees…,
    // gas, to, value, input, accessList, (blob fields), yParity, r, s].
    if tx.tx_type != 0 {
        tx.chain_id.unwrap_or(1).encode(&mut p);
    }
    tx.nonce.encode(&mut p);
    if tx.tx_type < 2 {
        tx.gas_price.encode(&mut p);
    } else {
        tx.max_priority_fee_per_gas.unwrap_or(0).encode(&mut p);
        tx.max_fee_per_gas.unwrap_or(0).encode(&mut p);
    }
    tx.gas_limit.encode(&mut p);
    encode_to(&mut p, &tx.to);
    tx.value.encode(&mut p);
    tx.input.encode(&mut p);
    if tx.tx_type == 0 {
        tx.v.encode(&mut p);
    } else {
        encode_access_list(&mut p, &tx.access_list);
        if tx.tx_type == 3 {
            tx.max_fee_per_blob_gas.unwrap_or(0).encode(&mut p);
            tx.blob_versioned_hashes.encode(&mut p);
        }
        y_parity(tx.v).encode(&mut p);
    }
    tx.r.encode(&mut p);
    tx.s.encode(&mut p);
    let mut out = Vec::with_capacity(p.len() + 4);
    if tx.tx_type != 0 {
        out.push(tx.tx_type);
    }
    list(&mut out, &p);
    out
}

fn encode_log(out: &mut Vec<u8>, log: &Log) {
    let mut p = Vec::with_capacity(log.data.data.len() + 32 * log.topics().len() + 32);
    log.address.encode(&mut p);
    alloy_rlp::encode_list::<B256, B256>(log.topics(), &mut p);
    log.data.data.encode(&mut p);
    list(out, &p);
}

/// The receipt from Byzantium on: `type ‖ rlp([status, cumulative gas, bloom, logs])`.
pub fn encode_receipt(tx_type: u8, success: bool, cumulative_gas: u64, bloom: &Bloom, logs: &[Log]) -> Vec<u8> {
    let mut p = Vec::with_capacity(300 + logs.len() * 200);
    (success as u64).encode(&mut p);
    cumulative_gas.encode(&mut p);
    bloom.as_slice().encode(&mut p);
    let mut logs_payload = Vec::new();
    for log in logs {
        encode_log(&mut logs_payload, log);
    }
    list(&mut p, &logs_payload);
    let mut out = Vec::with_capacity(p.len() + 4);
    if tx_type != 0 {
        out.push(tx_type);
    }
    list(&mut out, &p);
    out
}

/// Sets the three bloom bits of one hashed log address or topic.
pub fn accrue_bloom(bloom: &mut Bloom, hash: &[u8; 32]) {
    for i in 0..3 {
        let bit = (u16::from(hash[2 * i]) << 8 | u16::from(hash[2 * i + 1])) & 2047;
        bloom[255 - usize::from(bit / 8)] |= 1 << (bit % 8);
    }
}

/// Per-transaction blooms, with every log address and topic hashed in one backend batch.
pub fn receipt_blooms(backend: &dyn Backend, txs: &[TxOutcome]) -> Result<(Vec<Bloom>, usize), BackendError> {
    let mut batch = MessageBatch::new();
    for tx in txs {
        for log in &tx.logs {
            batch.push(log.address.as_slice());
            for topic in log.topics() {
                batch.push(topic.as_slice());
            }
        }
    }
    let hashes = if batch.is_empty() { Vec::new() } else { backend.keccak256(&batch)? };
    if hashes.len() != batch.len() {
        return Err(BackendError::DeviceLost {
            operation: "keccak256",
            reason: format!("{} digests for {} messages", hashes.len(), batch.len()),
        });
    }
    let mut next = hashes.iter();
    let blooms = txs
        .iter()
        .map(|tx| {
            let mut bloom = [0u8; 256];
            for log in &tx.logs {
                for _ in 0..1 + log.topics().len() {
                    accrue_bloom(&mut bloom, &next.next().expect("one digest per item").0);
                }
            }
            bloom
        })
        .collect();
    Ok((blooms, batch.len()))
}
