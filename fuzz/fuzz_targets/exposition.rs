//! Fuzz target: arbitrary bytes through the exposition parser in both formats.
//!
//! Every entry is consumed the way the scrape loop would on a cache miss
//! (name, labels, exemplar labels materialised), and the invariants that hold
//! for any input are asserted: no panic, termination (at most one item per
//! line plus a final error), series slices borrowed from the input, nothing
//! after an error.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports)]
#[path = "../../collector/src/parse/mod.rs"]
mod parse;

use parse::{Entry, Format, Parser};

fn drain(data: &[u8], format: Format) {
    let lines = data.iter().filter(|&&c| c == b'\n').count() + 1;
    let start = data.as_ptr() as usize;
    let mut parser = Parser::new(data, format);
    let mut items = 0;
    let mut labels = Vec::new();
    while let Some(item) = parser.next_entry() {
        items += 1;
        assert!(items <= lines + 1, "more items than lines");
        match item {
            Ok(Entry::Sample(s)) => {
                let p = s.series().as_ptr() as usize;
                assert!(p >= start && p + s.series().len() <= start + data.len());
                assert!(!s.name().is_empty());
                labels.clear();
                s.labels_into(&mut labels);
                if let Some(e) = s.exemplar() {
                    e.labels_into(&mut labels);
                }
                std::hint::black_box((s.value(), s.timestamp_ms(), s.is_created(), &labels));
            }
            Ok(Entry::Help { metric, text }) => {
                std::hint::black_box((metric, text));
            }
            Ok(_) => {}
            Err(e) => {
                assert!(e.line >= 1 && e.line <= lines + 1);
                std::hint::black_box(e.to_string());
                assert!(parser.next_entry().is_none());
                return;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    drain(data, Format::Text);
    drain(data, Format::OpenMetrics);
});
