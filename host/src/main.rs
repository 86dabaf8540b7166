//! `coevm`: run real Ethereum blocks through the co-processor, inspect adapters, emit hardware.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use coevm_host::backend::{BackendChoice, ResilientBackend, open_backend};
use coevm_host::data::discover_blocks;
use coevm_host::exec::{ParallelConfig, ParallelExecutor};
use coevm_host::run::{BlockReport, RunOptions, run_block_dir};
use coevm_kernels::Backend;

/// `--threads`: 1 to 1,024 (more would fail to spawn, or exhaust memory, rather than help).
fn thread_count() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..=1024)
}

#[derive(Parser)]
#[command(name = "coevm", version, about = "GPUs and FPGAs as co-processors for the Ethereum Virtual Machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Execute real blocks in parallel, compare with sequential revm and verify the header.
    Run {
        /// Block directories (each with block.json and pre_state.json), or block numbers under --data.
        blocks: Vec<String>,
        /// Where the accelerated work runs.
        #[arg(long, value_enum, default_value = "auto", env = "COEVM_BACKEND")]
        backend: BackendChoice,
        /// Executor threads (default: all cores).
        #[arg(long, value_parser = thread_count())]
        threads: Option<usize>,
        /// A directory of block directories; with no BLOCKS, runs all of them.
        #[arg(long, env = "COEVM_DATA")]
        data: Option<PathBuf>,
        /// Executions per executor, more for a short block (until they add up to `repeat` × 4 ms,
        /// at most 200 × `repeat`); the fastest is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Print one JSON report per block instead of the table.
        #[arg(long)]
        json: bool,
        /// Take the parallel path even where the executor would choose sequential.
        #[arg(long)]
        force_parallel: bool,
        /// Under each block run in parallel, where the time went in its fastest parallel run:
        /// the committer's own, validated and re-executed transactions, waits, the helpers.
        #[arg(long)]
        timeline: bool,
        /// Run plain value transfers through revm like every other transaction, instead of
        /// the executor's native path (to measure what that path gives).
        #[arg(long)]
        revm_transfers: bool,
    },
    /// List GPU adapters and what `--backend auto` would choose.
    Info,
    /// The FPGA designs: emit their Verilog.
    Hdl {
        #[command(subcommand)]
        command: HdlCommand,
    },
    /// Execute a synthetic gigagas-style block sequentially and in parallel, and compare.
    Synthetic {
        /// Its shape.
        #[arg(value_enum)]
        workload: coevm_host::synthetic::Workload,
        /// Transactions in the block.
        #[arg(long, default_value_t = 10_000)]
        txs: usize,
        /// Executor threads (default: all cores).
        #[arg(long, value_parser = thread_count())]
        threads: Option<usize>,
        /// Executions per executor, more for a short block (until they add up to `repeat` × 4 ms,
        /// at most 200 × `repeat`); the fastest is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Where the time went in the fastest parallel run (see `coevm run --timeline`).
        #[arg(long)]
        timeline: bool,
        /// Run plain value transfers through revm like every other transaction, instead of
        /// the executor's native path (to measure what that path gives).
        #[arg(long)]
        revm_transfers: bool,
    },
    /// Measure every operation on every backend across batch sizes, find where each
    /// accelerator starts to pay (cached for `--backend auto`), and time block execution.
    Bench {
        /// Small sizes and short timings (under a minute).
        #[arg(long)]
        quick: bool,
        /// Threads for "CPU, all threads" and the parallel executor (default: all cores).
        #[arg(long, value_parser = thread_count())]
        threads: Option<usize>,
        /// Blocks to time (default: the blocks kept in the repository's data/mainnet).
        #[arg(long, env = "COEVM_DATA")]
        data: Option<PathBuf>,
        /// Where report.json and the SVG plots go.
        #[arg(long, default_value = "target/coevm-bench")]
        out: PathBuf,
        /// Print the report as JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Run Ethereum GeneralStateTests (JSON files or directories of them) and compare post-state
    /// roots and logs hashes; exits non-zero on any failure.
    Statetest {
        /// Test files or directories (searched recursively for *.json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Where the hashing runs.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendChoice,
        /// Worker threads: files, and the entries of a file, run in parallel (default: all cores).
        #[arg(long, value_parser = thread_count())]
        threads: Option<usize>,
        /// One JSON object per file, then the summary.
        #[arg(long)]
        json: bool,
        /// Print only failed and skipped files.
        #[arg(long)]
        quiet: bool,
        /// Also run the few files that take minutes (skipped by default, as revme does).
        #[arg(long)]
        include_slow: bool,
    },
}

