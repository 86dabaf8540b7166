//! Loading real blocks: `block.json` (RPC block with full transactions), `pre_state.json` and
//! `block_hashes.json`, as published with pevm's mainnet test data (see ../shared/README.md).
//!
//! Every error names the file, the field and, for transactions, the index.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use revm::bytecode::Bytecode;
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, B256, Bytes, U256, keccak256};
use serde::Deserialize;
use serde_json::Value;

/// Why a block could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: cannot read: {source}")]
    Io { file: PathBuf, source: std::io::Error },
    #[error("{file}: not valid JSON: {source}")]
    Json { file: PathBuf, source: serde_json::Error },
    #[error("{file}: field `{field}`: {problem}")]
    Field { file: PathBuf, field: String, problem: String },
}

/// Header fields the executor needs and the checks compare against.
#[derive(Clone, Debug)]
pub struct Header {
    pub number: u64,
    pub hash: B256,
    pub beneficiary: Address,
    pub timestamp: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub difficulty: U256,
    pub mix_hash: B256,
    pub base_fee: Option<u64>,
    pub excess_blob_gas: Option<u64>,
    pub transactions_root: B256,
    pub receipts_root: B256,
    pub logs_bloom: [u8; 256],
}

/// An access-list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessListItem {
    pub address: Address,
    pub storage_keys: Vec<B256>,
}

/// A signed transaction as it appears in the block, with its recovered sender.
#[derive(Clone, Debug)]
pub struct Transaction {
    pub tx_type: u8,
    pub hash: B256,
    pub from: Address,
    pub to: Option<Address>,
    pub nonce: u64,
    pub gas_limit: u64,
    pub value: U256,
    pub input: Bytes,
    /// Legacy and EIP-2930: the gas price. Typed ≥ 2: unused (see `max_fee_per_gas`).
    pub gas_price: u128,
    pub max_fee_per_gas: Option<u128>,
    pub max_priority_fee_per_gas: Option<u128>,
    pub max_fee_per_blob_gas: Option<u128>,
    pub blob_versioned_hashes: Vec<B256>,
    pub access_list: Vec<AccessListItem>,
    pub chain_id: Option<u64>,
    pub v: u64,
    pub r: U256,
    pub s: U256,
}

/// One account of the pre-state.
#[derive(Clone, Debug, Default)]
pub struct PreAccount {
    pub balance: U256,
    pub nonce: u64,
    pub code: Option<Bytecode>,
    pub code_hash: B256,
    pub storage: BTreeMap<U256, U256>,
}

/// A block ready to execute.
#[derive(Clone, Debug)]
pub struct Block {
    pub dir: PathBuf,
    pub header: Header,
    pub transactions: Vec<Transaction>,
    pub pre_state: BTreeMap<Address, PreAccount>,
    pub block_hashes: BTreeMap<u64, B256>,
}

impl Block {
    pub fn total_gas_limit(&self) -> u64 {
        self.transactions.iter().map(|t| t.gas_limit).sum()
    }
}

/// Reads `dir/block.json`, `dir/pre_state.json` and, if present, `dir/block_hashes.json`.
pub fn load_block(dir: &Path) -> Result<Block, LoadError> {
    let block_file = dir.join("block.json");
    let block_json = read_json(&block_file)?;
    let f = Fields { file: &block_file };
    let header = parse_header(&f, &block_json)?;
    let txs = match block_json.get("transactions") {
        Some(Value::Array(txs)) => txs,
        Some(_) => return Err(f.err("transactions", "expected an array")),
        None => return Err(f.err("transactions", "missing")),
    };
    let transactions =
        txs.iter().enumerate().map(|(i, tx)| parse_transaction(&f, i, tx)).collect::<Result<Vec<_>, _>>()?;

    let pre_file = dir.join("pre_state.json");
    let pre_state = parse_pre_state(&pre_file, read_json(&pre_file)?)?;

    let hashes_file = dir.join("block_hashes.json");
    let block_hashes = if hashes_file.exists() {
        parse_block_hashes(&hashes_file, read_json(&hashes_file)?)?
    } else {
        BTreeMap::new()
    };
    Ok(Block { dir: dir.to_path_buf(), header, transactions, pre_state, block_hashes })
}

