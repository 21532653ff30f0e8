//! Fuzz target `htpasswd`: the body is [`bodies::htpasswd_file`], shared with `tests/fuzz_corpus.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::htpasswd_file(data));
