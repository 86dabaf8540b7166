//! The wgpu compute backend: WGSL kernels for keccak256, the EVM ALU and storage lookups.
//!
//! One device, and one explicit bind-group layout and pipeline per kernel, created once by
//! [`GpuBackend::with_options`]; upload/readback buffers are kept and grown across calls.
//! Batches are split into *chunks* (one dispatch each) that respect the device's workgroup
//! count and storage-binding limits, and chunks into *passes* (one submission each) whose
//! buffers fit the maximum buffer size. ALU items are grouped by op, one dispatch per op;
//! ops with many items run on a pipeline specialised for the op (compiled on first use).
//!
//! Failure model: every operation runs behind a guard that turns a lost device, a failed
//! map, a wgpu validation error or a wgpu panic into [`BackendError::DeviceLost`], so the
//! caller can redo the batch on the CPU. Waits are bounded by [`GpuOptions::timeout`].

pub mod shaders;
mod storage;

use std::any::Any;
use std::marker::PhantomData;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::alu::{AluBatch, AluOp};
use crate::{B256, Backend, BackendError, BackendKind, MessageBatch, StorageEntry, StorageTable, U256};
pub use shaders::Kernel;
pub use storage::{GpuStorageTable, MAX_LOAD_FACTOR, storage_key_hash, storage_key_words};

/// Whether kernels use 64-bit integers (`wgpu::Features::SHADER_INT64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Int64Mode {
    /// Use 64-bit integers when the adapter supports them.
    #[default]
    Auto,
    /// Require 64-bit integers; device creation fails without them.
    Enabled,
    /// Use the 32-bit-limb path even when 64-bit integers are available.
    Disabled,
}

impl Int64Mode {
    /// Parses `auto`, `on`/`enabled`/`1`, `off`/`disabled`/`0` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Int64Mode::Auto),
            "on" | "enabled" | "enable" | "1" | "true" => Some(Int64Mode::Enabled),
            "off" | "disabled" | "disable" | "0" | "false" => Some(Int64Mode::Disabled),
            _ => None,
        }
    }
}

/// How [`GpuBackend`] picks its adapter and runs its kernels.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// Backends to consider (`WGPU_BACKEND`, e.g. `vulkan,gl`).
    pub backends: wgpu::Backends,
    /// Case-insensitive substring of the adapter name (`WGPU_ADAPTER_NAME`); when set, the
    /// first enumerated adapter whose name contains it is used, and none matching is
    /// [`BackendError::NoAdapter`].
    pub adapter_name: Option<String>,
    /// Power preference for automatic selection (`WGPU_POWER_PREF`: `low`, `high`, `none`).
    pub power_preference: wgpu::PowerPreference,
    /// 64-bit integer path (`COEVM_GPU_INT64`: `auto`, `on`, `off`).
    pub int64: Int64Mode,
    /// Upper bound on the items of one dispatch (besides the device limits); mostly to
    /// exercise chunking on small batches.
    pub max_items_per_dispatch: Option<u32>,
    /// ALU ops with at least this many items in a batch run on a pipeline specialised for
    /// the op (compiled on first use, then kept): far faster per item, but each specialisation
    /// costs a compilation (~0.4 s on lavapipe). Smaller groups use the generic pipeline.
    pub alu_specialize_min_items: usize,
    /// Upper bound on the bytes one submission uploads per buffer (besides the device's
    /// maximum buffer size). Bigger batches are processed in several passes.
    pub max_pass_bytes: u64,
    /// Longest wait for one submission before the device is considered lost.
    pub timeout: Duration,
}

impl Default for GpuOptions {
    /// All backends, high-performance preference, int64 auto; no environment variables read.
    fn default() -> Self {
        Self {
            backends: wgpu::Backends::all(),
            adapter_name: None,
            power_preference: wgpu::PowerPreference::HighPerformance,
            int64: Int64Mode::Auto,
            max_items_per_dispatch: None,
            alu_specialize_min_items: 1 << 14,
            max_pass_bytes: 256 << 20,
            timeout: Duration::from_secs(120),
        }
    }
}

impl GpuOptions {
    /// Defaults overridden by `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, `WGPU_POWER_PREF` (as in
    /// wgpu's own tools) and `COEVM_GPU_INT64`.
    pub fn from_env() -> Self {
        let mut o = Self::default();
        if let Some(b) = wgpu::Backends::from_env() {
            o.backends = b;
        }
        if let Ok(name) = std::env::var("WGPU_ADAPTER_NAME")
            && !name.is_empty()
        {
            o.adapter_name = Some(name);
        }
        if let Some(p) = wgpu::PowerPreference::from_env() {
            o.power_preference = p;
        }
        if let Some(m) = std::env::var("COEVM_GPU_INT64").ok().as_deref().and_then(Int64Mode::parse) {
            o.int64 = m;
        }
        o
    }

    pub fn with_int64(mut self, mode: Int64Mode) -> Self {
        self.int64 = mode;
        self
    }

    pub fn with_max_items_per_dispatch(mut self, items: u32) -> Self {
        self.max_items_per_dispatch = Some(items);
        self
    }

    pub fn with_alu_specialize_min_items(mut self, items: usize) -> Self {
        self.alu_specialize_min_items = items;
        self
    }

    pub fn with_max_pass_bytes(mut self, bytes: u64) -> Self {
        self.max_pass_bytes = bytes;
        self
    }
}

/// One adapter as `coevm info` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterReport {
    pub name: String,
    pub backend: wgpu::Backend,
    pub device_type: wgpu::DeviceType,
    pub driver: String,
    pub has_int64: bool,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroups_per_dimension: u32,
    /// Whether [`GpuBackend::with_options`] would pick this adapter.
    pub auto_selected: bool,
}

