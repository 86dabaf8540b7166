//! Writes the Verilog of every coevm top level into a directory.
//!
//! `cargo run --release -p coevm-hdl --example emit_verilog -- <dir>`

fn main() {
    let dir = std::env::args_os().nth(1).unwrap_or_else(|| "target/coevm-verilog".into());
    match coevm_hdl::emit_verilog(std::path::Path::new(&dir)) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
        }
        Err(e) => {
            eprintln!("emit_verilog: {e}");
            std::process::exit(1);
        }
    }
}
