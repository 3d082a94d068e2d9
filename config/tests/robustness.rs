//! Bad input gets an error, never a panic: every golden file, mutated many ways, goes
//! through the loaders. Mutations are deterministic (a fixed-seed xorshift), so a failure
//! reproduces.

use std::path::Path;

use lookout_config::{load_str, parse_file_sd};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Characters that matter to YAML/JSON structure, plus some that matter to our parsers.
const ALPHABET: &[&str] = &[
    ":", "-", " ", "\t", "\n", "[", "]", "{", "}", ",", "'", "\"", "#", "&a", "*a", "!", "|", ">",
    "?", "0", "9", "s", "ms", "MB", "[::1]", "%", "é", "\u{feff}", "\\", "<<: ",
];

fn mutate(rng: &mut Rng, src: &str) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 if at < chars.len() => {
                let end = (at + 1 + rng.below(8)).min(chars.len());
                chars.drain(at..end);
            }
            _ => {
                let ins: Vec<char> = ALPHABET[rng.below(ALPHABET.len())].chars().collect();
                let at = at.min(chars.len());
                chars.splice(at..at, ins);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_configs_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut inputs: Vec<String> = std::fs::read_dir(&dir)
        .expect("testdata")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".yaml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    inputs.push(lookout_config::DEFAULT_CONFIG_YAML.to_string());
    inputs.push(r#"[{"targets": ["a:1"], "labels": {"x": "y"}}]"#.to_string());
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut errors = 0usize;
    let mut runs = 0usize;
    for src in &inputs {
        for _ in 0..150 {
            let m = mutate(&mut rng, src);
            runs += 1;
            if let Err(e) = load_str(&m, "mutated.yaml") {
                errors += 1;
                // Positions point inside the text (or just past its end, for EOF errors).
                if let Some((line, column)) = e.position() {
                    let lines = m.lines().count().max(1);
                    assert!(line >= 1 && column >= 1, "{e}");
                    assert!(line <= lines + 1, "{e} points past the end of\n{m}");
                }
            }
            let _ = parse_file_sd(&m, Path::new("m.yaml"));
            let _ = parse_file_sd(&m, Path::new("m.json"));
        }
    }
    // The mutations must actually exercise error paths, or this test proves nothing.
    assert!(
        errors > runs / 4,
        "only {errors} of {runs} mutated inputs were rejected"
    );
}