impl std::fmt::Display for AdapterReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{} ({:?}, {:?}{}) int64: {}, max storage binding: {} B, max buffer: {} B, max workgroups/dim: {}",
            if self.auto_selected { "* " } else { "  " },
            self.name,
            self.backend,
            self.device_type,
            if self.driver.is_empty() { String::new() } else { format!(", {}", self.driver) },
            if self.has_int64 { "yes" } else { "no" },
            self.max_storage_buffer_binding_size,
            self.max_buffer_size,
            self.max_compute_workgroups_per_dimension,
        )
    }
}

fn new_instance(options: &GpuOptions) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = options.backends;
    wgpu::Instance::new(desc)
}

fn same_adapter(a: &wgpu::AdapterInfo, b: &wgpu::AdapterInfo) -> bool {
    a.name == b.name
        && a.backend == b.backend
        && a.vendor == b.vendor
        && a.device == b.device
        && a.device_type == b.device_type
        && a.driver == b.driver
}

fn select_adapter(instance: &wgpu::Instance, options: &GpuOptions) -> Result<wgpu::Adapter, BackendError> {
    if let Some(wanted) = &options.adapter_name {
        let wanted_lc = wanted.to_lowercase();
        let adapters = pollster::block_on(instance.enumerate_adapters(options.backends));
        return adapters
            .into_iter()
            .find(|a| a.get_info().name.to_lowercase().contains(&wanted_lc))
            .ok_or_else(|| BackendError::NoAdapter(format!(" with a name containing {wanted:?}")));
    }
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: options.power_preference,
        force_fallback_adapter: false,
        compatible_surface: None,
        ..Default::default()
    }))
    .map_err(|e| BackendError::NoAdapter(format!(": {e}")))
}

/// Every adapter wgpu sees under the environment's options ([`GpuOptions::from_env`]).
pub fn enumerate_adapters() -> Vec<AdapterReport> {
    enumerate_adapters_with(&GpuOptions::from_env())
}

/// Every adapter wgpu sees for `options.backends`, marking the one `options` selects.
pub fn enumerate_adapters_with(options: &GpuOptions) -> Vec<AdapterReport> {
    let instance = new_instance(options);
    let chosen = select_adapter(&instance, options).ok().map(|a| a.get_info());
    pollster::block_on(instance.enumerate_adapters(options.backends))
        .into_iter()
        .map(|adapter| {
            let info = adapter.get_info();
            let limits = adapter.limits();
            AdapterReport {
                auto_selected: chosen.as_ref().is_some_and(|c| same_adapter(c, &info)),
                name: info.name,
                backend: info.backend,
                device_type: info.device_type,
                driver: [info.driver, info.driver_info]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
                has_int64: adapter.features().contains(wgpu::Features::SHADER_INT64),
                max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
                max_buffer_size: limits.max_buffer_size,
                max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            }
        })
        .collect()
}

/// Device, pipelines and failure state shared by the backend and its storage tables.
pub(crate) struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    int64: bool,
    limits: wgpu::Limits,
    /// Per kernel, its bind-group layout and pipelines by variant ([`Kernel::variants`]);
    /// variant 0 is created with the device, the others on first use.
    kernels: Vec<KernelPipelines>,
    alu_specialize_min_items: usize,
    /// Set (with the reason) by the device-lost callback.
    lost: Arc<Mutex<Option<String>>>,
    /// wgpu errors not caught by an error scope (validation, out of memory, ...).
    errors: Arc<Mutex<Vec<String>>>,
    /// Serialises operations, so errors and waits belong to the operation that holds it.
    op_lock: Mutex<()>,
    max_items_per_dispatch: usize,
    max_pass_bytes: u64,
    timeout: Duration,
}

/// One kernel's layout, module and pipelines (by variant, created on first use).
struct KernelPipelines {
    kernel: Kernel,
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    module: wgpu::ShaderModule,
    variants: Mutex<Vec<Option<wgpu::ComputePipeline>>>,
}

impl KernelPipelines {
    fn get(&self, device: &wgpu::Device, variant: u32) -> wgpu::ComputePipeline {
        let mut variants = lock(&self.variants);
        variants[variant as usize]
            .get_or_insert_with(|| {
                let constants = self.kernel.override_constants(variant);
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(self.kernel.name()),
                    layout: Some(&self.pipeline_layout),
                    module: &self.module,
                    entry_point: Some(self.kernel.entry_point()),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &constants,
                        ..Default::default()
                    },
                    cache: None,
                })
            })
            .clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    crate::error::panic_message(payload).unwrap_or_else(|| "wgpu panicked".to_string())
}

fn align_up(x: u64, align: u64) -> u64 {
    x.div_ceil(align) * align
}

/// Byte size of a binding holding `bytes` bytes: a non-zero multiple of 4.
fn binding_size(bytes: u64) -> u64 {
    align_up(bytes.max(4), 4)
}

impl GpuContext {
    fn new(options: &GpuOptions) -> Result<Self, BackendError> {
        let instance = new_instance(options);
        let adapter = select_adapter(&instance, options)?;
        let info = adapter.get_info();
        let has_int64 = adapter.features().contains(wgpu::Features::SHADER_INT64);
        let int64 = match options.int64 {
            Int64Mode::Auto => has_int64,
            Int64Mode::Disabled => false,
            Int64Mode::Enabled if has_int64 => true,
            Int64Mode::Enabled => {
                return Err(BackendError::DeviceCreation {
                    adapter: info.name,
                    reason: "Int64Mode::Enabled but the adapter lacks SHADER_INT64".into(),
                });
            }
        };
        let limits = adapter.limits();
        let required_features = if int64 { wgpu::Features::SHADER_INT64 } else { wgpu::Features::empty() };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("coevm"),
            required_features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| BackendError::DeviceCreation { adapter: info.name.clone(), reason: e.to_string() })?;

