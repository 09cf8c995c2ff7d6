//! The tools' command lines: `--name value` pairs, nothing else.

use std::collections::HashMap;
use std::str::FromStr;

/// The `--name value` pairs of a command line.
pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    /// This process's arguments; an error names the first one that is not a `--name value`
    /// pair or not in `known`.
    pub fn from_env(known: &[&str]) -> Result<Self, String> {
        Self::parse(std::env::args().skip(1), known)
    }

    /// `args` as pairs; see [`from_env`](Self::from_env).
    pub fn parse(args: impl IntoIterator<Item = String>, known: &[&str]) -> Result<Self, String> {
        let mut values = HashMap::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let name = arg
                .strip_prefix("--")
                .filter(|name| known.contains(name))
                .ok_or_else(|| {
                    format!("unknown argument `{arg}`; known: --{}", known.join(" --"))
                })?;
            let value = args
                .next()
                .ok_or_else(|| format!("`--{name}` needs a value"))?;
            values.insert(name.to_owned(), value);
        }
        Ok(Self { values })
    }

    /// The value of `--name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value of `--name` parsed, or `default` when not given.
    pub fn parsed_or<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|_| format!("`--{name} {value}` is not a valid value")),
        }
    }

    /// The value of `--name`, which must be given.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("`--{name}` is required"))
    }
}
