//! `coevm bench`: host-vs-accelerator throughput of every operation at every batch size, the
//! crossover batch size from which each accelerator pays, and block execution.
//!
//! Results go to a JSON file and SVG plots (log-log throughput vs batch size); the crossovers
//! are cached per adapter, and `--backend auto` routes by them (see [`crate::backend`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coevm_kernels::cpu::CpuBackend;
use coevm_kernels::gpu::{GpuBackend, GpuOptions, enumerate_adapters};
use coevm_kernels::{AluBatch, AluOp, Backend, BackendError, MessageBatch, StorageEntry, StorageKey, U256};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use revm::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::backend::{Crossovers, ResilientBackend};
use crate::exec::{ParallelConfig, ParallelExecutor};
use crate::run::{RunOptions, run_block};

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Small sizes and short timings: finishes in well under a minute.
    pub quick: bool,
    /// Threads for "CPU, all threads" and the parallel executor.
    pub threads: usize,
    /// Block directories for the execution benchmark.
    pub blocks: Vec<PathBuf>,
}

/// How a throughput was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Upload + dispatch + readback (what a caller of the Backend trait sees).
    EndToEnd,
    /// Inputs already on the device: dispatch and wait only.
    Resident,
    /// Not a measurement of speed: one FPGA core's clock cycles per operation, counted in the
    /// cycle-accurate simulation, at an assumed clock ([`FPGA_PROJECTION_MHZ`]).
    Projected,
}

/// The clock for the fpga-sim projection: the Keccak team's core on Artix-7 (an anchor, see
/// docs/FPGA.md; our designs have no routed Fmax yet).
pub const FPGA_PROJECTION_MHZ: f64 = 200.0;

/// Throughput of one operation on one backend across batch sizes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Series {
    pub operation: String,
    pub backend: String,
    pub mode: Mode,
    /// (batch size, items per second)
    pub points: Vec<(usize, f64)>,
}

/// Where an accelerator starts to beat the best CPU configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Crossover {
    pub operation: String,
    pub backend: String,
    /// Smallest measured batch size from which the accelerator (end to end) is at least as fast
    /// as the best CPU at every larger size; `None`: it never is in the measured range.
    pub batch: Option<usize>,
}

/// One block, sequential vs parallel, and the whole run on the CPU vs `auto`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockBench {
    pub number: u64,
    pub txs: usize,
    pub gas: u64,
    pub sequential_us: f64,
    pub parallel_us: f64,
    pub speedup: f64,
    /// Load + execute + verify with every batch on the CPU backend.
    pub total_cpu_us: f64,
    /// The same with `--backend auto` routing.
    pub total_auto_us: f64,
}

/// Everything `coevm bench` measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    pub machine: String,
    pub quick: bool,
    pub series: Vec<Series>,
    pub crossovers: Vec<Crossover>,
    /// Per accelerator: the crossovers `auto` will use.
    pub routing: BTreeMap<String, Crossovers>,
    pub blocks: Vec<BlockBench>,
}

/// A measured backend and its cache key.
struct Candidate {
    name: String,
    backend: Arc<dyn Backend>,
    gpu: Option<Arc<GpuBackend>>,
    cache_key: Option<String>,
}

fn sizes(quick: bool) -> Vec<usize> {
    let (max, step) = if quick { (12, 2) } else { (20, 2) };
    (6..=max).step_by(step).map(|p| 1usize << p).collect()
}

/// Times `f` (one batch of `items`) until `min` has passed (at least twice); items per second.
fn throughput(items: usize, min: Duration, mut f: impl FnMut() -> Result<(), BackendError>) -> Option<f64> {
    f().ok()?; // warm-up (pipelines, buffers)
    let start = Instant::now();
    let mut reps = 0u32;
    while reps < 2 || start.elapsed() < min {
        f().ok()?;
        reps += 1;
    }
    Some(items as f64 * f64::from(reps) / start.elapsed().as_secs_f64())
}

fn random_messages(rng: &mut ChaCha8Rng, n: usize, len: usize) -> MessageBatch {
    let mut batch = MessageBatch::with_capacity(n, n * len);
    let mut buf = vec![0u8; len];
    for _ in 0..n {
        rng.fill(buf.as_mut_slice());
        batch.push(&buf);
    }
    batch
}