        let lost = Arc::new(Mutex::new(None));
        let lost_cb = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            *lock(&lost_cb) = Some(format!("{reason:?}: {message}"));
        });
        let errors = Arc::new(Mutex::new(Vec::new()));
        let errors_cb = Arc::clone(&errors);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            tracing::warn!("wgpu error: {e}");
            lock(&errors_cb).push(e.to_string());
        }));

        let storage_entry = |binding: u32, read_only: bool| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let kernels = Kernel::ALL
            .iter()
            .map(|&kernel| {
                // Every binding is a read-only input except the last, the output.
                let n = kernel.bindings();
                let entries: Vec<_> = (0..n).map(|b| storage_entry(b, b + 1 < n)).collect();
                let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(kernel.name()),
                    entries: &entries,
                });
                let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(kernel.name()),
                    bind_group_layouts: &[Some(&layout)],
                    immediate_size: 0,
                });
                let source = kernel.source(int64);
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.name()),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
                let k = KernelPipelines {
                    kernel,
                    layout,
                    pipeline_layout,
                    module,
                    variants: Mutex::new(vec![None; kernel.variants() as usize]),
                };
                k.get(&device, 0);
                k
            })
            .collect();
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(BackendError::DeviceCreation {
                adapter: info.name,
                reason: format!("pipeline creation failed: {e}"),
            });
        }

        let wg_items =
            (limits.max_compute_workgroups_per_dimension as usize).saturating_mul(Kernel::WORKGROUP_SIZE as usize);
        let max_items_per_dispatch =
            options.max_items_per_dispatch.map_or(wg_items, |m| (m as usize).min(wg_items)).max(1);
        tracing::info!(
            "GPU backend on {} ({:?}, {:?}), {} path",
            info.name,
            info.backend,
            info.device_type,
            if int64 { "int64" } else { "u32" }
        );
        Ok(Self {
            device,
            queue,
            info,
            int64,
            max_pass_bytes: options.max_pass_bytes.min(limits.max_buffer_size).max(1 << 16),
            limits,
            kernels,
            alu_specialize_min_items: options.alu_specialize_min_items,
            lost,
            errors,
            op_lock: Mutex::new(()),
            max_items_per_dispatch,
            timeout: options.timeout,
        })
    }

    fn kernel(&self, kernel: Kernel) -> &KernelPipelines {
        self.kernels.iter().find(|k| k.kernel == kernel).expect("every kernel is set up")
    }

    fn layout(&self, kernel: Kernel) -> &wgpu::BindGroupLayout {
        &self.kernel(kernel).layout
    }

    /// The pipeline of each chunk of `pass` (compiling specialisations not made yet).
    fn pipelines(&self, kernel: Kernel, pass: &Pass) -> Vec<wgpu::ComputePipeline> {
        let k = self.kernel(kernel);
        pass.chunks.iter().map(|c| k.get(&self.device, c.variant)).collect()
    }

    fn offset_align(&self) -> u64 {
        u64::from(self.limits.min_storage_buffer_offset_alignment).max(4)
    }

    fn max_binding(&self) -> u64 {
        // Keep bindings a multiple of 4 and addressable with u32 word indices in WGSL.
        (self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size) & !3)
            .min(u64::from(u32::MAX) & !3)
    }

    fn lost_reason(&self) -> Option<String> {
        lock(&self.lost).clone()
    }

    /// Runs one GPU operation: serialised, with panics, wgpu errors and device loss turned
    /// into [`BackendError::DeviceLost`].
    fn guarded<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce() -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let _serial = lock(&self.op_lock);
        if let Some(reason) = self.lost_reason() {
            return Err(BackendError::DeviceLost { operation, reason });
        }
        lock(&self.errors).clear();
        let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
            Err(BackendError::DeviceLost { operation, reason: panic_message(payload.as_ref()) })
        });
        let errors = std::mem::take(&mut *lock(&self.errors));
        match result {
            Err(BackendError::DeviceLost { operation, reason }) => {
                let reason = self.lost_reason().map_or(reason.clone(), |l| format!("{reason} ({l})"));
                Err(BackendError::DeviceLost { operation, reason })
            }
            Err(e) => Err(e),
            Ok(_) if !errors.is_empty() => Err(BackendError::DeviceLost { operation, reason: errors.join("; ") }),
            Ok(v) => Ok(v),
        }
    }

    fn wait(&self, operation: &'static str, index: wgpu::SubmissionIndex) -> Result<(), BackendError> {
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: Some(self.timeout) })
            .map(|_| ())
            .map_err(|e| BackendError::DeviceLost { operation, reason: format!("wait failed: {e}") })
    }

    fn create_buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: binding_size(size),
            usage,
            mapped_at_creation: false,
        })
    }

    /// Maps `buffer[..size]` for reading and copies it out.
    fn read_buffer(
        &self,
        operation: &'static str,
        buffer: &wgpu::Buffer,
        size: u64,
        after: wgpu::SubmissionIndex,
    ) -> Result<Vec<u8>, BackendError> {
        let slice = buffer.slice(..size);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait(operation, after)?;
        match rx.try_recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(BackendError::DeviceLost { operation, reason: format!("map failed: {e}") });
            }
            Err(_) => {
                // The wait ended without the map completing (device lost or timed out).
                return Err(BackendError::DeviceLost { operation, reason: "buffer map did not complete".into() });
            }
        }
        let bytes = {
            let view = slice.get_mapped_range().map_err(|e| BackendError::DeviceLost {
                operation,
                reason: format!("mapped range unavailable: {e}"),
            })?;
            view.to_vec()
        };
        buffer.unmap();
        Ok(bytes)
    }
}

/// Reusable device buffers of one kernel: inputs 0 and 1, output, readback.
struct BufferSet {
    in0: Option<wgpu::Buffer>,
    in1: wgpu::Buffer,
    out: wgpu::Buffer,
    readback: wgpu::Buffer,
}

const INPUT_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_DST);
const OUTPUT_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC);
const READBACK_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::MAP_READ.union(wgpu::BufferUsages::COPY_DST);

impl BufferSet {
    /// Buffers of exactly the sizes needed (`sizes[0] == 0`: input 0 is external).
    fn new(ctx: &GpuContext, label: &str, sizes: [u64; 3]) -> Self {
        Self {
            in0: (sizes[0] > 0).then(|| ctx.create_buffer(label, sizes[0], INPUT_USAGE)),
            in1: ctx.create_buffer(label, sizes[1], INPUT_USAGE),
            out: ctx.create_buffer(label, sizes[2], OUTPUT_USAGE),
            readback: ctx.create_buffer(label, sizes[2], READBACK_USAGE),
        }
    }

