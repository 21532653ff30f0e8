//! Reading Dockerfiles in the tests: instructions by stage, and what `COPY` takes from the build
//! context.
#![allow(dead_code)]

/// A Dockerfile's instructions (continuations joined, comments dropped), by stage name.
pub fn stages(text: &str) -> Vec<(String, Vec<String>)> {
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            continue;
        }
        let instruction = std::mem::take(&mut pending) + line;
        if instruction.starts_with("FROM ") {
            let name = instruction.rsplit(' ').next().unwrap().to_string();
            stages.push((name, Vec::new()));
        }
        stages
            .last_mut()
            .expect("a Dockerfile starts with FROM")
            .1
            .push(instruction);
    }
    stages
}

/// The sources of a `COPY` from the build context (none for `COPY --from=...`).
fn copy_sources_of(instruction: &str) -> Vec<String> {
    let words: Vec<&str> = instruction.split_whitespace().collect();
    if words[0] != "COPY" || words.iter().any(|w| w.starts_with("--from=")) {
        return Vec::new();
    }
    let args: Vec<&str> = words[1..]
        .iter()
        .copied()
        .filter(|w| !w.starts_with("--"))
        .collect();
    args[..args.len() - 1]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// What every `COPY` of `text` takes from the build context, in order.
pub fn copy_sources(text: &str) -> Vec<String> {
    stages(text)
        .iter()
        .flat_map(|(_, instructions)| instructions.iter().flat_map(|i| copy_sources_of(i)))
        .collect()
}
