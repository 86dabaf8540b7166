//! Prints the measured cycles per operation of every simulated design as a Markdown table.
//!
//! `cargo run --release -p coevm-sim --example cycles`

fn main() {
    match coevm_sim::measure_cycles() {
        Ok(figures) => print!("{}", coevm_sim::cycles_table(&figures)),
        Err(e) => {
            eprintln!("simulation failed: {e}");
            std::process::exit(1);
        }
    }
}
