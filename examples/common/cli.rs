//! Command-line handling shared by the examples that serve, on lexopt (as the emulator's binary
//! is): it reads `--listen ADDR` and `--listen=ADDR` alike and leaves the wording to us.

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

/// `--listen ADDR` (or `--listen=ADDR`), else `default()`; `None` for `-h` or `--help`.
pub fn listen_address(
    usage: &str,
    default: impl FnOnce() -> Result<SocketAddr, String>,
) -> Result<Option<SocketAddr>, String> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_env();
    let mut listen = None;
    let with_usage = |message: String| format!("{message}\n{usage}");
    while let Some(arg) = parser
        .next()
        .map_err(|error| with_usage(error.to_string()))?
    {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("listen") => {
                let value = parser
                    .value()
                    .map_err(|_| with_usage("--listen needs an address".to_owned()))?;
                let value = value.to_string_lossy();
                let addr = value.parse::<SocketAddr>().map_err(|_| {
                    with_usage(format!("`{value}` is not an address like 127.0.0.1:8080"))
                })?;
                listen = Some(addr);
            }
            other => {
                let unknown = match other {
                    Short(flag) => format!("-{flag}"),
                    Long(flag) => format!("--{flag}"),
                    Value(value) => value.to_string_lossy().into_owned(),
                };
                return Err(with_usage(format!("unknown argument `{unknown}`")));
            }
        }
    }
    match listen {
        Some(addr) => Ok(Some(addr)),
        None => default().map(Some),
    }
}