    /// Grows (never shrinks) the buffers to hold `sizes`, rounding up to powers of two so a
    /// sequence of growing batches reallocates rarely.
    fn ensure(slot: &mut Option<BufferSet>, ctx: &GpuContext, label: &str, sizes: [u64; 3]) {
        let grow = |need: u64| need.next_power_of_two().min(ctx.limits.max_buffer_size).max(need);
        let set = slot.get_or_insert_with(|| {
            BufferSet::new(ctx, label, [grow(sizes[0]) * u64::from(sizes[0] > 0), grow(sizes[1]), grow(sizes[2])])
        });
        if sizes[0] > 0 && set.in0.as_ref().is_none_or(|b| b.size() < sizes[0]) {
            set.in0 = Some(ctx.create_buffer(label, grow(sizes[0]), INPUT_USAGE));
        }
        if set.in1.size() < sizes[1] {
            set.in1 = ctx.create_buffer(label, grow(sizes[1]), INPUT_USAGE);
        }
        if set.out.size() < sizes[2] {
            set.out = ctx.create_buffer(label, grow(sizes[2]), OUTPUT_USAGE);
            set.readback = ctx.create_buffer(label, grow(sizes[2]), READBACK_USAGE);
        }
    }
}

/// One dispatch: a range of items and where its segments lie in the three buffers.
#[derive(Clone, Debug)]
struct Chunk {
    items: Range<usize>,
    offsets: [u64; 3],
    sizes: [u64; 3],
    /// Which pipeline of the kernel runs it ([`Kernel::variants`]).
    variant: u32,
}

/// One submission: consecutive chunks and the buffer sizes they need.
#[derive(Clone, Debug)]
struct Pass {
    items: Range<usize>,
    chunks: Vec<Chunk>,
    sizes: [u64; 3],
}

/// A kernel's results, decoded from its output words.
pub trait GpuOutput: Sized + Send + Copy + Default {
    /// Bytes per item in the output buffer.
    const BYTES: u64;
    fn decode(bytes: &[u8]) -> Self;
}

fn u256_from_le_words(bytes: &[u8]) -> U256 {
    U256::from_le_slice(&bytes[..32])
}

impl GpuOutput for B256 {
    const BYTES: u64 = 32;
    fn decode(bytes: &[u8]) -> Self {
        B256::from_slice(&bytes[..32])
    }
}

impl GpuOutput for U256 {
    const BYTES: u64 = 32;
    fn decode(bytes: &[u8]) -> Self {
        u256_from_le_words(bytes)
    }
}

impl GpuOutput for Option<U256> {
    const BYTES: u64 = 36;
    fn decode(bytes: &[u8]) -> Self {
        let hit = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        (hit == 1).then(|| u256_from_le_words(&bytes[4..36]))
    }
}

/// A batch as one kernel sees it.
trait Job {
    type Output: GpuOutput;
    const KERNEL: Kernel;
    const OPERATION: &'static str;
    fn len(&self) -> usize;
    /// Exclusive end of the chunk starting at `start`: at most `max_items` items, every input
    /// segment at most `max_binding` bytes.
    fn chunk_end(&self, start: usize, max_items: usize, max_binding: u64) -> Result<usize, BackendError>;
    /// Bytes of the input segments for `items` (0 for input 0: the job has none).
    fn input_sizes(&self, items: Range<usize>) -> [u64; 2];
    /// Writes the input segments for `items`.
    fn write(&self, items: Range<usize>, in0: &mut [u8], in1: &mut [u8]);
    /// The pipeline variant for the chunk starting at `start` (chunks never mix variants).
    fn variant(&self, _start: usize) -> u32 {
        0
    }
}

/// Largest chunk of fixed-size items starting at `start`.
fn fixed_chunk_end(
    start: usize,
    len: usize,
    max_items: usize,
    max_binding: u64,
    item_bytes: &[u64],
) -> Result<usize, BackendError> {
    let by_binding = item_bytes.iter().map(|&b| (max_binding / b) as usize).min().unwrap_or(usize::MAX);
    let n = max_items.min(by_binding).min(len - start);
    if n == 0 {
        return Err(BackendError::ExceedsDeviceLimits {
            operation: "chunking",
            reason: format!("one item exceeds the {max_binding}-byte binding limit"),
        });
    }
    Ok(start + n)
}

fn plan<J: Job>(job: &J, ctx: &GpuContext) -> Result<Vec<Pass>, BackendError> {
    let align = ctx.offset_align();
    let max_binding = ctx.max_binding().min(ctx.max_pass_bytes);
    let mut passes = Vec::new();
    let mut current = Pass { items: 0..0, chunks: Vec::new(), sizes: [0; 3] };
    let mut start = 0;
    while start < job.len() {
        let end = job.chunk_end(start, ctx.max_items_per_dispatch, max_binding)?;
        let [s0, s1] = job.input_sizes(start..end);
        let out = (end - start) as u64 * J::Output::BYTES;
        let sizes = [if s0 == 0 { 0 } else { binding_size(s0) }, binding_size(s1), binding_size(out)];
        let fits =
            |p: &Pass| (0..3).all(|k| sizes[k] == 0 || align_up(p.sizes[k], align) + sizes[k] <= ctx.max_pass_bytes);
        if !current.chunks.is_empty() && !fits(&current) {
            passes
                .push(std::mem::replace(&mut current, Pass { items: start..start, chunks: Vec::new(), sizes: [0; 3] }));
        }
        let mut offsets = [0; 3];
        for k in 0..3 {
            if sizes[k] > 0 {
                offsets[k] = align_up(current.sizes[k], align);
                current.sizes[k] = offsets[k] + sizes[k];
            }
        }
        current.chunks.push(Chunk { items: start..end, offsets, sizes, variant: job.variant(start) });
        current.items.end = end;
        start = end;
    }
    if !current.chunks.is_empty() {
        passes.push(current);
    }
    Ok(passes)
}

