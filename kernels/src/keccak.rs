//! Batches of variable-length messages for keccak256, packed into one byte buffer.

/// Many messages packed back to back: message `i` is `bytes[start(i)..ends[i]]`.
/// One allocation for the whole batch, ready to upload as is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageBatch {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl MessageBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(messages: usize, total_bytes: usize) -> Self {
        Self { bytes: Vec::with_capacity(total_bytes), ends: Vec::with_capacity(messages) }
    }

    /// Appends one message and returns its index.
    ///
    /// # Panics
    /// If the batch would exceed 4 GiB of message bytes (offsets are `u32`, as on the GPU).
    pub fn push(&mut self, message: &[u8]) -> usize {
        self.bytes.extend_from_slice(message);
        let end = u32::try_from(self.bytes.len()).expect("MessageBatch holds at most 4 GiB");
        self.ends.push(end);
        self.ends.len() - 1
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Byte offset where message `i` starts.
    pub fn start(&self, i: usize) -> usize {
        if i == 0 { 0 } else { self.ends[i - 1] as usize }
    }

    /// Message `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        &self.bytes[self.start(i)..self.ends[i] as usize]
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// All message bytes, back to back.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// End offsets (exclusive), one per message.
    pub fn ends(&self) -> &[u32] {
        &self.ends
    }

    pub fn total_bytes(&self) -> usize {
        self.bytes.len()
    }
}

impl<M: AsRef<[u8]>> FromIterator<M> for MessageBatch {
    fn from_iter<I: IntoIterator<Item = M>>(iter: I) -> Self {
        let mut batch = MessageBatch::new();
        for m in iter {
            batch.push(m.as_ref());
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks() {
        let batch: MessageBatch = [&b""[..], b"abc", b"", b"hello"].into_iter().collect();
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.get(0), b"");
        assert_eq!(batch.get(1), b"abc");
        assert_eq!(batch.get(2), b"");
        assert_eq!(batch.get(3), b"hello");
        assert_eq!(batch.total_bytes(), 8);
        assert_eq!(batch.iter().map(<[u8]>::len).collect::<Vec<_>>(), [0, 3, 0, 5]);
    }
}