fn random_word(rng: &mut ChaCha8Rng) -> U256 {
    // Random bit lengths, so divisions and exponents are not all trivial.
    let bits = rng.random_range(1..=256);
    U256::from_limbs(rng.random::<[u64; 4]>()) >> (256 - bits)
}

fn random_alu(rng: &mut ChaCha8Rng, op: AluOp, n: usize) -> AluBatch {
    let mut batch = AluBatch::with_capacity(n);
    for _ in 0..n {
        batch.push(op, random_word(rng), random_word(rng), random_word(rng));
    }
    batch
}

fn table_entries(rng: &mut ChaCha8Rng, n: usize) -> Vec<StorageEntry> {
    (0..n)
        .map(|_| StorageEntry {
            key: StorageKey::new(Address::from(rng.random::<[u8; 20]>()), random_word(rng)),
            value: random_word(rng),
        })
        .collect()
}

fn candidates(threads: usize, log: &mut dyn FnMut(String)) -> Vec<Candidate> {
    let mut out =
        vec![Candidate { name: "cpu×1".into(), backend: Arc::new(CpuBackend::new(1)), gpu: None, cache_key: None }];
    if threads > 1 {
        out.push(Candidate {
            name: format!("cpu×{threads}"),
            backend: Arc::new(CpuBackend::new(threads)),
            gpu: None,
            cache_key: None,
        });
    }
    for adapter in enumerate_adapters() {
        if adapter.backend == wgpu::Backend::Gl {
            continue; // OpenGL compute through wgpu is a fallback of a fallback: not measured
        }
        let options = GpuOptions {
            adapter_name: Some(adapter.name.clone()),
            backends: adapter.backend.into(),
            ..GpuOptions::from_env()
        };
        match GpuBackend::with_options(&options) {
            Ok(gpu) => {
                let gpu = Arc::new(gpu);
                out.push(Candidate {
                    name: format!("gpu {} ({:?})", adapter.name, adapter.backend),
                    backend: gpu.clone(),
                    cache_key: Some(cache_key(gpu.adapter_info())),
                    gpu: Some(gpu),
                });
            }
            Err(e) => log(format!("skipping adapter {}: {e}", adapter.name)),
        }
    }
    out
}

/// The key under which an adapter's crossovers are cached.
pub fn cache_key(info: &wgpu::AdapterInfo) -> String {
    format!("{} | {:?} | {}", info.name, info.backend, info.driver_info)
}

/// `$XDG_CACHE_HOME/coevm/crossovers.json`, or `~/.cache/coevm/crossovers.json`.
pub fn crossover_cache_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("coevm").join("crossovers.json"))
}

/// Crossovers measured for this adapter by an earlier `coevm bench`, if any.
pub fn cached_crossovers(info: &wgpu::AdapterInfo) -> Option<Crossovers> {
    let text = std::fs::read_to_string(crossover_cache_path()?).ok()?;
    let map: BTreeMap<String, Crossovers> = serde_json::from_str(&text).ok()?;
    map.get(&cache_key(info)).copied()
}

fn store_crossovers(routing: &BTreeMap<String, Crossovers>) -> std::io::Result<Option<PathBuf>> {
    let Some(path) = crossover_cache_path() else { return Ok(None) };
    let mut map: BTreeMap<String, Crossovers> =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    map.extend(routing.iter().map(|(k, v)| (k.clone(), *v)));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&map)?)?;
    Ok(Some(path))
}

/// The smallest measured batch size from which `points` (the accelerator) is at least as fast
/// as `best_cpu` at that size and at every larger one; `None` if it loses at the largest size.
pub fn crossover_batch(points: &[(usize, f64)], best_cpu: impl Fn(usize) -> f64) -> Option<usize> {
    let last_loss = points.iter().rposition(|&(n, t)| t < best_cpu(n));
    match last_loss {
        None => points.first().map(|p| p.0),
        Some(i) => points.get(i + 1).map(|p| p.0),
    }
}

/// A batch runner: given the candidate's index and backend, runs one batch.
type Runner<'a> = Box<dyn Fn(usize, &dyn Backend) -> Result<(), BackendError> + 'a>;
/// A resident runner: dispatches a batch already on the device.
type Dispatcher<'a> = Box<dyn Fn() -> Result<(), BackendError> + 'a>;