/// Input bytes of a pass, laid out as its chunks say.
fn encode_pass<J: Job>(job: &J, pass: &Pass) -> [Vec<u8>; 2] {
    let mut in0 = vec![0u8; pass.sizes[0] as usize];
    let mut in1 = vec![0u8; pass.sizes[1] as usize];
    for c in &pass.chunks {
        let s0 = &mut in0[c.offsets[0] as usize..(c.offsets[0] + c.sizes[0]) as usize];
        let s1 = &mut in1[c.offsets[1] as usize..(c.offsets[1] + c.sizes[1]) as usize];
        job.write(c.items.clone(), s0, s1);
    }
    [in0, in1]
}

/// One bind group per chunk: the external buffers (whole), then the chunk's input 0 (when the
/// job has one), input 1 and output segments.
fn bind_groups(
    ctx: &GpuContext,
    kernel: Kernel,
    pass: &Pass,
    externals: &[&wgpu::Buffer],
    set: &BufferSet,
) -> Vec<wgpu::BindGroup> {
    fn binding(buffer: &wgpu::Buffer, offset: u64, size: u64) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer,
            offset,
            size: if size == 0 { None } else { wgpu::BufferSize::new(size) },
        })
    }
    let layout = ctx.layout(kernel);
    pass.chunks
        .iter()
        .map(|c| {
            let mut resources: Vec<wgpu::BindingResource<'_>> = externals.iter().map(|b| binding(b, 0, 0)).collect();
            if c.sizes[0] > 0 {
                let in0 = set.in0.as_ref().expect("a job with input 0 has its buffer");
                resources.push(binding(in0, c.offsets[0], c.sizes[0]));
            }
            resources.push(binding(&set.in1, c.offsets[1], c.sizes[1]));
            resources.push(binding(&set.out, c.offsets[2], c.sizes[2]));
            let entries: Vec<wgpu::BindGroupEntry<'_>> = resources
                .into_iter()
                .enumerate()
                .map(|(i, resource)| wgpu::BindGroupEntry { binding: i as u32, resource })
                .collect();
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout, entries: &entries })
        })
        .collect()
}

fn encode_dispatches(
    kernel: Kernel,
    pass: &Pass,
    pipelines: &[wgpu::ComputePipeline],
    groups: &[wgpu::BindGroup],
    encoder: &mut wgpu::CommandEncoder,
) {
    let mut cpass =
        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(kernel.name()), timestamp_writes: None });
    let mut current = None;
    for ((c, group), pipeline) in pass.chunks.iter().zip(groups).zip(pipelines) {
        if current != Some(c.variant) {
            cpass.set_pipeline(pipeline);
            current = Some(c.variant);
        }
        cpass.set_bind_group(0, group, &[]);
        let workgroups = (c.items.len() as u32).div_ceil(Kernel::WORKGROUP_SIZE);
        cpass.dispatch_workgroups(workgroups, 1, 1);
    }
}

fn decode_pass<T: GpuOutput>(pass: &Pass, bytes: &[u8], out: &mut Vec<T>) {
    for c in &pass.chunks {
        let base = c.offsets[2] as usize;
        let step = T::BYTES as usize;
        for k in 0..c.items.len() {
            out.push(T::decode(&bytes[base + k * step..base + (k + 1) * step]));
        }
    }
}

/// Runs a whole job through reusable buffers (pass by pass). `externals` are bound whole,
/// before the job's own buffers (a storage table).
fn run_job<J: Job>(
    ctx: &GpuContext,
    job: &J,
    buffers: &Mutex<Option<BufferSet>>,
    externals: &[&wgpu::Buffer],
) -> Result<Vec<J::Output>, BackendError> {
    let passes = plan(job, ctx)?;
    let mut results = Vec::with_capacity(job.len());
    let mut slot = lock(buffers);
    for pass in &passes {
        BufferSet::ensure(&mut slot, ctx, J::KERNEL.name(), pass.sizes);
        let set = slot.as_ref().expect("ensured");
        let [in0_bytes, in1_bytes] = encode_pass(job, pass);
        if let Some(in0) = set.in0.as_ref().filter(|_| pass.sizes[0] > 0) {
            ctx.queue.write_buffer(in0, 0, &in0_bytes);
        }
        ctx.queue.write_buffer(&set.in1, 0, &in1_bytes);
        let groups = bind_groups(ctx, J::KERNEL, pass, externals, set);
        let pipelines = ctx.pipelines(J::KERNEL, pass);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encode_dispatches(J::KERNEL, pass, &pipelines, &groups, &mut encoder);
        encoder.copy_buffer_to_buffer(&set.out, 0, &set.readback, 0, pass.sizes[2]);
        let index = ctx.queue.submit([encoder.finish()]);
        let bytes = match ctx.read_buffer(J::OPERATION, &set.readback, pass.sizes[2], index) {
            Ok(bytes) => bytes,
            Err(e) => {
                // The readback may still be mapped or pending: start afresh next time.
                *slot = None;
                return Err(e);
            }
        };
        decode_pass(pass, &bytes, &mut results);
    }
    Ok(results)
}

/// A batch uploaded to the device, ready to be dispatched any number of times: the
/// device-resident half of a kernel call, for measuring (or overlapping) compute alone.
///
/// Made by [`GpuBackend::prepare_keccak256`], [`GpuBackend::prepare_alu`] or
/// [`GpuStorageTable::prepare_lookup`]; run with [`PreparedBatch::dispatch`] (dispatch +
/// wait) and read with [`PreparedBatch::read`]. Owns its buffers; limited to batches that
/// fit one pass ([`GpuOptions::max_pass_bytes`]).
pub struct PreparedBatch<T: GpuOutput> {
    ctx: Arc<GpuContext>,
    kernel: Kernel,
    operation: &'static str,
    pass: Pass,
    groups: Vec<wgpu::BindGroup>,
    pipelines: Vec<wgpu::ComputePipeline>,
    buffers: BufferSet,
    // Keeps external inputs (a storage table) alive while the batch is.
    _externals: Vec<Arc<wgpu::Buffer>>,
    /// Device position -> batch index, when the device order differs from the batch's.
    order: Option<Vec<u32>>,
    _output: PhantomData<fn() -> T>,
}

