//! Search cost against best-of-N, with the reward model continuing each candidate
//! from its KV cache beside full rescoring: `cargo xtask bench search` runs this.
//!
//! For each question (interleaved, so the machine's noise spreads over every
//! setting) it runs each method at each budget, once with the run file's verifier
//! continuing from its cache and once rescoring every prefix in full, then prints per
//! setting the wall time, generated and verifier tokens per question, the verifier's
//! tokens per generated token, the wall time against weighted best-of-N at the same
//! budget (with the verifier's share), and whether the two paths chose the same
//! answers, grew the same trees and gave the same solutions the same scores.
//!
//! ```text
//! cargo bench -p ttc-app --bench search -- [--config config/demo.toml] [--questions 8]
//!     [--budgets 16,64] [--methods beam-m4,dvts-m4,best-of-n-weighted] [--cached-only]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use ttc_app::components::{load_generator, load_verifier, questions};
use ttc_app::run_file::RunFile;
use ttc_core::{AnswerFormat, MethodSpec, RuntimeSettings, Verifier};
use ttc_search::{SearchOutcome, Searcher, Strategy};

struct Args {
    config: PathBuf,
    questions: usize,
    budgets: Vec<usize>,
    methods: Vec<MethodSpec>,
    cached_only: bool,
    threads: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: PathBuf::from("config/demo.toml"),
        questions: 8,
        budgets: vec![16, 64],
        methods: ["beam-m4", "dvts-m4", "best-of-n-weighted"]
            .iter()
            .map(|m| m.parse().expect("known methods"))
            .collect(),
        cached_only: false,
        threads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--config" => args.config = PathBuf::from(value()?),
            "--questions" => {
                args.questions = value()?.parse().map_err(|e| format!("--questions: {e}"))?
            }
            "--budgets" => {
                args.budgets = value()?
                    .split(',')
                    .map(|b| b.trim().parse().map_err(|e| format!("--budgets {b}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--methods" => {
                args.methods = value()?
                    .split(',')
                    .map(|m| m.trim().parse().map_err(|e: ttc_core::Error| e.to_string()))
                    .collect::<Result<_, _>>()?
            }
            "--threads" => {
                args.threads = Some(value()?.parse().map_err(|e| format!("--threads: {e}"))?)
            }
            "--cached-only" => args.cached_only = true,
            // `cargo bench` passes this to every bench binary.
            "--bench" => {}
            other => {
                return Err(format!(
                    "unknown flag {other}; see the header of crates/app/benches/search.rs"
                ));
            }
        }
    }
    if args
        .methods
        .iter()
        .any(|m| Strategy::from_spec(*m).is_none())
    {
        return Err("--methods takes search methods only (no revisions)".into());
    }
    Ok(args)
}

/// A verifier that times the calls it passes on.
struct Timed<'a> {
    inner: &'a dyn Verifier,
    seconds: Mutex<f64>,
}

impl Timed<'_> {
    fn add(&self, since: Instant) {
        *self.seconds.lock().expect("not poisoned") += since.elapsed().as_secs_f64();
    }
}