fn read_json(file: &Path) -> Result<Value, LoadError> {
    let text = std::fs::read(file).map_err(|source| LoadError::Io { file: file.into(), source })?;
    serde_json::from_slice(&text).map_err(|source| LoadError::Json { file: file.into(), source })
}

/// Field accessors that produce errors naming the file and field.
struct Fields<'a> {
    file: &'a Path,
}

impl Fields<'_> {
    fn err(&self, field: impl Into<String>, problem: impl Into<String>) -> LoadError {
        LoadError::Field { file: self.file.into(), field: field.into(), problem: problem.into() }
    }

    fn str<'v>(&self, obj: &'v Value, prefix: &str, key: &str) -> Result<Option<&'v str>, LoadError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(format!("{prefix}{key}"), format!("expected a hex string, got {other}"))),
        }
    }

    fn u256(&self, obj: &Value, prefix: &str, key: &str) -> Result<Option<U256>, LoadError> {
        self.str(obj, prefix, key)?
            .map(|s| parse_quantity(s).map_err(|p| self.err(format!("{prefix}{key}"), p)))
            .transpose()
    }

    fn req_u256(&self, obj: &Value, prefix: &str, key: &str) -> Result<U256, LoadError> {
        self.u256(obj, prefix, key)?.ok_or_else(|| self.err(format!("{prefix}{key}"), "missing"))
    }

    fn u64(&self, obj: &Value, prefix: &str, key: &str) -> Result<Option<u64>, LoadError> {
        self.u256(obj, prefix, key)?
            .map(|v| u64::try_from(v).map_err(|_| self.err(format!("{prefix}{key}"), "does not fit in 64 bits")))
            .transpose()
    }

    fn req_u64(&self, obj: &Value, prefix: &str, key: &str) -> Result<u64, LoadError> {
        self.u64(obj, prefix, key)?.ok_or_else(|| self.err(format!("{prefix}{key}"), "missing"))
    }

    fn u128(&self, obj: &Value, prefix: &str, key: &str) -> Result<Option<u128>, LoadError> {
        self.u256(obj, prefix, key)?
            .map(|v| u128::try_from(v).map_err(|_| self.err(format!("{prefix}{key}"), "does not fit in 128 bits")))
            .transpose()
    }

    fn bytes(&self, obj: &Value, prefix: &str, key: &str) -> Result<Option<Vec<u8>>, LoadError> {
        self.str(obj, prefix, key)?
            .map(|s| parse_hex_bytes(s).map_err(|p| self.err(format!("{prefix}{key}"), p)))
            .transpose()
    }

    fn fixed<const N: usize>(&self, obj: &Value, prefix: &str, key: &str) -> Result<Option<[u8; N]>, LoadError> {
        self.bytes(obj, prefix, key)?
            .map(|b| {
                <[u8; N]>::try_from(b.as_slice())
                    .map_err(|_| self.err(format!("{prefix}{key}"), format!("expected {N} bytes, got {}", b.len())))
            })
            .transpose()
    }

    fn req_fixed<const N: usize>(&self, obj: &Value, prefix: &str, key: &str) -> Result<[u8; N], LoadError> {
        self.fixed(obj, prefix, key)?.ok_or_else(|| self.err(format!("{prefix}{key}"), "missing"))
    }
}

/// Parses an RPC quantity (`0x1a`) or a decimal number string.
pub fn parse_quantity(s: &str) -> Result<U256, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some("") => Ok(U256::ZERO),
        Some(hex) => U256::from_str_radix(hex, 16),
        None => U256::from_str_radix(s, 10),
    };
    parsed.map_err(|e| format!("invalid number {s:?}: {e}"))
}

