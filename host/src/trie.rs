//! A Merkle-Patricia trie builder that hashes level by level in batches.
//!
//! Tries are built in memory from sorted `(key, value)` pairs, then hashed bottom-up by node
//! height: every node of height 0 (leaves) of *all* given tries goes to the backend in one
//! keccak256 batch, then height 1, and so on. A block's transaction and receipt tries take
//! a handful of batches in all instead of one hash call per node.

use alloy_rlp::{BufMut, Encodable, Header};
use coevm_kernels::{Backend, BackendError, MessageBatch};
use revm::primitives::B256;

/// keccak256(rlp("")): the root of an empty trie.
pub const EMPTY_ROOT: B256 = B256::new([
    0x56, 0xe8, 0x1f, 0x17, 0x1b, 0xcc, 0x55, 0xa6, 0xff, 0x83, 0x45, 0xe6, 0x92, 0xc0, 0xf8, 0x6e, 0x5b, 0x48, 0xe0,
    0x1b, 0x99, 0x6c, 0xad, 0xc0, 0x01, 0x62, 0x2f, 0xb5, 0xe3, 0x63, 0xb4, 0x21,
]);

/// Hashing work a root computation sent to the backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrieWork {
    /// keccak256 batches (one per node height).
    pub batches: usize,
    /// Nodes hashed.
    pub hashes: usize,
}

enum Node {
    Leaf { path: Vec<u8>, value: Vec<u8> },
    Extension { path: Vec<u8>, child: usize },
    Branch { children: Box<[Option<usize>; 16]>, value: Option<Vec<u8>> },
}

/// Nodes of all tries being built, children before parents.
#[derive(Default)]
struct Arena {
    nodes: Vec<Node>,
    height: Vec<usize>,
}

impl Arena {
    fn push(&mut self, node: Node, height: usize) -> usize {
        self.nodes.push(node);
        self.height.push(height);
        self.nodes.len() - 1
    }

    /// Builds the subtrie of `items` (sorted, unique nibble keys) below `depth` nibbles.
    fn build(&mut self, items: &[(Vec<u8>, Vec<u8>)], depth: usize) -> usize {
        if let [(key, value)] = items {
            return self.push(Node::Leaf { path: key[depth..].to_vec(), value: value.clone() }, 0);
        }
        let first = &items[0].0;
        let last = &items[items.len() - 1].0;
        // Sorted keys: the common prefix of all is that of the first and the last.
        let common = first[depth..].iter().zip(&last[depth..]).take_while(|(a, b)| a == b).count();
        if common > 0 {
            let child = self.build(items, depth + common);
            let height = self.height[child] + 1;
            return self.push(Node::Extension { path: first[depth..depth + common].to_vec(), child }, height);
        }
        let mut children = [None; 16];
        let mut value = None;
        let mut rest = items;
        if rest[0].0.len() == depth {
            value = Some(rest[0].1.clone());
            rest = &rest[1..];
        }
        let mut height = 0;
        while !rest.is_empty() {
            let nibble = rest[0].0[depth];
            let end = rest.iter().position(|(k, _)| k[depth] != nibble).unwrap_or(rest.len());
            let child = self.build(&rest[..end], depth + 1);
            height = height.max(self.height[child] + 1);
            children[nibble as usize] = Some(child);
            rest = &rest[end..];
        }
        self.push(Node::Branch { children: Box::new(children), value }, height)
    }
}

/// Compact (hex-prefix) encoding of a nibble path.
fn hex_prefix(path: &[u8], leaf: bool) -> Vec<u8> {
    let flag = if leaf { 2 } else { 0 };
    let mut out = Vec::with_capacity(path.len() / 2 + 1);
    let (first, rest) = if path.len() % 2 == 1 { ((flag + 1) << 4 | path[0], &path[1..]) } else { (flag << 4, path) };
    out.push(first);
    out.extend(rest.chunks(2).map(|p| p[0] << 4 | p[1]));
    out
}

/// Splits bytes into nibbles (trie keys).
pub fn nibbles(key: &[u8]) -> Vec<u8> {
    key.iter().flat_map(|b| [b >> 4, b & 0x0f]).collect()
}

/// How a parent refers to a child: its RLP inline if shorter than 32 bytes, else its hash.
enum Ref {
    Inline(Vec<u8>),
    Hash(B256),
}

impl Ref {
    fn encoded_len(&self) -> usize {
        match self {
            Ref::Inline(rlp) => rlp.len(),
            Ref::Hash(_) => 33,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Ref::Inline(rlp) => out.extend_from_slice(rlp),
            Ref::Hash(h) => h.as_slice().encode(out),
        }
    }
}

