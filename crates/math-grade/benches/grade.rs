//! Grading throughput: `cargo bench -p ttc-math-grade --bench grade [-- --pairs N
//! --repeats R]` grades N pairs (default 10,000) in math mode with the default
//! extraction rules and prints one JSON line with the best of R runs (default 5):
//! wall-clock `seconds` and, on Linux, the CPU time the process spent
//! (`cpu_seconds`, from /proc/self/stat at 100 ticks a second), which a busy
//! machine does not inflate.
//!
//! The pairs cycle through the answer table `tests/answers.tsv` (bare answers,
//! whole solutions, relations, matrices, ...); every 10th prediction is padded
//! into a long solution (~2 KB of reasoning before `\boxed{}`), as model outputs
//! are.

use std::hint::black_box;
use std::time::Instant;

use ttc_math_grade::{GradeMode, grade};

fn parse_args() -> Result<(usize, usize), String> {
    let (mut pairs, mut repeats) = (10_000usize, 5usize);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> Result<usize, String> {
            it.next()
                .ok_or(format!("{flag} needs a value"))?
                .parse()
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--pairs" => pairs = value()?,
            "--repeats" => repeats = value()?.max(1),
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((pairs, repeats))
}

fn table() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/answers.tsv");
    let text = std::fs::read_to_string(path).expect("the answer table is readable");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((
                f.next()?.replace('\u{23ce}', "\n"),
                f.next()?.replace('\u{23ce}', "\n"),
            ))
        })
        .collect()
}

/// User plus system CPU time of this process so far, in seconds (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses): utime is the 12th
    // and stime the 13th of them.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn main() {
    let (n, repeats) = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("grade bench: {e}");
            std::process::exit(2);
        }
    };
    let rows = table();
    let filler = "We first expand the product and collect like terms, so that \
                  $3(x + 2) - 2(x - 1) = x + 8$. Substituting $x = 4$ gives $12$, \
                  and checking against the constraint $x \\le 10$ leaves it valid. ";
    let pairs: Vec<(String, String)> = (0..n)
        .map(|i| {
            let (gold, pred) = &rows[i % rows.len()];
            let pred = if i % 10 == 9 {
                format!("{}So the answer is $\\boxed{{{pred}}}$.", filler.repeat(8))
            } else {
                pred.clone()
            };
            (gold.clone(), pred)
        })
        .collect();
    let mut best = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    let mut correct = 0;
    for _ in 0..repeats {
        let cpu_start = cpu_seconds();
        let start = Instant::now();
        correct = 0;
        for (gold, pred) in &pairs {
            let verdict = grade(black_box(gold), black_box(pred), GradeMode::Math)
                .expect("math grading never fails");
            correct += usize::from(verdict.correct);
        }
        best = best.min(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
            best_cpu = best_cpu.min(b - a);
        }
    }
    let cpu = if best_cpu.is_finite() {
        format!("{best_cpu:.2}")
    } else {
        "null".into()
    };
    println!(
        "{{\"pairs\": {n}, \"seconds\": {best:.4}, \"cpu_seconds\": {cpu}, \"pairs_per_second\": {:.0}, \"correct\": {correct}, \"repeats\": {repeats}}}",
        n as f64 / best
    );
}