/// Parses `0x`-prefixed hex data (an odd number of digits is rejected).
pub fn parse_hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    let hex = s.strip_prefix("0x").ok_or_else(|| format!("expected 0x-prefixed hex, got {:?}", abbreviate(s)))?;
    if hex.len() % 2 != 0 {
        return Err(format!("odd number of hex digits in {:?}", abbreviate(s)));
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    hex.as_bytes()
        .chunks_exact(2)
        .map(|p| match (digit(p[0]), digit(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(format!("invalid hex digit in {:?}", abbreviate(s))),
        })
        .collect()
}

fn abbreviate(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

fn parse_header(f: &Fields, b: &Value) -> Result<Header, LoadError> {
    let bloom = f.req_fixed::<256>(b, "", "logsBloom")?;
    let mix_hash = f.fixed::<32>(b, "", "mixHash")?;
    let header = Header {
        number: f.req_u64(b, "", "number")?,
        hash: B256::from(f.req_fixed::<32>(b, "", "hash")?),
        beneficiary: Address::from(f.req_fixed::<20>(b, "", "miner")?),
        timestamp: f.req_u64(b, "", "timestamp")?,
        gas_limit: f.req_u64(b, "", "gasLimit")?,
        gas_used: f.req_u64(b, "", "gasUsed")?,
        difficulty: f.req_u256(b, "", "difficulty")?,
        mix_hash: mix_hash.map(B256::from).unwrap_or_default(),
        base_fee: f.u64(b, "", "baseFeePerGas")?,
        excess_blob_gas: f.u64(b, "", "excessBlobGas")?,
        transactions_root: B256::from(f.req_fixed::<32>(b, "", "transactionsRoot")?),
        receipts_root: B256::from(f.req_fixed::<32>(b, "", "receiptsRoot")?),
        logs_bloom: bloom,
    };
    // Fields a fork requires: revm would run on with a zero in their place.
    let spec = crate::env::spec_for(header.number, header.timestamp);
    let missing = |field: &str, fork: &str| f.err(field, format!("missing on a block from {fork} on"));
    if spec.is_enabled_in(SpecId::LONDON) && header.base_fee.is_none() {
        return Err(missing("baseFeePerGas", "London"));
    }
    if spec.is_enabled_in(SpecId::MERGE) && mix_hash.is_none() {
        return Err(missing("mixHash", "the Merge"));
    }
    if spec.is_enabled_in(SpecId::CANCUN) {
        let excess = header.excess_blob_gas.ok_or_else(|| missing("excessBlobGas", "Cancun"))?;
        let fraction = revm::context::CfgEnv::new_with_spec(spec).blob_base_fee_update_fraction();
        if !crate::env::blob_gas_price_fits(excess, fraction) {
            return Err(f.err("excessBlobGas", format!("{excess} is too large: its blob gas price overflows")));
        }
    }
    Ok(header)
}

fn parse_transaction(f: &Fields, i: usize, t: &Value) -> Result<Transaction, LoadError> {
    let p = format!("transactions[{i}].");
    let p = p.as_str();
    if !t.is_object() {
        return Err(f.err(format!("transactions[{i}]"), "expected an object (full transactions)"));
    }
    let tx_type = f.u64(t, p, "type")?.unwrap_or(0);
    let tx_type = u8::try_from(tx_type)
        .ok()
        .filter(|t| *t <= 3)
        .ok_or_else(|| f.err(format!("{p}type"), format!("unsupported transaction type {tx_type}")))?;
    let access_list = match t.get("accessList") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, item)| {
                let q = format!("{p}accessList[{j}].");
                let keys = match item.get("storageKeys") {
                    Some(Value::Array(keys)) => keys
                        .iter()
                        .enumerate()
                        .map(|(k, key)| {
                            let s = key
                                .as_str()
                                .ok_or_else(|| f.err(format!("{q}storageKeys[{k}]"), "expected a string"))?;
                            let b = parse_hex_bytes(s).map_err(|e| f.err(format!("{q}storageKeys[{k}]"), e))?;
                            B256::try_from(b.as_slice())
                                .map_err(|_| f.err(format!("{q}storageKeys[{k}]"), "expected 32 bytes"))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    _ => return Err(f.err(format!("{q}storageKeys"), "expected an array")),
                };
                Ok(AccessListItem {
                    address: Address::from(f.req_fixed::<20>(item, &q, "address")?),
                    storage_keys: keys,
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(f.err(format!("{p}accessList"), "expected an array")),
    };
    let blob_versioned_hashes = match t.get("blobVersionedHashes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(hashes)) => hashes
            .iter()
            .enumerate()
            .map(|(k, h)| {
                let field = format!("{p}blobVersionedHashes[{k}]");
                let s = h.as_str().ok_or_else(|| f.err(&field, "expected a string"))?;
                let b = parse_hex_bytes(s).map_err(|e| f.err(&field, e))?;
                B256::try_from(b.as_slice()).map_err(|_| f.err(&field, "expected 32 bytes"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(f.err(format!("{p}blobVersionedHashes"), "expected an array")),
    };
    let max_fee_per_gas = f.u128(t, p, "maxFeePerGas")?;
    let max_priority_fee_per_gas = f.u128(t, p, "maxPriorityFeePerGas")?;
    let max_fee_per_blob_gas = f.u128(t, p, "maxFeePerBlobGas")?;
    if tx_type >= 2 && (max_fee_per_gas.is_none() || max_priority_fee_per_gas.is_none()) {
        return Err(f.err(format!("{p}maxFeePerGas"), "type ≥ 2 transaction without fee cap fields"));
    }
    if tx_type == 3 && (max_fee_per_blob_gas.is_none() || blob_versioned_hashes.is_empty()) {
        return Err(f.err(format!("{p}maxFeePerBlobGas"), "blob transaction without blob fields"));
    }
    let gas_price = match f.u128(t, p, "gasPrice")? {
        Some(price) => price,
        None if tx_type >= 2 => 0,
        None => return Err(f.err(format!("{p}gasPrice"), "missing")),
    };
    let v = f.req_u64(t, p, "v")?;
    let chain_id = match f.u64(t, p, "chainId")? {
        Some(id) if tx_type != 0 || v >= 35 => Some(id),
        // Legacy: v = 27/28 has no chain id (pre-EIP-155); v ≥ 35 encodes it.
        _ if tx_type == 0 && v >= 35 => Some((v - 35) / 2),
        _ if tx_type == 0 => None,
        _ => return Err(f.err(format!("{p}chainId"), "missing on a typed transaction")),
    };
    Ok(Transaction {
        tx_type,
        hash: B256::from(f.req_fixed::<32>(t, p, "hash")?),
        from: Address::from(f.req_fixed::<20>(t, p, "from")?),
        to: f.fixed::<20>(t, p, "to")?.map(Address::from),
        nonce: f.req_u64(t, p, "nonce")?,
        gas_limit: f.req_u64(t, p, "gas")?,
        value: f.req_u256(t, p, "value")?,
        input: Bytes::from(f.bytes(t, p, "input")?.ok_or_else(|| f.err(format!("{p}input"), "missing"))?),
        gas_price,
        max_fee_per_gas,
        max_priority_fee_per_gas,
        max_fee_per_blob_gas,
        blob_versioned_hashes,
        access_list,
        chain_id,
        v,
        r: f.req_u256(t, p, "r")?,
        s: f.req_u256(t, p, "s")?,
    })
}

#[derive(Deserialize)]
struct RawAccount {
    basic: RawBasic,
    code: Option<RawCode>,
    #[serde(default)]
    storage: BTreeMap<String, String>,
    code_hash: Option<String>,
}

#[derive(Deserialize)]
struct RawBasic {
    balance: Value,
    nonce: Value,
}

#[derive(Deserialize)]
struct RawCode {
    bytecode: String,
    original_len: Option<Value>,
}

fn number_value(v: &Value) -> Result<U256, String> {
    match v {
        Value::String(s) => parse_quantity(s),
        Value::Number(n) => n.as_u64().map(U256::from).ok_or_else(|| format!("invalid number {n}")),
        other => Err(format!("expected a number, got {other}")),
    }
}

fn parse_pre_state(file: &Path, json: Value) -> Result<BTreeMap<Address, PreAccount>, LoadError> {
    let f = Fields { file };
    let Value::Object(map) = json else {
        return Err(f.err("(root)", "expected an object of address → account"));
    };
    let mut state = BTreeMap::new();
    for (addr_str, raw) in map {
        let address = parse_hex_bytes(&addr_str)
            .ok()
            .and_then(|b| Address::try_from(b.as_slice()).ok())
            .ok_or_else(|| f.err(&addr_str, "key is not a 20-byte address"))?;
        let raw: RawAccount =
            serde_json::from_value(raw).map_err(|e| f.err(&addr_str, format!("malformed account: {e}")))?;
        let balance = number_value(&raw.basic.balance).map_err(|e| f.err(format!("{addr_str}.basic.balance"), e))?;
        let nonce = number_value(&raw.basic.nonce)
            .and_then(|n| u64::try_from(n).map_err(|_| "nonce does not fit in 64 bits".to_string()))
            .map_err(|e| f.err(format!("{addr_str}.basic.nonce"), e))?;
        let code = match raw.code {
            None => None,
            Some(c) => {
                let mut bytes =
                    parse_hex_bytes(&c.bytecode).map_err(|e| f.err(format!("{addr_str}.code.bytecode"), e))?;
                // The bytecode is stored analysed and zero-padded: the real code is its first
                // `original_len` bytes (the padding would be visible to CODESIZE/CODECOPY).
                if let Some(len) = c.original_len {
                    let len = number_value(&len)
                        .ok()
                        .and_then(|l| usize::try_from(l).ok())
                        .filter(|l| *l <= bytes.len())
                        .ok_or_else(|| {
                            f.err(format!("{addr_str}.code.original_len"), format!("invalid length {len}"))
                        })?;
                    bytes.truncate(len);
                }
                Some(bytes)
            }
        };
        let code_hash = match (&code, raw.code_hash) {
            (Some(code), expected) => {
                let actual = keccak256(code);
                if let Some(expected) = expected {
                    let expected = parse_hex_bytes(&expected)
                        .ok()
                        .and_then(|b| B256::try_from(b.as_slice()).ok())
                        .ok_or_else(|| f.err(format!("{addr_str}.code_hash"), "expected 32 bytes of hex"))?;
                    if expected != actual {
                        return Err(f.err(
                            format!("{addr_str}.code_hash"),
                            format!("keccak256(code) is {actual}, file says {expected}"),
                        ));
                    }
                }
                actual
            }
            (None, _) => revm::primitives::KECCAK_EMPTY,
        };
        let mut storage = BTreeMap::new();
        for (slot, value) in raw.storage {
            let k = parse_quantity(&slot).map_err(|e| f.err(format!("{addr_str}.storage"), e))?;
            let v = parse_quantity(&value).map_err(|e| f.err(format!("{addr_str}.storage[{slot}]"), e))?;
            storage.insert(k, v);
        }
        // (Checked: code starting 0xef01 must be a well-formed EIP-7702 delegation.)
        let code = match code.filter(|c| !c.is_empty()) {
            Some(c) => Some(
                Bytecode::new_raw_checked(Bytes::from(c))
                    .map_err(|e| f.err(format!("{addr_str}.code.bytecode"), e.to_string()))?,
            ),
            None => None,
        };
        state.insert(address, PreAccount { balance, nonce, code, code_hash, storage });
    }
    Ok(state)
}

fn parse_block_hashes(file: &Path, json: Value) -> Result<BTreeMap<u64, B256>, LoadError> {
    let f = Fields { file };
    let Value::Object(map) = json else {
        return Err(f.err("(root)", "expected an object of number → hash"));
    };
    map.into_iter()
        .map(|(number, hash)| {
            let n = parse_quantity(&number)
                .ok()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| f.err(&number, "key is not a block number"))?;
            let h = hash
                .as_str()
                .and_then(|s| parse_hex_bytes(s).ok())
                .and_then(|b| B256::try_from(b.as_slice()).ok())
                .ok_or_else(|| f.err(&number, "expected a 32-byte hash"))?;
            Ok((n, h))
        })
        .collect()
}

/// Block directories under `data`: every subdirectory holding a `block.json`, by block number.
pub fn discover_blocks(data: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let entries = std::fs::read_dir(data).map_err(|source| LoadError::Io { file: data.into(), source })?;
    let mut dirs: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("block.json").is_file())
        .map(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok()).unwrap_or(u64::MAX);
            (n, p)
        })
        .collect();
    dirs.sort();
    Ok(dirs.into_iter().map(|(_, p)| p).collect())
}
