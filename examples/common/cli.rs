//! Command-line handling shared by the examples that serve.

use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Success, or failure with the error printed after the program's name.
pub fn exit_code(program: &str, outcome: Result<(), Box<dyn Error>>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{program}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `--listen ADDR` (or `--listen=ADDR`), else `default()`; `None` for `--help`.
pub fn listen_address(
    usage: &str,
    default: impl FnOnce() -> Result<SocketAddr, String>,
) -> Result<Option<SocketAddr>, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = None;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => args
                .next()
                .ok_or_else(|| format!("--listen needs an address\n{usage}"))?,
            other => match other.strip_prefix("--listen=") {
                Some(value) => value.to_owned(),
                None => return Err(format!("unknown argument `{other}`\n{usage}")),
            },
        };
        let addr = value
            .parse::<SocketAddr>()
            .map_err(|_| format!("`{value}` is not an address like 127.0.0.1:8080\n{usage}"))?;
        listen = Some(addr);
    }
    match listen {
        Some(addr) => Ok(Some(addr)),
        None => default().map(Some),
    }
}
