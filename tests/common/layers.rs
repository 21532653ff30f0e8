//! Image layers for tests: deterministic incompressible bytes and gzipped tar layers built from them.
#![allow(dead_code)]

use std::io::Write;

use super::sha256;

/// Deterministic pseudo-random bytes (xorshift), distinct per seed.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A gzipped tar layer holding one file of `len` noisy bytes; returns the layer and its diff id.
pub fn tar_gz_layer(seed: u64, len: usize) -> (Vec<u8>, String) {
    let data = noise(seed, len);
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    builder
        .append_data(&mut header, format!("srv/file-{seed}.bin"), &data[..])
        .expect("tar entry");
    let tar = builder.into_inner().expect("tar archive");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    (gz.finish().expect("gzip"), sha256(&tar))
}