/// Measures one operation on every candidate at every size up to `max_size`.
fn measure<'a>(
    operation: &str,
    sizes: &[usize],
    max_size: usize,
    min: Duration,
    candidates: &[Candidate],
    make: &mut dyn FnMut(usize) -> Runner<'a>,
    resident: &mut dyn FnMut(usize, &GpuBackend, usize) -> Option<Dispatcher<'a>>,
) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    let new =
        |c: &Candidate, mode| Series { operation: operation.into(), backend: c.name.clone(), mode, points: vec![] };
    for c in candidates {
        out.push(new(c, Mode::EndToEnd));
        if c.gpu.is_some() {
            out.push(new(c, Mode::Resident));
        }
    }
    for &n in sizes.iter().filter(|n| **n <= max_size) {
        let run = make(n);
        let mut s = 0;
        for (i, c) in candidates.iter().enumerate() {
            if let Some(t) = throughput(n, min, || run(i, c.backend.as_ref())) {
                out[s].points.push((n, t));
            }
            s += 1;
            if let Some(gpu) = &c.gpu {
                if let Some(dispatch) = resident(i, gpu, n)
                    && let Some(t) = throughput(n, min, &dispatch)
                {
                    out[s].points.push((n, t));
                }
                s += 1;
            }
        }
    }
    out
}

