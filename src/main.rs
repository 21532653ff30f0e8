//! The `wharf` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() {
    std::process::exit(wharf::cli::run(wharf::cli::Cli::parse()));
}