// The executors allocate small maps per transaction on every thread: mimalloc's per-thread
// heaps keep that off the critical path (it speeds up the sequential oracle too).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Subcommand)]
enum HdlCommand {
    /// Write the Verilog of every top-level design (keccak256, ALU, storage lookup) into DIR.
    Emit {
        /// Output directory (created if missing).
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Run { blocks, backend, threads, data, repeat, json, force_parallel, timeline, revm_transfers } => {
            let modes = RunModes { json, force_parallel, timeline, revm_transfers };
            match cmd_run(blocks, backend, threads, data, repeat, modes) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Bench { quick, threads, data, out, json } => match cmd_bench(quick, threads, data, out, json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Synthetic { workload, txs, threads, repeat, timeline, revm_transfers } => {
            match cmd_synthetic(workload, txs, threads, repeat, timeline, revm_transfers) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Hdl { command: HdlCommand::Emit { dir } } => match coevm_sim::emit_verilog(&dir) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}: {e}", dir.display());
                ExitCode::from(2)
            }
        },
        Command::Info => {
            cmd_info();
            ExitCode::SUCCESS
        }
        Command::Statetest { paths, backend, threads, json, quiet, include_slow } => {
            match cmd_statetest(&paths, backend, threads, json, quiet, include_slow) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn resolve_blocks(blocks: Vec<String>, data: Option<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    if blocks.is_empty() {
        let data = data.context("give block directories, or --data DIR to run every block in DIR")?;
        let dirs = discover_blocks(&data)?;
        anyhow::ensure!(!dirs.is_empty(), "{}: no block directories (with block.json) found", data.display());
        return Ok(dirs);
    }
    blocks
        .into_iter()
        .map(|b| {
            let direct = PathBuf::from(&b);
            if direct.join("block.json").is_file() {
                return Ok(direct);
            }
            if let Some(data) = &data {
                let under = data.join(&b);
                if under.join("block.json").is_file() {
                    return Ok(under);
                }
            }
            anyhow::bail!(
                "{b}: not a block directory (no block.json){}",
                data.as_ref().map_or(String::new(), |d| format!(" and not a block under {}", d.display()))
            )
        })
        .collect()
}

/// `coevm run`'s switches.
struct RunModes {
    json: bool,
    force_parallel: bool,
    timeline: bool,
    revm_transfers: bool,
}

fn cmd_run(
    blocks: Vec<String>,
    choice: BackendChoice,
    threads: Option<usize>,
    data: Option<PathBuf>,
    repeat: usize,
    RunModes { json, force_parallel, timeline, revm_transfers }: RunModes,
) -> anyhow::Result<bool> {
    let dirs = resolve_blocks(blocks, data)?;
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let opened = open_backend(choice, threads)?;
    if let Some(note) = &opened.note {
        eprintln!("note: {note}");
    }
    let backend = ResilientBackend::from_opened(&opened, threads);
    let config = ParallelConfig {
        force_parallel,
        timeline,
        native_transfers: !revm_transfers,
        ..ParallelConfig::with_threads(threads)
    };
    let executor = ParallelExecutor::new(config);
    if !json {
        println!("backend: {} · executor threads: {threads}", backend.describe());
    }
    let progress = (!json && dirs.len() > 1).then(|| {
        let bar = indicatif::ProgressBar::new(dirs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} blocks {msg}").expect("valid template"),
        );
        bar
    });
    let mut reports = Vec::new();
    let mut all_ok = true;
    if !json {
        print_header(progress.as_ref());
    }
    for dir in &dirs {
        if let Some(bar) = &progress {
            bar.set_message(block_name(dir));
        }
        let report = run_block_dir(dir, &backend, &executor, RunOptions { repeat })
            .with_context(|| format!("block {}", dir.display()))?;
        all_ok &= report.passed();
        if json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_row(&report, progress.as_ref());
            if let Some(timeline) = &report.stats.timeline {
                emit(format!("{:>9} {}", "", timeline.summary()), progress.as_ref());
            }
        }
        if let Some(bar) = &progress {
            bar.inc(1);
        }
        reports.push(report);
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if !json {
        print_summary(&reports);
    }
    Ok(all_ok)
}

fn block_name(dir: &Path) -> String {
    dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn emit(line: String, bar: Option<&indicatif::ProgressBar>) {
    match bar {
        Some(bar) if !bar.is_hidden() => bar.println(line),
        _ => println!("{line}"),
    }
}

fn print_header(bar: Option<&indicatif::ProgressBar>) {
    emit(
        format!(
            "{:>9} {:<15} {:>5} {:>11} {:>9} {:>9} {:>7} {:>8} {:>6} {:>9} {:>8}  checks (gas bloom txs receipts)",
            "block", "fork", "txs", "gas", "seq µs", "par µs", "speedup", "Mgas/s", "reexec", "mode", "offload"
        ),
        bar,
    );
}

fn print_row(r: &BlockReport, bar: Option<&indicatif::ProgressBar>) {
    let checks: Vec<&str> = r.checks.named().iter().map(|(_, c)| c.symbol()).collect();
    let offloaded = r.offload.items();
    // A block not worth a helper runs on one thread: the committer alone (plain revm if empty).
    let mode = if r.stats.ran_sequentially { "1 thread" } else { "parallel" };
    emit(
        format!(
            "{:>9} {:<15} {:>5} {:>11} {:>9.0} {:>9.0} {:>6.2}× {:>8.0} {:>6} {:>9} {:>8}  {}{}",
            r.number,
            r.spec,
            r.txs,
            r.gas_used,
            r.sequential_time.as_secs_f64() * 1e6,
            r.parallel_time.as_secs_f64() * 1e6,
            r.speedup(),
            r.mgas_per_s(),
            r.stats.reexecutions,
            mode,
            offloaded,
            checks.join("    "),
            if r.matches_sequential { String::new() } else { "   ✗ differs from sequential".into() }
        ),
        bar,
    );
    for (name, check) in r.checks.named() {
        if let coevm_host::verify::Check::Mismatch { expected, computed, detail } = check {
            emit(
                format!(
                    "    ✗ {name}: header {expected}, computed {computed}{}",
                    detail.as_ref().map_or(String::new(), |d| format!(" ({d})"))
                ),
                bar,
            );
        }
    }
    if let Some(m) = &r.mismatch {
        emit(format!("    ✗ parallel differs from sequential: {m}"), bar);
    }
}

fn print_summary(reports: &[BlockReport]) {
    if reports.is_empty() {
        return;
    }
    let n = reports.len() as f64;
    let geomean = (reports.iter().map(|r| r.speedup().ln()).sum::<f64>() / n).exp();
    let worst = reports.iter().map(BlockReport::speedup).fold(f64::INFINITY, f64::min);
    let gas: u64 = reports.iter().map(|r| r.gas_used).sum();
    let seq: f64 = reports.iter().map(|r| r.sequential_time.as_secs_f64()).sum();
    let par: f64 = reports.iter().map(|r| r.parallel_time.as_secs_f64()).sum();
    let passed = reports.iter().filter(|r| r.passed()).count();
    let mut o = coevm_host::backend::OffloadCounts::default();
    reports.iter().for_each(|r| o.add(&r.offload));
    println!();
    println!("{} blocks · {passed} passed every check · {:.1} Mgas", reports.len(), gas as f64 / 1e6);
    println!(
        "sequential {:.2} ms ({:.0} Mgas/s) · parallel {:.2} ms ({:.0} Mgas/s) · speedup geomean {geomean:.2}× worst {worst:.2}×",
        seq * 1e3,
        gas as f64 / seq / 1e6,
        par * 1e3,
        gas as f64 / par / 1e6
    );
    println!(
        "batched work for {}: {} keccak256 in {} batches · {} ALU ops in {} batches · {} storage lookups in {} batches{}",
        reports[0].backend,
        o.keccak_messages,
        o.keccak_batches,
        o.alu_items,
        o.alu_batches,
        o.lookups,
        o.lookup_batches,
        [
            (o.kept_on_cpu, "kept on the CPU (below the crossover, or beyond the device's limits)"),
            (o.cpu_redos, "redone on the CPU after a device failure")
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!(" · {n} batches {what}"))
        .collect::<String>()
    );
}

fn cmd_bench(
    quick: bool,
    threads: Option<usize>,
    data: Option<PathBuf>,
    out: PathBuf,
    json: bool,
) -> anyhow::Result<()> {
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let data = data.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/mainnet"));
    let mut blocks = discover_blocks(&data)?;
    if quick {
        blocks.truncate(4);
    }
    let options = coevm_host::bench::BenchOptions { quick, threads, blocks };
    let report = coevm_host::bench::run_bench(&options, &mut |line| eprintln!("{line}"))?;
    let files = coevm_host::bench::write_outputs(&report, &out)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("machine: {}", report.machine);
        print!("{}", coevm_host::bench::table(&report));
        println!("\nwrote {} files to {} (report.json and one SVG plot per operation)", files.len(), out.display());
    }
    Ok(())
}

fn cmd_synthetic(
    workload: coevm_host::synthetic::Workload,
    txs: usize,
    threads: Option<usize>,
    repeat: usize,
    timeline: bool,
    revm_transfers: bool,
) -> anyhow::Result<bool> {
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let block = coevm_host::synthetic::build(workload, txs, 1);
    let executor = ParallelExecutor::new(ParallelConfig {
        force_parallel: true,
        timeline,
        native_transfers: !revm_transfers,
        ..ParallelConfig::with_threads(threads)
    });
    let backend = coevm_kernels::cpu::CpuBackend::new(threads);
    let [(seq, seq_time), (par, par_time)] = coevm_host::run::time_alternately(
        repeat,
        || coevm_host::exec::execute_sequential(&block.ctx, &block.txs, &block.pre),
        || executor.execute(&block.ctx, &block.txs, &block.pre, &backend, None),
    )?;
    let gas = seq.gas_used() as f64;
    println!("{} · {:.1} Mgas · {threads} threads", block.name, gas / 1e6);
    println!("sequential {:>9.2} ms {:>8.0} Mgas/s", seq_time.as_secs_f64() * 1e3, gas / seq_time.as_secs_f64() / 1e6);
    println!(
        "parallel   {:>9.2} ms {:>8.0} Mgas/s · speedup {:.2}× · {:?}",
        par_time.as_secs_f64() * 1e3,
        gas / par_time.as_secs_f64() / 1e6,
        seq_time.as_secs_f64() / par_time.as_secs_f64(),
        coevm_host::exec::ExecStats { timeline: None, ..par.stats.clone() }
    );
    if let Some(timeline) = &par.stats.timeline {
        println!("{}", timeline.summary());
    }
    match par.first_difference(&seq, &block.pre) {
        None => {
            println!("parallel result identical to sequential ✓");
            Ok(true)
        }
        Some(d) => {
            println!("✗ parallel differs from sequential: {d}");
            Ok(false)
        }
    }
}

fn cmd_info() {
    let adapters = coevm_kernels::gpu::enumerate_adapters();
    if adapters.is_empty() {
        println!("no GPU adapter found: `--backend auto` uses the CPU backend");
        println!(
            "(install a Vulkan driver, e.g. `apt-get install mesa-vulkan-drivers libvulkan1` for a software device)"
        );
        return;
    }
    for a in adapters {
        println!("{a}");
    }
}

fn cmd_statetest(
    paths: &[PathBuf],
    choice: BackendChoice,
    threads: Option<usize>,
    json: bool,
    quiet: bool,
    include_slow: bool,
) -> anyhow::Result<bool> {
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let opened = open_backend(choice, threads)?;
    if let Some(note) = &opened.note {
        eprintln!("note: {note}");
    }
    let backend = ResilientBackend::from_opened(&opened, threads);
    let options = coevm_host::statetest::CliOptions { threads, json, quiet, include_slow };
    coevm_host::statetest::run_cli(paths, &backend, options)
}