impl<T: GpuOutput> PreparedBatch<T> {
    fn new<J: Job<Output = T>>(
        ctx: &Arc<GpuContext>,
        job: &J,
        externals: Vec<Arc<wgpu::Buffer>>,
    ) -> Result<Self, BackendError> {
        let passes = plan(job, ctx)?;
        let pass = match passes.len() {
            0 => Pass { items: 0..0, chunks: Vec::new(), sizes: [0; 3] },
            1 => passes.into_iter().next().expect("one pass"),
            n => {
                return Err(BackendError::InvalidBatch {
                    operation: J::OPERATION,
                    reason: format!("a prepared batch must fit one pass; this one needs {n}"),
                });
            }
        };
        let buffers = BufferSet::new(ctx, J::KERNEL.name(), pass.sizes);
        let [in0_bytes, in1_bytes] = encode_pass(job, &pass);
        if let Some(in0) = &buffers.in0 {
            ctx.queue.write_buffer(in0, 0, &in0_bytes);
        }
        ctx.queue.write_buffer(&buffers.in1, 0, &in1_bytes);
        let external_refs: Vec<&wgpu::Buffer> = externals.iter().map(|b| b.as_ref()).collect();
        let groups = bind_groups(ctx, J::KERNEL, &pass, &external_refs, &buffers);
        // Compile any specialisation now, so dispatch() times compute only.
        let pipelines = ctx.pipelines(J::KERNEL, &pass);
        // Make the upload complete now, so dispatch() times compute only.
        let index = ctx.queue.submit([]);
        ctx.wait(J::OPERATION, index)?;
        Ok(Self {
            ctx: Arc::clone(ctx),
            kernel: J::KERNEL,
            operation: J::OPERATION,
            pass,
            groups,
            pipelines,
            buffers,
            _externals: externals,
            order: None,
            _output: PhantomData,
        })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.pass.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of dispatches one [`dispatch`](Self::dispatch) records.
    pub fn dispatches(&self) -> usize {
        self.pass.chunks.len()
    }

    /// Runs the kernel over the resident inputs and waits for it to finish.
    pub fn dispatch(&self) -> Result<(), BackendError> {
        if self.is_empty() {
            return Ok(());
        }
        self.ctx.guarded(self.operation, || {
            let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
            encode_dispatches(self.kernel, &self.pass, &self.pipelines, &self.groups, &mut encoder);
            let index = self.ctx.queue.submit([encoder.finish()]);
            self.ctx.wait(self.operation, index)
        })
    }

    /// Copies the results of the last [`dispatch`](Self::dispatch) back to the host.
    pub fn read(&self) -> Result<Vec<T>, BackendError> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        self.ctx.guarded(self.operation, || {
            let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
            let size = self.pass.sizes[2];
            encoder.copy_buffer_to_buffer(&self.buffers.out, 0, &self.buffers.readback, 0, size);
            let index = self.ctx.queue.submit([encoder.finish()]);
            let bytes = self.ctx.read_buffer(self.operation, &self.buffers.readback, size, index)?;
            let mut out = Vec::with_capacity(self.len());
            decode_pass(&self.pass, &bytes, &mut out);
            Ok(unpermute(self.order.as_deref(), out))
        })
    }
}

struct KeccakJob<'a>(&'a MessageBatch);

impl Job for KeccakJob<'_> {
    type Output = B256;
    const KERNEL: Kernel = Kernel::Keccak256;
    const OPERATION: &'static str = "keccak256";

    fn len(&self) -> usize {
        self.0.len()
    }

    fn chunk_end(&self, start: usize, max_items: usize, max_binding: u64) -> Result<usize, BackendError> {
        let ends = self.0.ends();
        let base = self.0.start(start) as u64;
        let limit = (start + max_items).min(ends.len());
        // n + 1 offsets of 4 bytes in one binding, and n digests of 32 in another.
        let max_items_by_offsets = (max_binding / 4) as usize - 1;
        let max_items_by_digests = (max_binding / 32) as usize;
        let limit = limit.min(start + max_items_by_offsets.min(max_items_by_digests));
        // The largest end with all messages' bytes within one binding.
        let mut end = start;
        let (mut lo, mut hi) = (start + 1, limit);
        if u64::from(ends[start]) - base > max_binding {
            return Err(BackendError::ExceedsDeviceLimits {
                operation: Self::OPERATION,
                reason: format!(
                    "message {start} has {} bytes, more than the {max_binding}-byte binding limit",
                    u64::from(ends[start]) - base
                ),
            });
        }
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            if u64::from(ends[mid - 1]) - base <= max_binding {
                end = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        Ok(end)
    }

    fn input_sizes(&self, items: Range<usize>) -> [u64; 2] {
        let bytes = self.0.ends()[items.end - 1] as usize - self.0.start(items.start);
        [binding_size(bytes as u64), (items.len() as u64 + 1) * 4]
    }

    fn write(&self, items: Range<usize>, in0: &mut [u8], in1: &mut [u8]) {
        let base = self.0.start(items.start);
        let end = self.0.ends()[items.end - 1] as usize;
        in0[..end - base].copy_from_slice(&self.0.bytes()[base..end]);
        let mut offsets = in1.chunks_exact_mut(4);
        offsets.next().expect("n + 1 offsets").copy_from_slice(&0u32.to_le_bytes());
        for (dst, &e) in offsets.zip(&self.0.ends()[items]) {
            dst.copy_from_slice(&(e - base as u32).to_le_bytes());
        }
    }
}

