//! Properties of the demo-world generator and its splits.

use std::collections::HashSet;

use proptest::prelude::*;
use ttc_dataset::demo::{
    DemoWorld, FIXED_SPLIT_SIZE, MAX_VALUE, Split, parse_problem, split_of, step_labels,
};
use ttc_dataset::{DifficultyMix, MixComponent, OpKind, OpSet, Problem};

/// Re-derives the answer of a demo problem from its text alone, checking every
/// solution line: `a op b = c` with `a` the previous value, and the answer line.
fn check_solution(p: &Problem) -> Result<Vec<(char, u32)>, String> {
    let text = p
        .problem
        .strip_prefix("Start with ")
        .and_then(|t| t.strip_suffix(" What is the result?"))
        .ok_or(format!("unexpected problem text {:?}", p.problem))?;
    let mut parts = text.split(". ");
    let start: u32 = parts
        .next()
        .and_then(|s| s.trim_end_matches('.').parse().ok())
        .ok_or(format!("no start in {text:?}"))?;
    let mut ops = Vec::new();
    for part in parts {
        let part = part.trim_end_matches('.');
        let (sym, n) = if let Some(n) = part.strip_prefix("Add ") {
            ('+', n)
        } else if let Some(n) = part.strip_prefix("Subtract ") {
            ('-', n)
        } else if let Some(n) = part.strip_prefix("Multiply by ") {
            ('x', n)
        } else {
            return Err(format!("unknown instruction {part:?}"));
        };
        ops.push((sym, n.parse::<u32>().map_err(|e| format!("{part:?}: {e}"))?));
    }
    let lines: Vec<&str> = p.solution.lines().collect();
    if lines.len() != ops.len() + 1 {
        return Err(format!("{} lines for {} steps", lines.len(), ops.len()));
    }
    let mut value = start;
    for (line, &(sym, operand)) in lines.iter().zip(&ops) {
        let next = match sym {
            '+' => value + operand,
            '-' => value
                .checked_sub(operand)
                .ok_or(format!("negative value at {line:?}"))?,
            _ if value >= 100 || !(2..=9).contains(&operand) => {
                return Err(format!("x {operand} on {value} at {line:?}"));
            }
            _ => value * operand,
        };
        if next > MAX_VALUE {
            return Err(format!("value {next} over the bound at {line:?}"));
        }
        let expected = format!("{value} {sym} {operand} = {next}");
        if *line != expected {
            return Err(format!("line {line:?}, expected {expected:?}"));
        }
        value = next;
    }
    if lines[lines.len() - 1] != format!("Answer: {value}") || p.answer != value.to_string() {
        return Err(format!(
            "answer line {:?} / answer {:?}, value {value}",
            lines.last(),
            p.answer
        ));
    }
    Ok(ops)
}

fn digits(n: u32) -> u8 {
    n.to_string().len() as u8
}