fn encode_node(node: &Node, refs: &[Option<Ref>]) -> Vec<u8> {
    let child = |i: usize| refs[i].as_ref().expect("children are referenced before parents");
    let mut payload = Vec::new();
    match node {
        Node::Leaf { path, value } => {
            hex_prefix(path, true).as_slice().encode(&mut payload);
            value.as_slice().encode(&mut payload);
        }
        Node::Extension { path, child: c } => {
            hex_prefix(path, false).as_slice().encode(&mut payload);
            child(*c).encode(&mut payload);
        }
        Node::Branch { children, value } => {
            payload.reserve(children.iter().flatten().map(|c| child(*c).encoded_len()).sum::<usize>() + 17);
            for c in children.iter() {
                match c {
                    Some(c) => child(*c).encode(&mut payload),
                    None => payload.put_u8(alloy_rlp::EMPTY_STRING_CODE),
                }
            }
            match value {
                Some(v) => v.as_slice().encode(&mut payload),
                None => payload.put_u8(alloy_rlp::EMPTY_STRING_CODE),
            }
        }
    }
    let mut out = Vec::with_capacity(payload.len() + 3);
    Header { list: true, payload_length: payload.len() }.encode(&mut out);
    out.extend_from_slice(&payload);
    out
}

/// Roots of several tries at once, each given as `(key bytes, value bytes)` pairs in any order
/// (keys unique). Hashing goes through `backend`, one batch per node height across all tries.
pub fn trie_roots(
    backend: &dyn Backend,
    tries: &[Vec<(Vec<u8>, Vec<u8>)>],
) -> Result<(Vec<B256>, TrieWork), BackendError> {
    let mut arena = Arena::default();
    let mut roots = Vec::with_capacity(tries.len());
    for trie in tries {
        let mut items: Vec<(Vec<u8>, Vec<u8>)> = trie.iter().map(|(k, v)| (nibbles(k), v.clone())).collect();
        items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        roots.push((!items.is_empty()).then(|| arena.build(&items, 0)));
    }
    let is_root: Vec<bool> = {
        let mut r = vec![false; arena.nodes.len()];
        roots.iter().flatten().for_each(|i| r[*i] = true);
        r
    };
    let max_height = arena.height.iter().copied().max().unwrap_or(0);
    let mut by_height: Vec<Vec<usize>> = vec![Vec::new(); max_height + 1];
    for (i, h) in arena.height.iter().enumerate() {
        by_height[*h].push(i);
    }
    let mut refs: Vec<Option<Ref>> = (0..arena.nodes.len()).map(|_| None).collect();
    let mut root_hashes = vec![EMPTY_ROOT; tries.len()];
    let mut work = TrieWork::default();
    let mut batch = MessageBatch::new();
    let mut hashed = Vec::new();
    for level in &by_height {
        batch.clear();
        hashed.clear();
        for &i in level {
            let rlp = encode_node(&arena.nodes[i], &refs);
            if rlp.len() >= 32 || is_root[i] {
                batch.push(&rlp);
                hashed.push(i);
            } else {
                refs[i] = Some(Ref::Inline(rlp));
            }
        }
        if batch.is_empty() {
            continue;
        }
        let hashes = backend.keccak256(&batch)?;
        if hashes.len() != hashed.len() {
            return Err(BackendError::DeviceLost {
                operation: "keccak256",
                reason: format!("{} digests for {} messages", hashes.len(), hashed.len()),
            });
        }
        work.batches += 1;
        work.hashes += hashes.len();
        for (&i, hash) in hashed.iter().zip(hashes) {
            refs[i] = Some(Ref::Hash(hash));
        }
    }
    for (t, root) in roots.iter().enumerate() {
        if let Some(i) = root {
            match &refs[*i] {
                Some(Ref::Hash(h)) => root_hashes[t] = *h,
                _ => unreachable!("roots are always hashed"),
            }
        }
    }
    Ok((root_hashes, work))
}

/// A trie keyed by `rlp(index)`, as transaction and receipt tries are.
pub fn indexed(values: impl IntoIterator<Item = Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let mut key = Vec::new();
            i.encode(&mut key);
            (key, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_prefix_matches_the_yellow_paper() {
        assert_eq!(hex_prefix(&[1, 2, 3, 4, 5], false), [0x11, 0x23, 0x45]);
        assert_eq!(hex_prefix(&[0, 1, 2, 3, 4, 5], false), [0x00, 0x01, 0x23, 0x45]);
        assert_eq!(hex_prefix(&[0, 0xf, 1, 0xc, 0xb, 8], true), [0x20, 0x0f, 0x1c, 0xb8]);
        assert_eq!(hex_prefix(&[0xf, 1, 0xc, 0xb, 8], true), [0x3f, 0x1c, 0xb8]);
    }
}
