/// How final answers are found in solutions and grouped for voting. The dataset
/// crate's grading implements it; search strategies only see this trait.
pub trait AnswerFormat: Send + Sync {
    /// The final answer written in `solution`, if it has one.
    fn extract(&self, solution: &str) -> Option<String>;

    /// A canonical key: two answers with the same key count as the same answer.
    fn key(&self, answer: &str) -> String;
}