/// Runs every measurement. `log` receives progress lines.
pub fn run_bench(options: &BenchOptions, log: &mut dyn FnMut(String)) -> anyhow::Result<BenchReport> {
    let min = if options.quick { Duration::from_millis(15) } else { Duration::from_millis(200) };
    let sizes = sizes(options.quick);
    let candidates = candidates(options.threads, log);
    let mut rng = ChaCha8Rng::seed_from_u64(0xc0e7);
    let mut series = Vec::new();

    for len in [32usize, 64, 1024] {
        let cap = if len > 64 { 1 << 18 } else { usize::MAX };
        let mut messages = BTreeMap::new();
        let mut get = |n: usize, rng: &mut ChaCha8Rng| -> Arc<MessageBatch> {
            messages.entry(n).or_insert_with(|| Arc::new(random_messages(rng, n, len))).clone()
        };
        let mut rng_a = rng.clone();
        let mut rng_b = rng.clone();
        let operation = format!("keccak256 {len} B");
        series.extend(measure(
            &operation,
            &sizes,
            cap,
            min,
            &candidates,
            &mut |n| {
                let batch = get(n, &mut rng_a);
                Box::new(move |_, b: &dyn Backend| b.keccak256(&batch).map(drop))
            },
            &mut |_, gpu, n| {
                let prepared = gpu.prepare_keccak256(&random_messages(&mut rng_b, n, len)).ok()?;
                Some(Box::new(move || prepared.dispatch()))
            },
        ));
        log(format!("measured {operation}"));
    }
    for op in [AluOp::Add, AluOp::Mul, AluOp::Div, AluOp::MulMod, AluOp::Exp] {
        let mut rng_a = rng.clone();
        let mut rng_b = rng.clone();
        let operation = format!("ALU {}", op.name());
        series.extend(measure(
            &operation,
            &sizes,
            usize::MAX,
            min,
            &candidates,
            &mut |n| {
                let batch = random_alu(&mut rng_a, op, n);
                Box::new(move |_, b: &dyn Backend| b.alu(&batch).map(drop))
            },
            &mut |_, gpu, n| {
                let prepared = gpu.prepare_alu(&random_alu(&mut rng_b, op, n)).ok()?;
                Some(Box::new(move || prepared.dispatch()))
            },
        ));
        log(format!("measured {operation}"));
    }
    let table_size = if options.quick { 1 << 14 } else { 1 << 18 };
    let entries = table_entries(&mut rng, table_size);
    let tables: Vec<_> = candidates.iter().map(|c| c.backend.build_storage_table(&entries).ok()).collect();
    let gpu_tables: Vec<_> = candidates
        .iter()
        .map(|c| c.gpu.as_ref().and_then(|g| g.build_gpu_storage_table(&entries, None).ok()))
        .collect();
    for hits in [true, false] {
        let keys = |rng: &mut ChaCha8Rng, n: usize| -> Vec<StorageKey> {
            (0..n)
                .map(|i| {
                    if hits {
                        entries[(i * 7919) % entries.len()].key
                    } else {
                        StorageKey::new(Address::from(rng.random::<[u8; 20]>()), random_word(rng))
                    }
                })
                .collect()
        };
        let mut rng_a = rng.clone();
        let mut rng_b = rng.clone();
        let operation = format!("storage lookup ({})", if hits { "hits" } else { "misses" });
        let (tables, gpu_tables) = (&tables, &gpu_tables);
        series.extend(measure(
            &operation,
            &sizes,
            usize::MAX,
            min,
            &candidates,
            &mut |n| {
                let keys = keys(&mut rng_a, n);
                Box::new(move |i, _: &dyn Backend| match &tables[i] {
                    Some(table) => table.get(&keys).map(drop),
                    None => Err(BackendError::InvalidBatch { operation: "lookup", reason: "no table".into() }),
                })
            },
            &mut |i, _, n| {
                let prepared = gpu_tables[i].as_ref()?.prepare_lookup(&keys(&mut rng_b, n)).ok()?;
                Some(Box::new(move || prepared.dispatch()))
            },
        ));
        log(format!("measured {operation}"));
    }

    series.extend(fpga_projection(&series, log));

    // Crossovers: per accelerator and operation, against the best CPU configuration.
    let mut crossovers = Vec::new();
    let mut routing = BTreeMap::new();
    for c in candidates.iter().filter(|c| c.gpu.is_some()) {
        let mut route = Crossovers::HARDWARE_DEFAULT;
        let mut group_max: BTreeMap<&str, usize> = BTreeMap::new();
        for s in series.iter().filter(|s| s.backend == c.name && s.mode == Mode::EndToEnd) {
            let best_cpu = |n: usize| {
                series
                    .iter()
                    .filter(|o| o.operation == s.operation && o.backend.starts_with("cpu"))
                    .filter_map(|o| o.points.iter().find(|p| p.0 == n).map(|p| p.1))
                    .fold(0.0, f64::max)
            };
            let batch = crossover_batch(&s.points, best_cpu);
            crossovers.push(Crossover { operation: s.operation.clone(), backend: c.name.clone(), batch });
            let group = if s.operation.starts_with("keccak") {
                "keccak"
            } else if s.operation.starts_with("ALU") {
                "alu"
            } else {
                "lookup"
            };
            let at = batch.unwrap_or(usize::MAX);
            let entry = group_max.entry(group).or_insert(0);
            *entry = (*entry).max(at);
        }
        route.keccak_messages = group_max.get("keccak").copied().unwrap_or(usize::MAX);
        route.alu_items = group_max.get("alu").copied().unwrap_or(usize::MAX);
        route.lookups = group_max.get("lookup").copied().unwrap_or(usize::MAX);
        if let Some(key) = &c.cache_key {
            routing.insert(key.clone(), route);
        }
    }
    if options.quick && !routing.is_empty() {
        // Sizes stop at 2^12: a device whose crossover lies above would be routed "never".
        log("--quick: crossovers not cached (run without --quick to measure the sizes `auto` routes by)".into());
    } else if !routing.is_empty() {
        match store_crossovers(&routing) {
            Ok(Some(path)) => log(format!("crossovers cached in {} (used by --backend auto)", path.display())),
            Ok(None) => log("no cache directory (HOME unset): crossovers not cached".into()),
            Err(e) => log(format!("could not cache crossovers: {e}")),
        }
    }

    let blocks = bench_blocks(options, log)?;
    Ok(BenchReport { machine: machine_description(), quick: options.quick, series, crossovers, routing, blocks })
}

