//! Scans files with the upload scanner and prints one line per file:
//! `path<TAB>CLEAN`, `path<TAB>CODE<TAB>detail` or `path<TAB>ERROR<TAB>…`.
//!
//! ```text
//! cargo run -p zt-scanner --example scan -- [--clamd tcp://127.0.0.1:3310] FILE...
//! ```
//! Exits with 1 when any file was rejected or could not be scanned.

use zt_scanner::{ClamdConfig, Scanner, Verdict};

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut clamd = None;
    if args.first().map(String::as_str) == Some("--clamd") && args.len() >= 2 {
        match args[1].parse() {
            Ok(addr) => clamd = Some(ClamdConfig::new(addr)),
            Err(e) => {
                eprintln!("{e}");
                return std::process::ExitCode::from(2);
            }
        }
        args.drain(..2);
    }
    let scanner = Scanner::new(clamd);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut failed = false;
    for path in &args {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                println!("{path}\tERROR\t{e}");
                failed = true;
                continue;
            }
        };
        match rt.block_on(scanner.scan(&bytes)) {
            Ok(Verdict::Clean) => println!("{path}\tCLEAN"),
            Ok(Verdict::Rejected(f)) => {
                println!("{path}\t{}\t{}", f.code, f.detail);
                failed = true;
            }
            Err(e) => {
                println!("{path}\tERROR\t{e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    }
}