/// An ALU batch as the device sees it: items grouped by op (see [`op_order`]), one chunk per
/// op, so invocations never diverge by op; ops with many items run on the pipeline
/// specialised for them (`ALU_OP` override), where the compiler keeps one code path of 26.
struct AluJob<'a> {
    batch: &'a AluBatch,
    /// Device position -> batch index; `None` when the batch is already grouped.
    order: Option<Vec<u32>>,
    /// Items per op in the batch.
    counts: [usize; AluOp::ALL.len()],
    /// Ops with at least this many items run on their specialised pipeline.
    specialize_min_items: usize,
}

impl<'a> AluJob<'a> {
    fn new(batch: &'a AluBatch, specialize_min_items: usize) -> Self {
        let mut counts = [0; AluOp::ALL.len()];
        for &op in batch.ops() {
            counts[op as usize] += 1;
        }
        Self { batch, order: op_order(batch.ops()), counts, specialize_min_items }
    }

    fn index(&self, position: usize) -> usize {
        self.order.as_ref().map_or(position, |o| o[position] as usize)
    }

    /// The op at device position `position`.
    fn op_at(&self, position: usize) -> AluOp {
        self.batch.ops()[self.index(position)]
    }
}

/// A stable counting sort of the items by op: `order[k]` is the batch index of the item at
/// device position `k`. `None` when the ops are already in non-decreasing order.
fn op_order(ops: &[AluOp]) -> Option<Vec<u32>> {
    if ops.is_sorted() {
        return None;
    }
    let mut next = [0usize; AluOp::ALL.len()];
    for &op in ops {
        next[op as usize] += 1;
    }
    let mut start = 0;
    for slot in &mut next {
        let count = *slot;
        *slot = start;
        start += count;
    }
    let mut order = vec![0u32; ops.len()];
    for (i, &op) in ops.iter().enumerate() {
        order[next[op as usize]] = i as u32;
        next[op as usize] += 1;
    }
    Some(order)
}

/// Puts results computed in device order back in batch order.
fn unpermute<T: Copy + Default>(order: Option<&[u32]>, results: Vec<T>) -> Vec<T> {
    match order {
        None => results,
        Some(order) => {
            let mut out = vec![T::default(); results.len()];
            for (&i, r) in order.iter().zip(results) {
                out[i as usize] = r;
            }
            out
        }
    }
}

fn write_u256(dst: &mut [u8], v: &U256) {
    dst[..32].copy_from_slice(&v.to_le_bytes::<32>());
}

impl Job for AluJob<'_> {
    type Output = U256;
    const KERNEL: Kernel = Kernel::Alu;
    const OPERATION: &'static str = "alu";

    fn len(&self) -> usize {
        self.batch.len()
    }

    fn chunk_end(&self, start: usize, max_items: usize, max_binding: u64) -> Result<usize, BackendError> {
        let end = fixed_chunk_end(start, self.len(), max_items, max_binding, &[4, 96, 32])?;
        // One op per chunk, so it runs on that op's specialised pipeline.
        let op = self.op_at(start);
        Ok((start + 1..end).find(|&p| self.op_at(p) != op).unwrap_or(end))
    }

    fn variant(&self, start: usize) -> u32 {
        let op = self.op_at(start);
        if self.counts[op as usize] >= self.specialize_min_items { 1 + op as u32 } else { 0 }
    }

    fn input_sizes(&self, items: Range<usize>) -> [u64; 2] {
        [items.len() as u64 * 4, items.len() as u64 * 96]
    }

    fn write(&self, items: Range<usize>, in0: &mut [u8], in1: &mut [u8]) {
        let ops = self.batch.ops();
        let operands = self.batch.operands();
        for ((d0, d1), position) in in0.chunks_exact_mut(4).zip(in1.chunks_exact_mut(96)).zip(items) {
            let i = self.index(position);
            d0.copy_from_slice(&(ops[i] as u32).to_le_bytes());
            for (k, v) in operands[i].iter().enumerate() {
                write_u256(&mut d1[k * 32..], v);
            }
        }
    }
}

/// The wgpu compute backend. Cheap to share (`&self` everywhere, internally serialised).
pub struct GpuBackend {
    ctx: Arc<GpuContext>,
    keccak_buffers: Mutex<Option<BufferSet>>,
    alu_buffers: Mutex<Option<BufferSet>>,
}

impl GpuBackend {
    /// A backend on the adapter the environment selects ([`GpuOptions::from_env`]).
    pub fn new() -> Result<Self, BackendError> {
        Self::with_options(&GpuOptions::from_env())
    }