impl Verifier for Timed<'_> {
    fn info(&self) -> &ttc_core::ModelInfo {
        self.inner.info()
    }

    fn score(
        &self,
        requests: &[ttc_core::ScoreRequest<'_>],
    ) -> ttc_core::Result<Vec<ttc_core::StepScores>> {
        let t0 = Instant::now();
        let out = self.inner.score(requests);
        self.add(t0);
        out
    }

    fn score_continuing(
        &self,
        requests: &[ttc_core::ScoreRequest<'_>],
        prior: &[Option<ttc_core::VerifierState>],
    ) -> ttc_core::Result<Vec<ttc_core::Continued>> {
        let t0 = Instant::now();
        let out = self.inner.score_continuing(requests, prior);
        self.add(t0);
        out
    }
}

/// Totals of one (method, budget, path) setting over the questions.
#[derive(Default)]
struct Totals {
    seconds: f64,
    verifier_seconds: f64,
    generated: usize,
    verifier: usize,
    reread: usize,
    runs: usize,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let file = RunFile::load(&args.config)?;
    let mut runtime: RuntimeSettings = file.runtime.resolve(&Default::default());
    if args.threads.is_some() {
        runtime.threads = args.threads;
    }
    let gen_section = file.generator(&args.config)?;
    let settings = file.search_settings(gen_section);
    let generator = load_generator(&gen_section.model, gen_section.max_batch, &runtime)?;
    let Some(section) = &file.verifier else {
        return Err(format!("{}: no [verifier] table", args.config.display()).into());
    };
    let cached = load_verifier(section, &runtime, &args.config)?;
    let mut full_section = section.clone();
    full_section.cache = Some(false);
    let full = load_verifier(&full_section, &runtime, &args.config)?;
    let answers = file.answers.grade_mode();
    let qs = questions(&file, &args.config, Some(args.questions))?;
    let paths: Vec<(&str, &dyn Verifier)> = if args.cached_only {
        vec![("cached", cached.as_ref())]
    } else {
        vec![("cached", cached.as_ref()), ("full", full.as_ref())]
    };
    let mut totals: BTreeMap<(String, usize, &str), Totals> = BTreeMap::new();
    let (mut compared, mut same_answer, mut same_tree, mut worst) =
        (0usize, 0usize, 0usize, 0.0f32);
    let began = Instant::now();
    for (qi, q) in qs.iter().enumerate() {
        for &budget in &args.budgets {
            for &method in &args.methods {
                let strategy = Strategy::from_spec(method).expect("checked");
                let mut outcomes: Vec<SearchOutcome> = Vec::new();
                for &(name, verifier) in &paths {
                    let timed = Timed {
                        inner: verifier,
                        seconds: Mutex::new(0.0),
                    };
                    let searcher = Searcher {
                        generator: &generator,
                        verifier: Some(&timed),
                        answers: &answers as &dyn AnswerFormat,
                        settings: &settings,
                    };
                    let t0 = Instant::now();
                    let out = searcher.solve(&q.problem, &strategy, budget, qi as u64)?;
                    let t = totals
                        .entry((method.to_string(), budget, name))
                        .or_default();
                    t.seconds += t0.elapsed().as_secs_f64();
                    t.verifier_seconds += *timed.seconds.lock().expect("not poisoned");
                    t.generated += out.compute.generated_tokens;
                    t.verifier += out.compute.verifier_tokens;
                    t.reread += out.compute.verifier_reread_tokens;
                    t.runs += 1;
                    outcomes.push(out);
                }
                if let [a, b] = &outcomes[..] {
                    compared += 1;
                    same_answer += usize::from(a.answer == b.answer);
                    same_tree += usize::from(
                        a.trace.len() == b.trace.len()
                            && a.trace
                                .iter()
                                .zip(&b.trace)
                                .all(|(x, y)| x.step == y.step && x.status == y.status),
                    );
                    // Scores of the same solution (the same steps) in both searches.
                    for x in &a.candidates {
                        if let Some(y) = b.candidates.iter().find(|y| y.steps == x.steps) {
                            for (s, r) in x.step_scores.iter().zip(&y.step_scores) {
                                worst = worst.max((s - r).abs());
                            }
                        }
                    }
                }
            }
        }
        eprintln!(
            "question {}/{} done ({:.0} s)",
            qi + 1,
            qs.len(),
            began.elapsed().as_secs_f64()
        );
    }
    println!(
        "Search cost on {} ({} questions of {}, seed = question index, {} ONNX Runtime threads)\n",
        gen_section.model.display(),
        qs.len(),
        args.config.display(),
        runtime.threads.map_or("all".to_string(), |t| t.to_string()),
    );
    println!(
        "| method | N | verifier path | wall s / question | of which verifier s | generated tokens / question | \
         verifier tokens / question | verifier / generated tokens | wall / best-of-N weighted |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|");
    let bon = MethodSpec::BestOfN {
        selector: ttc_core::Selector::Weighted,
    }
    .to_string();
    for ((method, budget, path), t) in &totals {
        let n = t.runs as f64;
        let per = |x: usize| x as f64 / n;
        let ratio = totals
            .get(&(bon.clone(), *budget, *path))
            .filter(|b| b.seconds > 0.0)
            .map_or("-".to_string(), |b| {
                format!("{:.2}x", t.seconds / b.seconds)
            });
        let reread = if t.reread > 0 {
            format!(" ({:.0} re-read)", per(t.reread))
        } else {
            String::new()
        };
        println!(
            "| {method} | {budget} | {path} | {:.3} | {:.3} | {:.0} | {:.0}{reread} | {:.2} | {ratio} |",
            t.seconds / n,
            t.verifier_seconds / n,
            per(t.generated),
            per(t.verifier),
            t.verifier as f64 / t.generated.max(1) as f64,
        );
    }
    if compared > 0 {
        println!(
            "\nCached against full rescoring: the same answer in {same_answer} of {compared} searches, \
             the same search tree in {same_tree}; largest step-score difference {worst:.2e} over the \
             solutions both searches found (a tree differs when two candidates' scores are within \
             float error of each other and the order between them flips)."
        );
    }
    Ok(())
}