fn component() -> impl Strategy<Value = MixComponent> {
    (
        1u8..=16,
        0u8..=15,
        1u8..=2,
        0u8..=1,
        1usize..8,
        0.0f64..=1.0,
    )
        .prop_map(|(s, ds, d, dd, ops, carry)| {
            let set: Vec<OpKind> = OpKind::ALL
                .into_iter()
                .enumerate()
                .filter(|(i, _)| ops & (1 << i) != 0)
                .map(|(_, op)| op)
                .collect();
            MixComponent {
                name: "random".into(),
                weight: 1.0,
                min_steps: s,
                max_steps: (s + ds).min(16),
                min_digits: d,
                max_digits: (d + dd).min(2),
                operators: OpSet::new(&set).unwrap(),
                carry,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn solutions_are_correct_and_within_the_knobs(seed: u64, c in component()) {
        let world = DemoWorld::new(DifficultyMix { components: vec![c.clone()] }).unwrap();
        for p in world.train_problems(seed, 40) {
            let ops = check_solution(&p).map_err(TestCaseError::fail)?;
            let steps = p.extra["steps"].as_u64().unwrap() as u8;
            let d = p.extra["digits"].as_u64().unwrap() as u8;
            prop_assert_eq!(ops.len(), usize::from(steps));
            prop_assert!((c.min_steps..=c.max_steps).contains(&steps));
            prop_assert!((c.min_digits..=c.max_digits).contains(&d));
            prop_assert!((1..=5).contains(&p.level));
            let start: u32 = p.solution.split(' ').next().unwrap().parse().unwrap();
            prop_assert_eq!(digits(start), d);
            for &(sym, operand) in &ops {
                if sym == 'x' {
                    prop_assert!((2..=9).contains(&operand), "operand {} in {}", operand, p.problem);
                } else {
                    prop_assert_eq!(digits(operand), d, "operand {} in {}", operand, p.problem);
                }
                // Sets with both + and - never need the out-of-set fallback.
                if c.operators.contains(OpKind::Add) && c.operators.contains(OpKind::Sub) {
                    prop_assert!(c.operators.iter().any(|op| op.symbol() == sym));
                }
            }
            prop_assert_eq!(split_of(&p.problem), Split::Train);
        }
    }

    #[test]
    fn oracle_labels_accept_references_and_catch_a_corrupted_step(seed: u64, pick: usize, delta in 1u32..50) {
        for p in DemoWorld::default().train_problems(seed, 10) {
            let chain = parse_problem(&p.problem).unwrap();
            prop_assert_eq!(chain.solution_text().unwrap(), p.solution.clone());
            let lines: Vec<&str> = p.solution.lines().collect();
            prop_assert!(step_labels(&p.problem, &p.solution).unwrap().iter().all(|&ok| ok));
            // Change the result of line k (a step or the answer): labels flip from k on.
            let k = pick % lines.len();
            let (head, last) = lines[k].rsplit_once(' ').unwrap();
            let wrong = last.parse::<u32>().unwrap() + delta;
            let mut corrupted: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            corrupted[k] = format!("{head} {wrong}");
            let labels = step_labels(&p.problem, &corrupted.join("\n")).unwrap();
            let expected: Vec<bool> = (0..lines.len()).map(|i| i < k).collect();
            prop_assert_eq!(labels, expected);
        }
    }

    #[test]
    fn the_stream_is_deterministic_for_a_seed(seed: u64) {
        let world = DemoWorld::default();
        let a = world.train_problems(seed, 20);
        prop_assert_eq!(&a, &world.train_problems(seed, 20));
        prop_assert_ne!(a, world.train_problems(seed.wrapping_add(1), 20));
    }
}

#[test]
fn default_stream_solutions_are_correct() {
    for p in DemoWorld::default().train_problems(3, 5000) {
        check_solution(&p).unwrap_or_else(|e| panic!("{}: {e}", p.unique_id));
    }
}

#[test]
fn fixed_splits_are_fixed_distinct_and_disjoint_from_training() {
    let world = DemoWorld::default();
    let val = world.fixed_split(Split::Validation).unwrap();
    let test = world.fixed_split(Split::Test).unwrap();
    assert_eq!(
        test,
        world.fixed_split(Split::Test).unwrap(),
        "not deterministic"
    );
    let val_texts: HashSet<&str> = val.iter().map(|p| p.problem.as_str()).collect();
    let test_texts: HashSet<&str> = test.iter().map(|p| p.problem.as_str()).collect();
    assert_eq!(
        (val_texts.len(), test_texts.len()),
        (FIXED_SPLIT_SIZE, FIXED_SPLIT_SIZE)
    );
    assert!(val_texts.is_disjoint(&test_texts));
    assert_eq!(test[42].unique_id, "demo/test/00042");
    assert_eq!(val[7].unique_id, "demo/validation/00007");
    for p in val.iter().chain(&test) {
        check_solution(p).unwrap();
    }
    // The validation and test seeds must not leak into training either: the
    // stream regenerates them but skips them.
    for seed in [0, 1, 0x7474_632d_7465_7374] {
        for p in world.train_problems(seed, 20_000) {
            assert!(!val_texts.contains(p.problem.as_str()), "{}", p.problem);
            assert!(!test_texts.contains(p.problem.as_str()), "{}", p.problem);
        }
    }
}

#[test]
fn the_test_set_spans_all_levels_and_knobs() {
    let test = DemoWorld::default().fixed_split(Split::Test).unwrap();
    let mut levels = [0usize; 5];
    let mut steps = [0usize; 16];
    let mut with_mul = 0;
    for p in &test {
        levels[usize::from(p.level - 1)] += 1;
        steps[p.extra["steps"].as_u64().unwrap() as usize - 1] += 1;
        with_mul += usize::from(p.solution.contains(" x "));
    }
    assert!(levels.iter().all(|&n| n >= 60), "levels {levels:?}");
    assert!(steps.iter().all(|&n| n >= 10), "steps {steps:?}");
    assert!((150..450).contains(&with_mul), "{with_mul} with x");
}

/// Golden check: the data format and the generator's draws are stable. If this
/// fails on purpose, every trained demo model must be retrained: update the
/// expected values and tell the team.
#[test]
fn the_test_set_is_stable() {
    let test = DemoWorld::default().fixed_split(Split::Test).unwrap();
    let first = serde_json::to_string(&test[0]).unwrap();
    assert_eq!(first, GOLDEN_TEST_0);
    let world = DemoWorld::default();
    let sums = [Split::Validation, Split::Test].map(|split| {
        let problems = world.fixed_split(split).unwrap();
        fnv1a(serde_json::to_string(&problems).unwrap().as_bytes())
    });
    let train = fnv1a(
        serde_json::to_string(&world.train_problems(0, 1000))
            .unwrap()
            .as_bytes(),
    );
    assert_eq!(
        [sums[0], sums[1], train],
        GOLDEN_SUMS,
        "{:#x?}",
        [sums[0], sums[1], train]
    );
}

use ttc_core::hash::fnv1a;

const GOLDEN_TEST_0: &str = r#"{"problem":"Start with 52. Subtract 11. Multiply by 5. Add 78. Add 29. Subtract 57. Subtract 56. Subtract 95. Subtract 20. What is the result?","solution":"52 - 11 = 41\n41 x 5 = 205\n205 + 78 = 283\n283 + 29 = 312\n312 - 57 = 255\n255 - 56 = 199\n199 - 95 = 104\n104 - 20 = 84\nAnswer: 84","answer":"84","level":3,"unique_id":"demo/test/00000","digits":2,"hard_steps":5,"operators":"+-x","steps":8}"#;
const GOLDEN_SUMS: [u64; 3] = [
    0x4cbc_3c66_ef42_d3ac,
    0x0704_c03f_b9da_e29d,
    0x190c_ebc6_632d_9951,
];