/// fpga-sim's projection: for each measured operation, one core's throughput = clock / cycles
/// per item, with the cycles counted by simulating a sample on the designs (`coevm-sim`). A
/// single core streams one item at a time, so it is flat in batch size.
fn fpga_projection(series: &[Series], log: &mut dyn FnMut(String)) -> Vec<Series> {
    use coevm_sim::FpgaSimBackend;
    let sim = FpgaSimBackend::new(1);
    let mut rng = ChaCha8Rng::seed_from_u64(0xf96a);
    let mut out = Vec::new();
    let mut operations: Vec<(String, Vec<usize>)> = Vec::new();
    for s in series {
        match operations.iter_mut().find(|(op, _)| *op == s.operation) {
            Some((_, sizes)) => sizes.extend(s.points.iter().map(|p| p.0)),
            None => operations.push((s.operation.clone(), s.points.iter().map(|p| p.0).collect())),
        }
    }
    for (operation, mut sizes) in operations {
        sizes.sort_unstable();
        sizes.dedup();
        const SAMPLE: usize = 8;
        let before = sim.stats();
        let (items, cycles) = if let Some(len) = operation.strip_prefix("keccak256 ").and_then(|l| l.strip_suffix(" B"))
        {
            let len: usize = len.parse().unwrap_or(32);
            if sim.keccak256(&random_messages(&mut rng, SAMPLE, len)).is_err() {
                continue;
            }
            let after = sim.stats();
            (after.keccak_messages - before.keccak_messages, after.keccak_cycles - before.keccak_cycles)
        } else if let Some(name) = operation.strip_prefix("ALU ") {
            let Some(op) = AluOp::ALL.into_iter().find(|o| o.name() == name) else { continue };
            // EXP with random 256-bit exponents takes ~0.3 s each to simulate: sample fewer.
            let n = if op == AluOp::Exp { 2 } else { SAMPLE };
            if sim.alu(&random_alu(&mut rng, op, n)).is_err() {
                continue;
            }
            let after = sim.stats();
            (after.alu_items - before.alu_items, after.alu_cycles - before.alu_cycles)
        } else {
            // Storage lookups: build a small table on the simulated unit and probe it.
            let entries = table_entries(&mut rng, 16);
            let Ok(table) = sim.build_storage_table(&entries) else { continue };
            let keys: Vec<StorageKey> = entries.iter().take(SAMPLE).map(|e| e.key).collect();
            let mid = sim.stats();
            if table.get(&keys).is_err() {
                continue;
            }
            let after = sim.stats();
            (after.storage_requests - mid.storage_requests, after.storage_cycles - mid.storage_cycles)
        };
        if items == 0 || cycles == 0 {
            continue;
        }
        let per_second = FPGA_PROJECTION_MHZ * 1e6 * items as f64 / cycles as f64;
        out.push(Series {
            operation: operation.clone(),
            backend: format!("fpga-sim @{FPGA_PROJECTION_MHZ:.0}MHz"),
            mode: Mode::Projected,
            points: sizes.iter().map(|&n| (n, per_second)).collect(),
        });
    }
    log(format!("projected fpga-sim from simulated cycle counts ({} operations)", out.len()));
    out
}

fn bench_blocks(options: &BenchOptions, log: &mut dyn FnMut(String)) -> anyhow::Result<Vec<BlockBench>> {
    let threads = options.threads;
    let executor = ParallelExecutor::new(ParallelConfig::with_threads(threads));
    let cpu = ResilientBackend::new(Arc::new(CpuBackend::new(threads)), threads);
    // `auto` as users get it: it reads the crossovers just cached by `run_bench`.
    let auto = match crate::backend::open_backend(crate::backend::BackendChoice::Auto, threads) {
        Ok(opened) => ResilientBackend::from_opened(&opened, threads),
        Err(_) => cpu.clone(),
    };
    let repeat = if options.quick { 2 } else { 5 };
    let mut out = Vec::new();
    for dir in &options.blocks {
        let block = crate::data::load_block(dir)?;
        let timed = |backend: &ResilientBackend| -> anyhow::Result<(crate::run::BlockReport, Duration)> {
            let start = Instant::now();
            let report = run_block(&block, backend, &executor, RunOptions { repeat })
                .map_err(|e| e.context(format!("timing {}", dir.display())))?;
            let total = start.elapsed();
            Ok((report, total))
        };
        let (report, total_cpu) = timed(&cpu)?;
        let (_, total_auto) = timed(&auto)?;
        out.push(BlockBench {
            number: report.number,
            txs: report.txs,
            gas: report.gas_used,
            sequential_us: report.sequential_time.as_secs_f64() * 1e6,
            parallel_us: report.parallel_time.as_secs_f64() * 1e6,
            speedup: report.speedup(),
            total_cpu_us: total_cpu.as_secs_f64() * 1e6,
            total_auto_us: total_auto.as_secs_f64() * 1e6,
        });
    }
    log(format!("measured {} blocks", out.len()));
    Ok(out)
}

fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// The operations measured, each once, in order of first appearance.
fn operations(report: &BenchReport) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in &report.series {
        if !out.contains(&s.operation.as_str()) {
            out.push(&s.operation);
        }
    }
    out
}

