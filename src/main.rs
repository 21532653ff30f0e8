//! The `wharf` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() {
    let args = wharf::cli::registry_args(std::env::args_os());
    std::process::exit(wharf::cli::run(wharf::cli::Cli::parse_from(args)));
}
