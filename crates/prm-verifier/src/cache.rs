//! Continuing from a scored prefix: the state a candidate carries between rounds of
//! a search, and the budget that bounds the memory those states hold.
//!
//! A state covers the request's tokens up to its last read position (a chat
//! template's suffix after the last step is left out: it changes as steps are
//! added). A later request continues from it when its tokens start with the state's
//! and the state's read positions are its own; only the tokens after that are read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ttc_kv_cache::RowKv;
use ttc_onnx::Tensor;

/// What a reward model keeps of one scored candidate.
#[derive(Debug)]
pub(crate) struct PrmState {
    /// The verifier that made it (a state is only valid on its own model).
    pub(crate) owner: usize,
    /// Token ids the state covers.
    pub(crate) ids: Vec<u32>,
    /// Read positions below `ids.len()` with their probabilities.
    pub(crate) scores: Vec<(usize, f32)>,
    /// Keys and values of `ids`, in the model's memory; `None` when the model cannot
    /// continue (the next request re-reads them, and says so).
    pub(crate) kv: Option<RowKv<Tensor>>,
    /// The budget share the keys and values hold, given back on drop.
    pub(crate) _held: Option<Held>,
}

impl PrmState {
    /// Where a request with `ids` and read `positions` can continue from this state:
    /// the scores of its positions below the state's end, or `None` when it cannot.
    pub(crate) fn continues(&self, ids: &[u32], positions: &[usize]) -> Option<Vec<f32>> {
        self.kv.as_ref()?;
        if !ids.starts_with(&self.ids) || ids.len() == self.ids.len() {
            return None;
        }
        positions
            .iter()
            .take_while(|&&p| p < self.ids.len())
            .map(|p| {
                self.scores
                    .iter()
                    .find(|(q, _)| q == p)
                    .map(|&(_, score)| score)
            })
            .collect()
    }
}

/// The most bytes of keys and values the states of one verifier may hold at once.
#[derive(Debug)]
pub(crate) struct CacheBudget {
    limit: usize,
    used: AtomicUsize,
    warned: AtomicBool,
}

/// A share of a [`CacheBudget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    budget: Arc<CacheBudget>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl CacheBudget {
    pub(crate) fn new(limit: usize) -> Arc<CacheBudget> {
        Arc::new(CacheBudget {
            limit,
            used: AtomicUsize::new(0),
            warned: AtomicBool::new(false),
        })
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held by live states.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `bytes` of the budget, or `None` when they do not fit (warned once).
    pub(crate) fn hold(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        let taken = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&u| u <= self.limit)
            })
            .is_ok();
        if taken {
            return Some(Held {
                budget: Arc::clone(self),
                bytes,
            });
        }
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                limit_bytes = self.limit,
                "the reward model's cache budget is full: candidates beyond it are read again from \
                 the start next time (counted as verifier_reread_tokens); raise `cache-mib` in the run file's [verifier]"
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ttc_kv_cache::{BatchDims, KvBatch};

    fn state(ids: &[u32], scores: &[(usize, f32)], kv: bool) -> PrmState {
        PrmState {
            owner: 1,
            ids: ids.to_vec(),
            scores: scores.to_vec(),
            kv: kv.then(|| RowKv {
                batch: Arc::new(KvBatch {
                    buffers: Vec::new(),
                    dims: BatchDims {
                        rows: 1,
                        len: ids.len(),
                    },
                }),
                row: 0,
                positions: (0..ids.len()).collect(),
            }),
            _held: None,
        }
    }

    #[test]
    fn a_request_continues_only_from_its_own_prefix() {
        let s = state(&[1, 2, 3], &[(2, 0.5)], true);
        assert_eq!(s.continues(&[1, 2, 3, 4, 5], &[2, 4]), Some(vec![0.5]));
        // Different earlier tokens, the same tokens, or nothing new: no.
        assert_eq!(s.continues(&[1, 9, 3, 4], &[2, 3]), None);
        assert_eq!(s.continues(&[1, 2, 3], &[2]), None);
        // A read position before the end that the state did not read: no.
        assert_eq!(s.continues(&[1, 2, 3, 4], &[1, 3]), None);
        // No keys and values to continue from: no.
        assert_eq!(
            state(&[1, 2, 3], &[(2, 0.5)], false).continues(&[1, 2, 3, 4], &[2, 3]),
            None
        );
    }

    #[test]
    fn the_budget_is_given_back_when_states_drop() {
        let budget = CacheBudget::new(100);
        let a = budget.hold(60).expect("fits");
        assert!(budget.hold(50).is_none());
        let b = budget.hold(40).expect("fits exactly");
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