/// Formats items/s compactly (1.2 M, 340 k).
pub fn rate(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2} G", x / 1e9),
        x if x >= 1e6 => format!("{:.2} M", x / 1e6),
        x if x >= 1e3 => format!("{:.1} k", x / 1e3),
        x => format!("{x:.0}"),
    }
}

/// The table `coevm bench` prints: per operation and size, items/s per backend and the
/// accelerators' speedups over one CPU thread and over all threads.
pub fn table(report: &BenchReport) -> String {
    let mut out = String::new();
    let operations = operations(report);
    for op in operations {
        let rows: Vec<&Series> = report.series.iter().filter(|s| s.operation == op).collect();
        out.push_str(&format!("\n{op} (items/s)\n{:>9}", "batch"));
        for s in &rows {
            let label = match s.mode {
                Mode::EndToEnd => s.backend.clone(),
                Mode::Resident => format!("{} resident", s.backend),
                Mode::Projected => format!("{} projected", s.backend),
            };
            out.push_str(&format!(" {:>22}", truncate(&label, 22)));
        }
        out.push_str(&format!(" {:>14}\n", "best/cpu×1"));
        let sizes: std::collections::BTreeSet<usize> = rows.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
        for n in sizes {
            out.push_str(&format!("{n:>9}"));
            let at = |s: &Series| s.points.iter().find(|p| p.0 == n).map(|p| p.1);
            for s in &rows {
                out.push_str(&format!(" {:>22}", at(s).map_or("–".into(), rate)));
            }
            let cpu1 = rows.iter().find(|s| s.backend == "cpu×1").and_then(|s| at(s)).unwrap_or(f64::NAN);
            let best = rows.iter().filter(|s| s.mode == Mode::EndToEnd).filter_map(|s| at(s)).fold(0.0, f64::max);
            out.push_str(&format!(" {:>13.2}×\n", best / cpu1));
        }
    }
    if !report.crossovers.is_empty() {
        out.push_str("\ncrossover (end to end vs the best CPU):\n");
        for c in &report.crossovers {
            let at = c.batch.map_or("never in the measured range".to_string(), |b| format!("from {b} items"));
            out.push_str(&format!("  {:<28} {:<40} {at}\n", c.operation, truncate(&c.backend, 40)));
        }
    }
    if !report.blocks.is_empty() {
        out.push_str(&format!(
            "\nblocks: {:>9} {:>5} {:>9} {:>9} {:>8} {:>11} {:>11}\n",
            "number", "txs", "seq µs", "par µs", "speedup", "cpu total", "auto total"
        ));
        for b in &report.blocks {
            out.push_str(&format!(
                "        {:>9} {:>5} {:>9.0} {:>9.0} {:>7.2}× {:>9.0}µs {:>9.0}µs\n",
                b.number, b.txs, b.sequential_us, b.parallel_us, b.speedup, b.total_cpu_us, b.total_auto_us
            ));
        }
        let geomean = (report.blocks.iter().map(|b| b.speedup.ln()).sum::<f64>() / report.blocks.len() as f64).exp();
        out.push_str(&format!("        geomean speedup {geomean:.2}×\n"));
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

/// Writes `report.json` and one SVG plot per operation into `dir`; returns the files.
pub fn write_outputs(report: &BenchReport, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut files = vec![dir.join("report.json")];
    std::fs::write(&files[0], serde_json::to_string_pretty(report)?)?;
    let operations = operations(report);
    for op in operations {
        let series: Vec<&Series> = report.series.iter().filter(|s| s.operation == op).collect();
        let name: String =
            op.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let path = dir.join(format!("{}.svg", name.trim_matches('-').replace("--", "-")));
        std::fs::write(&path, svg_plot(op, &series, &report.machine))?;
        files.push(path);
    }
    Ok(files)
}

/// A log-log line plot of throughput vs batch size, one line per backend and mode.
pub fn svg_plot(title: &str, series: &[&Series], machine: &str) -> String {
    const W: f64 = 720.0;
    const H: f64 = 440.0;
    const L: f64 = 80.0;
    const R: f64 = 230.0;
    const T: f64 = 50.0;
    const B: f64 = 60.0;
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(n, t) in points {
        xmin = xmin.min((n as f64).log10());
        xmax = xmax.max((n as f64).log10());
        ymin = ymin.min(t.log10());
        ymax = ymax.max(t.log10());
    }
    if xmin > xmax {
        (xmin, xmax, ymin, ymax) = (0.0, 1.0, 0.0, 1.0);
    }
    let (ymin, ymax) = (ymin.floor(), ymax.ceil().max(ymin.floor() + 1.0));
    let (xmin, xmax) = (xmin.floor(), xmax.ceil().max(xmin.floor() + 1.0));
    let x = |v: f64| L + (v - xmin) / (xmax - xmin) * (W - L - R);
    let y = |v: f64| H - B - (v - ymin) / (ymax - ymin) * (H - T - B);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{L}" y="22" font-size="15" font-weight="bold">{}</text>
<text x="{L}" y="38" fill="#555">throughput vs batch size (log-log) · {}</text>
"##,
        escape(title),
        escape(machine)
    );
    for d in (xmin as i32)..=(xmax as i32) {
        let px = x(f64::from(d));
        svg.push_str(&format!(
            "<line x1=\"{px}\" y1=\"{T}\" x2=\"{px}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{px}\" y=\"{}\" text-anchor=\"middle\">10^{d}</text>\n",
            H - B,
            H - B + 16.0
        ));
    }
    for d in (ymin as i32)..=(ymax as i32) {
        let py = y(f64::from(d));
        svg.push_str(&format!(
            "<line x1=\"{L}\" y1=\"{py}\" x2=\"{}\" y2=\"{py}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">10^{d}</text>\n",
            W - R,
            L - 6.0,
            py + 4.0
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">batch size (items)</text>\n<text transform=\"translate(20 {}) rotate(-90)\" text-anchor=\"middle\">items per second</text>\n",
        (L + W - R) / 2.0,
        H - 18.0,
        (T + H - B) / 2.0
    ));
    const COLORS: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
    let mut backends: Vec<&str> = series.iter().map(|s| s.backend.as_str()).collect();
    backends.dedup();
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[backends.iter().position(|b| *b == s.backend).unwrap_or(0) % COLORS.len()];
        let dash = match s.mode {
            Mode::EndToEnd => "",
            Mode::Resident => " stroke-dasharray=\"6 4\"",
            Mode::Projected => " stroke-dasharray=\"2 3\"",
        };
        let path: Vec<String> =
            s.points.iter().map(|&(n, t)| format!("{:.1},{:.1}", x((n as f64).log10()), y(t.log10()))).collect();
        if !path.is_empty() {
            svg.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>\n",
                path.join(" ")
            ));
        }
        let ly = T + 14.0 + i as f64 * 18.0;
        let label = match s.mode {
            Mode::EndToEnd => truncate(&s.backend, 30),
            Mode::Resident => format!("{} (resident)", truncate(&s.backend, 19)),
            Mode::Projected => format!("{} (projected)", truncate(&s.backend, 18)),
        };
        svg.push_str(&format!(
            "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{}\" y=\"{}\">{}</text>\n",
            W - R + 10.0,
            W - R + 34.0,
            W - R + 40.0,
            ly + 4.0,
            escape(&label)
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossover_is_where_the_accelerator_wins_for_good() {
        let cpu = |_| 100.0;
        let gpu = [(64, 10.0), (256, 120.0), (1024, 90.0), (4096, 400.0), (16384, 900.0)];
        assert_eq!(crossover_batch(&gpu, cpu), Some(4096), "a win followed by a loss does not count");
        assert_eq!(crossover_batch(&gpu[3..], cpu), Some(4096));
        assert_eq!(crossover_batch(&gpu[..3], cpu), None, "loses at the largest size");
        assert_eq!(crossover_batch(&[], cpu), None);
    }

    #[test]
    fn plots_have_one_line_per_series_on_log_axes() {
        let a = Series {
            operation: "op".into(),
            backend: "cpu×1".into(),
            mode: Mode::EndToEnd,
            points: vec![(64, 1e6), (4096, 2e6)],
        };
        let b = Series {
            operation: "op".into(),
            backend: "gpu".into(),
            mode: Mode::Resident,
            points: vec![(64, 1e4), (4096, 1e8)],
        };
        let svg = svg_plot("op <x>", &[&a, &b], "test machine");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("stroke-dasharray"), "resident lines are dashed");
        assert!(svg.contains("op &lt;x&gt;"), "text is escaped");
        assert!(svg.contains("10^8") && svg.contains("10^4"), "decades labelled");
    }
}
