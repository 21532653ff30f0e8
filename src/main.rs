//! The `wharf` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() {
    limit_malloc_arenas();
    let args = wharf::cli::registry_args(std::env::args_os());
    std::process::exit(wharf::cli::run(wharf::cli::Cli::parse_from(args)));
}

/// glibc gives each thread that allocates under contention an arena of its own, up to 8 per core, and
/// keeps what they free: with the blocking pool's many threads, the resident set grows run after run
/// (to 25 MiB and more in the benchmark) while the registry needs a few. Two arenas keep it flat at no
/// measurable cost; `MALLOC_ARENA_MAX`, when set, still decides.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called before any other thread exists; mallopt only changes a malloc parameter.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
