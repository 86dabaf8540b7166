use thiserror::Error;

/// Why a backend could not deliver a batch.
#[derive(Debug, Error)]
pub enum BackendError {
    /// No GPU adapter matched the request (or none exists): the host falls back to the CPU.
    #[error("no GPU adapter available{0}")]
    NoAdapter(String),
    /// The adapter exists but refused to create a device with what we need.
    #[error("could not create a device on adapter {adapter}: {reason}")]
    DeviceCreation { adapter: String, reason: String },
    /// The device was lost, or a submission/readback failed: the batch must be redone elsewhere.
    #[error("device lost or failed during {operation}: {reason}")]
    DeviceLost { operation: &'static str, reason: String },
    /// The input cannot be processed by this backend at all (malformed, or a prepared batch
    /// that does not fit the one pass it must be).
    #[error("invalid batch for {operation}: {reason}")]
    InvalidBatch { operation: &'static str, reason: String },
    /// A valid batch beyond this device's limits (one item larger than a storage binding): the
    /// CPU computes it; the device stays fit for the next batch.
    #[error("{operation} beyond the device's limits: {reason}")]
    ExceedsDeviceLimits { operation: &'static str, reason: String },
    /// A storage table cannot hold the requested entries at its maximum load factor.
    #[error("storage table full: {entries} entries exceed capacity {capacity} at max load factor")]
    TableFull { entries: usize, capacity: usize },
}

impl BackendError {
    /// True when redoing the same batch on the CPU reference gives the right answer.
    pub fn is_recoverable_on_cpu(&self) -> bool {
        !matches!(self, BackendError::InvalidBatch { .. })
    }
}

/// What a caught panic said, where it said it in a string (a device or simulator panicking is
/// reported as a fault, with its message).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => Some((*s).to_string()),
        (_, Some(s)) => Some(s.clone()),
        _ => None,
    }
}
