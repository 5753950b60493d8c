//! MATH-style grading against a table of real answer pairs: the gold answer as
//! MATH writes it, the prediction as models write it, and the expected verdict.

use ttc_dataset::{GradeMode, answer_key, grade};

const EQUAL: bool = true;
const DIFFERENT: bool = false;

/// (gold, prediction, expected)
const PAIRS: &[(&str, &str, bool)] = &[
    // Tuples, intervals and unions.
    (
        r"\left( 3, \frac{\pi}{2} \right)",
        r"(3, \frac{\pi}{2})",
        EQUAL,
    ),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \pi/2)", EQUAL),
    (
        r"\left( 3, \frac{\pi}{2} \right)",
        r"(\frac{\pi}{2}, 3)",
        DIFFERENT,
    ),
    (r"(0, 9)", r"(0,9)", EQUAL),
    (r"[-2,7]", r"[-2, 7]", EQUAL),
    (r"[-2,7]", r"(-2,7)", DIFFERENT),
    (r"[1,2)", r"[1,2]", DIFFERENT),
    (
        r"\left[ -\frac{1}{2}, \frac{1}{2} \right]",
        r"[-0.5, 0.5]",
        EQUAL,
    ),
    (
        r"(-\infty,-2) \cup (2,\infty)",
        r"(-\infty, -2)\cup(2, \infty)",
        EQUAL,
    ),
    (
        r"(-\infty,-2) \cup (2,\infty)",
        r"(2,\infty)\cup(-\infty,-2)",
        EQUAL,
    ),
    (r"(-\infty, 0)", r"(-\infty, 1)", DIFFERENT),
    (r"\infty", r"-\infty", DIFFERENT),
    (r"(1,2)", r"(2,1)", DIFFERENT),
    // Unordered solution sets.
    (r"1, -2", r"-2, 1", EQUAL),
    (r"-2,1", r"x=-2 \text{ or } x=1", EQUAL),
    (r"\{-1, 3\}", r"3, -1", EQUAL),
    (r"1, 2", r"1, 2, 3", DIFFERENT),
    (r"1 \pm \sqrt{19}", r"1+\sqrt{19}, 1-\sqrt{19}", EQUAL),
    (r"-\frac{1}{2}, 4", r"x = 4, x = -0.5", EQUAL),
    // Fractions, decimals and numeric equality.
    (r"\frac{14}{3}", r"14/3", EQUAL),
    (r"\frac{14}{3}", r"4.67", DIFFERENT),
    (r"\dfrac{5}{7}", r"\frac57", EQUAL),
    (r"\frac{9}{4}", r"\frac94", EQUAL),
    (r"\tfrac{1}{8}", r"0.125", EQUAL),
    (r"\frac{1}{2}", r"0.5", EQUAL),
    (r"\frac{1}{2}", r"\frac{1}{3}", DIFFERENT),
    (r"\frac{3}{4}", r"0.75", EQUAL),
    (r"\frac{243}{625}", r"0.3888", EQUAL),
    (r"-\frac{1}{3}", r"\frac{-1}{3}", EQUAL),
    (r"\frac13", r"0.333", DIFFERENT),
    (r"2\frac{1}{2}", r"2.5", EQUAL),
    (r"1.2", r"1.20", EQUAL),
    (r"4", r"4.0", EQUAL),
    (r"4", r"4.01", DIFFERENT),
    (r"-1", r"1", DIFFERENT),
    (r"2^{12}", r"4096", EQUAL),
    // Roots and pi.
    (r"\sqrt{2}", r"\sqrt2", EQUAL),
    (r"11\sqrt2", r"11\sqrt{2}", EQUAL),
    (r"8\sqrt{2}", r"8 \sqrt 2", EQUAL),
    (r"3\sqrt{13}", r"\sqrt{117}", EQUAL),
    (r"\frac{\sqrt{3}}{2}", r"\frac{\sqrt3}{2}", EQUAL),
    (r"\frac{\sqrt{3}}{3}", r"\frac{1}{\sqrt{3}}", EQUAL),
    (r"\frac{\sqrt{6}}{3}", r"\sqrt{2/3}", EQUAL),
    (r"\frac{\sqrt{3}}{2}", r"\frac{\sqrt{2}}{2}", DIFFERENT),
    (r"\pi", r"3.14", DIFFERENT),
    (r"4\pi", r"4 \pi", EQUAL),
    // Thousands separators, money, percent, degrees, units.
    (r"\$32,\!348", r"32348", EQUAL),
    (r"1,\!000,\!000", r"1000000", EQUAL),
    (r"3,\!120", r"3120", EQUAL),
    (r"10{,}000", r"10,000", EQUAL),
    (r"1,000", r"1", DIFFERENT),
    (r"\$18.90", r"18.9", EQUAL),
    (r"10\%", r"10", EQUAL),
    (r"90^\circ", r"90", EQUAL),
    (r"50^{\circ}", r"50 degrees", EQUAL),
    (r"5\text{ cm}", r"5", EQUAL),
    (r"6\text{ cm}^2", r"6", EQUAL),
    (r"12", r"12 square units", EQUAL),
    (r"36", r"36\mbox{ inches}", EQUAL),
    // Equations and expressions.
    (r"5", r"x = 5", EQUAL),
    (r"k = 5", r"5", EQUAL),
    (r"y = -\frac{5}{2}x + 10", r"-2.5x+10", EQUAL),
    (r"p - q", r"p-q", EQUAL),
    (r"p - q", r"q - p", DIFFERENT),
    (r"x^2+7x+10", r"(x+2)(x+5)", EQUAL),
    (r"y^4 - 2y^3 + 7y^2 + y - 5", r"y^4-2y^3+7y^2+y-5", EQUAL),
    (r"x^3+3x-6", r"x^3-6+3x", EQUAL),
    (r"2x", r"2", DIFFERENT),
    (r"6 - 5i", r"6-5i", EQUAL),
    (r"6 - 5i", r"6+5i", DIFFERENT),
    // Text and multiple choice.
    (r"\text{Evelyn}", r"Evelyn", EQUAL),
    (r"\text{Evelyn}", r"Emily", DIFFERENT),
    (r"\text{odd}", r"odd", EQUAL),
    (r"\text{odd}", r"even", DIFFERENT),
    (r"\text{(C)}", r"C", EQUAL),
    (r"\text{(C)}", r"(D)", DIFFERENT),
    (r"\text{Tuesday}", r"tuesday", EQUAL),
    // Matrices and vectors.
    (
        r"\begin{pmatrix} 1 \\ -2 \end{pmatrix}",
        r"\begin{pmatrix}1\\-2\end{pmatrix}",
        EQUAL,
    ),
    (
        r"\begin{pmatrix} 1 \\ -2 \end{pmatrix}",
        r"\begin{pmatrix} -2 \\ 1 \end{pmatrix}",
        DIFFERENT,
    ),
    (
        r"\begin{pmatrix} \frac{1}{2} & 0 \\ 0 & 1 \end{pmatrix}",
        r"\begin{bmatrix} 0.5 & 0 \\ 0 & 1 \end{bmatrix}",
        EQUAL,
    ),
    // Whole solutions as predictions.
    (r"17", r"So the total is $\boxed{17}$.", EQUAL),
    (
        r"\frac{1}{4}",
        r"The probability is $\boxed{\dfrac{1}{4}}$.",
        EQUAL,
    ),
    (r"17", r"first \boxed{16}, then \boxed{18}", DIFFERENT),
];

