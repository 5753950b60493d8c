//! MATH-style grading beyond the answer table (`answers.rs`): keys, the demo
//! world's answers in both modes, robustness.

use ttc_math_grade::{GradeMode, answer_key, grade};

/// Kinds of the answer table where the canonical key is exact: two answers of these
/// kinds are equivalent exactly when their keys are equal.
const EXACT_KEY_KINDS: &[&str] = &[
    "thousands",
    "currency-units",
    "percent",
    "fraction",
    "arithmetic",
    "sign",
    "interval",
    "tuple",
    "set",
    "matrix",
    "text",
    "spacing",
    "degrees",
];

#[test]
fn keys_never_group_different_answers() {
    // Equal keys mean equivalent answers; for numbers, text and their tuples and
    // sets, equivalent answers also share a key.
    for row in crate::answers::rows() {
        let (a, b) = (
            answer_key(&row.gold, GradeMode::Math),
            answer_key(&row.pred, GradeMode::Math),
        );
        let at = format!("answers.tsv:{}", row.line);
        if !row.equal {
            assert!(
                a != b || a.is_none(),
                "{at}: different answers share the key {a:?}"
            );
        }
        let plain =
            |s: &str| !s.contains(['x', 'y', 'p', 'i', 'a', 'b', '<', '>']) || s.contains("\\text");
        if row.equal
            && EXACT_KEY_KINDS.contains(&row.kind.as_str())
            && plain(&row.gold)
            && plain(&row.pred)
            && !row.gold.contains("\\pm")
        {
            assert_eq!(
                a, b,
                "{at}: equal answers {:?} and {:?}",
                row.gold, row.pred
            );
        }
    }
}

#[test]
fn demo_answers_grade_in_both_modes() {
    for mode in [GradeMode::Integer, GradeMode::Math] {
        assert!(
            grade("118", "126 - 8 = 118\nAnswer: 118", mode)
                .unwrap()
                .correct
        );
        assert!(
            !grade("118", "126 - 8 = 119\nAnswer: 119", mode)
                .unwrap()
                .correct
        );
    }
}

mod robustness {
    use proptest::prelude::*;
    use ttc_math_grade::{GradeMode, MathAnswer, answer::extract_answer, grade};

    const PIECES: &[&str] = &[
        "\\frac",
        "\\sqrt",
        "\\boxed{",
        "\\text{",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "\\{",
        "\\}",
        "\\left",
        "\\right",
        ",",
        "=",
        "^",
        "_",
        "-",
        "+",
        "/",
        "\\pi",
        "\\infty",
        "\\cup",
        "\\pm",
        "\\\\",
        "&",
        "\\begin{pmatrix}",
        "\\end{pmatrix}",
        "x",
        "y",
        "1",
        "0",
        "12",
        "3.5",
        " ",
        "\\$",
        "%",
        "^\\circ",
        "cm",
        "or",
        "\\",
        "\u{2212}",
        "é",
        ".",
        "999999999999999999999",
        "\\cdot",
        "^{",
        "Answer: ",
        "$",
        "$$",
        "\\(",
        "\\)",
        "\\[",
        "\\]",
        "The final answer is ",
        "answer is",
        ": ",
        "\n",
        "<",
        "\\le",
        "\\not",
        "\\approx",
        "\\in",
        "!=",
        ">=",
        "1 000",
        "2,5",
        "words",
        "\\sin",
        "€",
    ];

    fn latexish() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any input grades without panicking, and an answer equals itself unless
        /// it reads as undefined.
        #[test]
        fn grading_never_panics(a in latexish(), b in latexish()) {
            let _ = grade(&a, &b, GradeMode::Math).unwrap();
            let _ = grade(&a, &b, GradeMode::Integer);
            let _ = extract_answer(&a);
            let parsed = MathAnswer::parse(&a);
            let _ = parsed.to_string();
        }
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        let _ = grade(&deep, "1", GradeMode::Math).unwrap();
        let minus = format!("{}1", "-".repeat(5000));
        let _ = grade(&minus, "1", GradeMode::Math).unwrap();
        let braces = format!("{}1{}", "{".repeat(5000), "}".repeat(5000));
        let _ = grade(&braces, "1", GradeMode::Math).unwrap();
    }
}