    /// A backend on the adapter `options` selects: creates the device and every pipeline
    /// (~0.25 s on lavapipe; create once and share).
    pub fn with_options(options: &GpuOptions) -> Result<Self, BackendError> {
        let ctx = catch_unwind(AssertUnwindSafe(|| GpuContext::new(options))).unwrap_or_else(|payload| {
            Err(BackendError::DeviceCreation { adapter: "?".into(), reason: panic_message(payload.as_ref()) })
        })?;
        Ok(Self { ctx: Arc::new(ctx), keccak_buffers: Mutex::new(None), alu_buffers: Mutex::new(None) })
    }

    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.ctx.info
    }

    /// Whether the kernels use the 64-bit-integer path.
    pub fn uses_int64(&self) -> bool {
        self.ctx.int64
    }

    /// The device's limits (the adapter's, all requested).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.ctx.limits
    }

    /// Most items one dispatch processes (device limits and [`GpuOptions`]).
    pub fn max_items_per_dispatch(&self) -> usize {
        self.ctx.max_items_per_dispatch
    }

    /// Destroys the device (wgpu's `Device::destroy`), as a driver reset would: every later
    /// call fails with [`BackendError::DeviceLost`]. For fallback tests.
    pub fn destroy_device(&self) {
        let _serial = lock(&self.ctx.op_lock);
        self.ctx.device.destroy();
    }

    /// Whether the device is lost: polls the device once (without blocking), so a pending
    /// device-lost callback runs, then reports whether it has fired.
    pub fn is_lost(&self) -> bool {
        if self.ctx.lost_reason().is_none() {
            let _serial = lock(&self.ctx.op_lock);
            let _ = catch_unwind(AssertUnwindSafe(|| self.ctx.device.poll(wgpu::PollType::Poll)));
        }
        self.ctx.lost_reason().is_some()
    }

    /// Uploads a keccak256 batch for repeated device-resident dispatches.
    pub fn prepare_keccak256(&self, batch: &MessageBatch) -> Result<PreparedBatch<B256>, BackendError> {
        self.ctx.guarded("keccak256", || PreparedBatch::new(&self.ctx, &KeccakJob(batch), Vec::new()))
    }

    /// Uploads an ALU batch for repeated device-resident dispatches.
    pub fn prepare_alu(&self, batch: &AluBatch) -> Result<PreparedBatch<U256>, BackendError> {
        let job = AluJob::new(batch, self.ctx.alu_specialize_min_items);
        let mut prepared = self.ctx.guarded("alu", || PreparedBatch::new(&self.ctx, &job, Vec::new()))?;
        prepared.order = job.order;
        Ok(prepared)
    }

    /// Runs a prepared batch's kernel and waits (same as [`PreparedBatch::dispatch`]).
    pub fn dispatch_prepared<T: GpuOutput>(&self, batch: &PreparedBatch<T>) -> Result<(), BackendError> {
        batch.dispatch()
    }

    /// Reads a prepared batch's results (same as [`PreparedBatch::read`]).
    pub fn read_prepared<T: GpuOutput>(&self, batch: &PreparedBatch<T>) -> Result<Vec<T>, BackendError> {
        batch.read()
    }

    /// Builds a GPU storage table; `max_slots` caps its growth (besides the device limits).
    pub fn build_gpu_storage_table(
        &self,
        entries: &[StorageEntry],
        max_slots: Option<usize>,
    ) -> Result<GpuStorageTable, BackendError> {
        GpuStorageTable::build(Arc::clone(&self.ctx), entries, max_slots)
    }
}

impl std::fmt::Debug for GpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBackend")
            .field("adapter", &self.ctx.info.name)
            .field("backend", &self.ctx.info.backend)
            .field("int64", &self.ctx.int64)
            .finish_non_exhaustive()
    }
}

impl<T: GpuOutput> std::fmt::Debug for PreparedBatch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedBatch")
            .field("kernel", &self.kernel)
            .field("items", &self.len())
            .field("dispatches", &self.dispatches())
            .finish_non_exhaustive()
    }
}

impl Backend for GpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Gpu
    }

    fn describe(&self) -> String {
        let i = &self.ctx.info;
        format!(
            "gpu: {} ({:?}, {:?}), {} path",
            i.name,
            i.backend,
            i.device_type,
            if self.ctx.int64 { "int64" } else { "u32" }
        )
    }

    fn keccak256(&self, batch: &MessageBatch) -> Result<Vec<B256>, BackendError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.ctx.guarded("keccak256", || run_job(&self.ctx, &KeccakJob(batch), &self.keccak_buffers, &[]))
    }

    fn alu(&self, batch: &AluBatch) -> Result<Vec<U256>, BackendError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let job = AluJob::new(batch, self.ctx.alu_specialize_min_items);
        let results = self.ctx.guarded("alu", || run_job(&self.ctx, &job, &self.alu_buffers, &[]))?;
        Ok(unpermute(job.order.as_deref(), results))
    }

    fn build_storage_table(&self, entries: &[StorageEntry]) -> Result<Box<dyn StorageTable>, BackendError> {
        Ok(Box::new(self.build_gpu_storage_table(entries, None)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_order_groups_stably_and_unpermutes() {
        let ops = [AluOp::Mul, AluOp::Add, AluOp::Clz, AluOp::Add, AluOp::Mul];
        let order = op_order(&ops).expect("not grouped");
        assert_eq!(order, vec![1, 3, 0, 4, 2]);
        let device: Vec<AluOp> = order.iter().map(|&i| ops[i as usize]).collect();
        assert!(device.is_sorted());
        let results: Vec<u32> = order.iter().map(|&i| i * 10).collect();
        assert_eq!(unpermute(Some(&order), results), vec![0, 10, 20, 30, 40]);
        assert_eq!(op_order(&[AluOp::Add, AluOp::Add, AluOp::Sub]), None);
        assert_eq!(unpermute(None, vec![1, 2]), vec![1, 2]);
    }

    #[test]
    fn a_keccak_chunk_fits_its_digests_offsets_and_bytes_in_one_binding_each() {
        let mut tiny = MessageBatch::new();
        for i in 0..20_000u32 {
            tiny.push(&i.to_le_bytes()[..(i % 3) as usize]);
        }
        let binding = 64 << 10;
        // 32-byte digests bound it: 2,048 of them fill 64 KiB (offsets would allow 16,383).
        assert_eq!(KeccakJob(&tiny).chunk_end(0, usize::MAX, binding).unwrap(), 2_048);
        let mut long = MessageBatch::new();
        for _ in 0..100 {
            long.push(&[7u8; 1_000]);
        }
        // Here the messages' bytes bound it: 65 of 1,000 bytes.
        assert_eq!(KeccakJob(&long).chunk_end(0, usize::MAX, binding).unwrap(), 65);
        let mut huge = MessageBatch::new();
        huge.push(&vec![1u8; 70_000]);
        assert!(matches!(
            KeccakJob(&huge).chunk_end(0, usize::MAX, binding),
            Err(BackendError::ExceedsDeviceLimits { .. })
        ));
    }

    #[test]
    fn planning_helpers() {
        assert_eq!(binding_size(0), 4);
        assert_eq!(binding_size(5), 8);
        assert_eq!(align_up(257, 256), 512);
        assert_eq!(fixed_chunk_end(10, 100, 50, 96 * 20, &[4, 96]).unwrap(), 30);
        assert_eq!(fixed_chunk_end(90, 100, 50, 1 << 20, &[4, 96]).unwrap(), 100);
        assert!(fixed_chunk_end(0, 1, 50, 64, &[96]).is_err());
    }
}