fn check(gold: &str, pred: &str, expected: bool) -> Result<(), String> {
    let verdict = grade(gold, pred, GradeMode::Math).map_err(|e| e.to_string())?;
    let swapped = grade(pred, gold, GradeMode::Math).map_err(|e| e.to_string())?;
    if verdict.correct != expected || swapped.correct != expected {
        return Err(format!(
            "gold {gold:?} vs pred {pred:?}: expected {}, got {} (swapped {}); normalised {:?} vs {:?}",
            if expected { "equal" } else { "different" },
            verdict.correct,
            swapped.correct,
            verdict.gold,
            verdict.pred,
        ));
    }
    Ok(())
}

#[test]
fn math_answer_pairs() {
    assert!(PAIRS.len() >= 50);
    let failures: Vec<String> = PAIRS
        .iter()
        .filter_map(|&(gold, pred, expected)| check(gold, pred, expected).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} pairs failed:\n{}",
        failures.len(),
        PAIRS.len(),
        failures.join("\n")
    );
}

#[test]
fn equal_answers_share_a_key() {
    // Numbers, text, tuples and sets (no free variables): equivalence and equal keys agree.
    for &(gold, pred, expected) in PAIRS {
        let has_vars = |s: &str| s.contains(['x', 'y', 'p', 'i']) && !s.contains("\\text");
        if has_vars(gold) || has_vars(pred) || gold.contains("\\pm") {
            continue;
        }
        let (a, b) = (
            answer_key(gold, GradeMode::Math),
            answer_key(pred, GradeMode::Math),
        );
        assert_eq!(a == b, expected, "{gold:?} -> {a:?}, {pred:?} -> {b:?}");
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
    use ttc_dataset::{GradeMode, MathAnswer, answer::extract_answer, grade};

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
